"""An organization's send rate limit (SPEC §16): at most ``send_rate_per_second`` messages a second,
spread evenly, whatever the number of workers.

``reserve(organization_id, rate)`` hands out the organization's next send slot: slots are
``1 / rate`` seconds apart and never in the past, counted in Redis by one atomic script (in this
process without Redis). A message whose slot is near waits for it; one whose slot is further away is
put back in the outbox, due at its slot, and a job is scheduled for then (``delivery._claim``): a big
send is throttled, never dropped, and the outbox shows when each message will go.
"""

import threading
import time

from flask import current_app

from ..jobs import redis_connection

MAX_SEND_RATE = 10_000  # messages a second: more is no limit at all
NEAR_SECONDS = 1.0  # a message whose slot is this near waits for it in the job
_SCRIPT = """
local first = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(ARGV[1]))
redis.call('SET', KEYS[1], tostring(first + tonumber(ARGV[2])), 'EX', 3600)
return tostring(first)
"""
_local_slots: dict[int, float] = {}
_local_lock = threading.Lock()


def reserve(organization_id: int, rate: int) -> float:
    """The organization's next send slot (seconds since the epoch), taken."""
    now, step = time.time(), 1 / rate
    if current_app.config.get("REDIS_URL"):
        return float(redis_connection().eval(_SCRIPT, 1, f"leadflow:send-slot:{organization_id}", repr(now), repr(step)))
    with _local_lock:
        first = max(_local_slots.get(organization_id, 0.0), now)
        _local_slots[organization_id] = first + step
        return first


class Pace:
    """One job's sending for one organization: each message waits for its slot, and never goes sooner
    than ``1 / rate`` after the job's previous one (a job that fell behind its slots catches up at
    the rate, not in a burst)."""

    def __init__(self, rate: int | None):
        self.rate, self.slots, self.last = rate, [], 0.0

    def wait(self) -> None:
        slot = self.slots.pop(0) if self.slots else time.time()
        if self.rate:
            slot = max(slot, self.last + 1 / self.rate)
            time.sleep(max(0.0, slot - time.time()))
            self.last = time.time()
