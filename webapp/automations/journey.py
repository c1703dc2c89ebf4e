"""The journey walker (SPEC §15): where a run goes next in an automation's tree of steps. Pure.

A definition's ``actions`` are nested dicts (``action_tree`` builds them from the rows): ``{"id",
"action_type", "action_order", "is_active", "configuration", "delay_minutes", "conditions"}``, and for the
flow actions ``"branches": {name: [actions]}``. A place in the tree is a ``Location``: the indexes
and branch names that lead to it — ``(2,)`` is the third top-level action, ``(2, "yes", 0)`` the
first action of its ``yes`` branch. A run follows one branch of each flow action it reaches, then
goes on after the flow action in the enclosing list; disabled actions (and their branches) are
passed over.
"""

import hashlib
from collections.abc import Callable, Iterator

FLOW_ACTIONS = ("branch", "split", "wait_until", "exit")
FIXED_BRANCHES = {"branch": ("yes", "no"), "wait_until": ("met", "timed_out"), "exit": ()}
MAX_DEPTH = 5  # a flow action of the top-level list is level 1

Location = tuple


def branch_names(action: dict) -> tuple[str, ...]:
    """The branches a flow action has: fixed ones, or a split's weight names (none for other actions)."""
    if action["action_type"] == "split":
        return tuple((action.get("configuration") or {}).get("weights") or {})
    return FIXED_BRANCHES.get(action["action_type"], ())


def action_tree(rows) -> list[dict]:
    """Action rows (``id``, ``parent_id``, ``branch``, ``action_order``…) as the nested definition."""
    children: dict = {}
    for row in sorted(rows, key=lambda r: (r.action_order, r.id or 0)):
        children.setdefault((row.parent_id, row.branch), []).append(row)

    def nested(parent_id, branch) -> list[dict]:
        actions = []
        for row in children.get((parent_id, branch), []):
            action = {
                "id": row.id,
                "action_type": row.action_type,
                "action_order": row.action_order,
                "is_active": row.is_active,
                "configuration": dict(row.configuration or {}),
                "delay_minutes": row.delay_minutes or 0,
                "conditions": row.conditions or {},
            }
            if row.action_type in FLOW_ACTIONS and row.action_type != "exit":
                action["branches"] = {name: nested(row.id, name) for name in branch_names(action)}
            actions.append(action)
        return actions

    return nested(None, None)


def walk_tree(actions: list[dict], location: Location = ()) -> Iterator[tuple[Location, dict]]:
    """Every action of the tree with its location, depth first in reading order."""
    for index, action in enumerate(actions):
        here = (*location, index)
        yield here, action
        for name, branch in (action.get("branches") or {}).items():
            yield from walk_tree(branch, (*here, name))


def locate(actions: list[dict], action_id: int) -> Location | None:
    return next((location for location, action in walk_tree(actions) if action["id"] == action_id), None)


def action_at(actions: list[dict], location: Location) -> dict:
    action = actions[location[0]]
    for name, index in zip(location[1::2], location[2::2], strict=True):
        action = action["branches"][name][index]
    return action


def _list_at(actions: list[dict], location: Location) -> list[dict]:
    """The list that holds the action at ``location``."""
    return actions if len(location) == 1 else action_at(actions, location[:-2])["branches"][location[-2]]


def next_location(actions: list[dict], after: Location | None, branch: str | None = None) -> Location | None:
    """Where a run goes after the action at ``after`` (None: the start), into ``branch`` when the
    action there is a flow action that chose one; None when the run has reached its end."""
    if after is None:
        return _first_active(actions, ())
    if branch is not None:
        inside = (action_at(actions, after).get("branches") or {}).get(branch) or []
        found = _first_active(inside, (*after, branch))
        if found is not None:
            return found
    location = after
    while location:
        siblings = _list_at(actions, location)
        found = _first_active(siblings[location[-1] + 1 :], location[:-1], offset=location[-1] + 1)
        if found is not None:
            return found
        location = location[:-2]  # the end of a branch: on after its flow action
    return None


def _first_active(actions: list[dict], prefix: Location, offset: int = 0) -> Location | None:
    for index, action in enumerate(actions):
        if action.get("is_active", True):
            return (*prefix, offset + index)
    return None


def split_variant(weights: dict[str, int], lead_id: int, action_id: int) -> str:
    """The variant of a split for a lead: fixed by a hash of the lead and the split, spread as the weights say.

    By lead rather than by run, so that the dry run can name the variant a lead will get and a lead
    that enters the journey again stays in its variant (an A/B test compares people, not visits)."""
    bucket = int.from_bytes(hashlib.sha256(f"{lead_id}:{action_id}".encode()).digest()[:8], "big") % 100
    total = 0
    for name in sorted(weights):  # by name: stored JSON does not keep the order the weights were written in
        total += weights[name]
        if bucket < total:
            return name
    return max(weights)


def decide(action: dict, lead_id: int, rules_hold: Callable[[dict], bool]) -> str | None:
    """The branch a flow action sends a run down as it reaches it: ``branch`` by its rules (checked by
    ``rules_hold``), ``split`` by its weights; None for ``wait_until`` (an event or the timeout
    decides) and ``exit``."""
    config = action.get("configuration") or {}
    if action["action_type"] == "branch":
        return "yes" if rules_hold(config) else "no"
    if action["action_type"] == "split":
        return split_variant(config["weights"], lead_id, action["id"])
    return None


def event_meets_wait(action: dict, event_type: str, rules_hold: Callable[[dict], bool]) -> bool:
    """Does an event of this type end a ``wait_until`` with ``met`` (its rules, if any, holding for the lead)?"""
    config = action.get("configuration") or {}
    return config.get("event_type") == event_type and (not config.get("rules") or rules_hold(config))


def walk(
    actions: list[dict],
    lead_id: int,
    rules_hold: Callable[[dict], bool],
    waits: Callable[[dict], str] = lambda action: "timed_out",
    step_holds: Callable[[dict], bool] = lambda action: True,
    with_disabled: bool = False,
) -> list[tuple[dict, str | None]]:
    """Every action a run would reach, in order, with the branch it takes: the dry run, and the
    walker's tests. ``waits`` says how each wait ends; an action whose own conditions do not hold
    (``step_holds``) is skipped with its branches, as the engine does; disabled actions are listed
    (branch None) only ``with_disabled``."""
    path = []

    def follow(steps: list[dict]) -> bool:  # False once an exit has ended the run
        for action in steps:
            if not action.get("is_active", True) or not step_holds(action):
                if with_disabled or action.get("is_active", True):
                    path.append((action, None))
                continue
            branch = waits(action) if action["action_type"] == "wait_until" else decide(action, lead_id, rules_hold)
            path.append((action, branch))
            if action["action_type"] == "exit":
                return False
            if branch is not None and not follow((action.get("branches") or {}).get(branch) or []):
                return False
        return True

    follow(actions)
    return path
