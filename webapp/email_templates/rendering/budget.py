"""The limits of one render and the budget that enforces them.

Every render (``new_budget()``) counts steps (loop iterations, calls, filter calls, inspected list
items) and output characters against the limits below, with a clock as a backstop. Outside a render
(while Jinja folds constants at compile time) nothing is counted.
"""

import time
from contextvars import ContextVar

from .errors import TemplateRenderError

MAX_TEMPLATE_CHARS = 256_000  # one part's source
MAX_OUTPUT_CHARS = 1_000_000  # everything one email's render emits, macro bodies included
MAX_STRING_CHARS = 1_000_000  # one string built by an operator, filter or method
MAX_LIST_ITEMS = 10_000  # one list built by * or +
MAX_RANGE_ITEMS = 1_000
MAX_STEPS = 50_000  # loop iterations + calls + filter calls + inspected items, per email
MAX_SECONDS = 2.0  # a backstop: the step budget stops a runaway template long before
MAX_CALL_DEPTH = 50  # macros calling macros
MAX_INT_BITS = 4_096  # integers built by * and **
MAX_FORMAT_WIDTH = 1_000  # widths and precisions in format specs, center(), ljust()...


class Budget:
    """What one render has spent so far, and the unknown variables it met."""

    __slots__ = ("steps", "output", "depth", "deadline", "next_check", "missing")

    def __init__(self) -> None:
        self.steps = 0
        self.output = 0
        self.depth = 0
        self.deadline = time.monotonic() + MAX_SECONDS
        self.next_check = 1_000  # the step count at which to look at the limit and the clock
        self.missing: set[str] = set()


# The budget of the render in progress; None while compiling (Jinja folds constants at compile time).
current_budget: ContextVar[Budget | None] = ContextVar("email_render_budget", default=None)


class new_budget:  # used as a function: ``with new_budget() as budget:``
    """A fresh budget for the render run inside the ``with`` block.

    A class rather than a ``@contextmanager`` generator, which costs three times as much: every
    email enters two."""

    __slots__ = ("_token",)

    def __enter__(self) -> Budget:
        budget = Budget()
        self._token = current_budget.set(budget)
        return budget

    def __exit__(self, *exception) -> None:
        current_budget.reset(self._token)


def spend(steps: int = 1) -> None:
    """Charge ``steps`` to the render in progress."""
    budget = current_budget.get()
    if budget is not None:
        budget.steps += steps
        if budget.steps >= budget.next_check:
            check_budget(budget)


def check_budget(budget: Budget) -> None:
    if budget.steps > MAX_STEPS:
        raise TemplateRenderError(f"the template does too much work (more than {MAX_STEPS:,} loop iterations and calls)")
    if time.monotonic() > budget.deadline:
        raise TemplateRenderError(f"the template took longer than {MAX_SECONDS:g} seconds to render")
    budget.next_check = min(budget.steps + 1_000, MAX_STEPS + 1)


def count_output(budget: Budget | None, text: str) -> None:
    if budget is not None:
        budget.output += len(text)
        if budget.output > MAX_OUTPUT_CHARS:
            raise TemplateRenderError(f"the email is larger than {MAX_OUTPUT_CHARS // 1_000_000} MB")


def emit(text: str) -> str:
    """Output written into a buffer (macro bodies, call and filter blocks, ``{% set %}`` blocks),
    counted as it is written; output the template yields is counted by the pipeline's ``run``."""
    count_output(current_budget.get(), text)
    return text


def count_loop_steps(iterable):
    """Wrapped around the iterable of every ``{% for %}`` by the code generator."""
    budget = current_budget.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.steps += 1
        if budget.steps >= budget.next_check:
            check_budget(budget)
        yield item
