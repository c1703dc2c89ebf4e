"""The values a template may hold and print: plain data of bounded size.

A template's context is a flat dict of str, int, Decimal, date, None and lists of those. Whatever a
template computes from them is checked here before it is passed on or printed, so that no Python
object reaches the output and no value grows past the limits of ``budget``.
"""

from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from types import GeneratorType

from jinja2.exceptions import SecurityError
from jinja2.runtime import Macro, Undefined, markup_join, str_join
from markupsafe import Markup, escape

from .budget import MAX_LIST_ITEMS, MAX_STRING_CHARS, spend
from .errors import TemplateRenderError

# The types of single plain values; their strings are already bounded by the operators and filters.
SCALAR_TYPES = frozenset({str, Markup, int, bool, float, Decimal, date, datetime, type(None)})
_STRINGS = frozenset({str, Markup})


def checked_size(value, *, macros_allowed: bool = False) -> int:
    """The length of ``value`` as text, refusing anything but plain data and anything too large.

    Lists are walked item by item, each item charged to the step budget.
    """
    if type(value) is str:
        return len(value)
    if type(value) is list and _STRINGS.issuperset(map(type, value)):  # a list of strings (tags): the loop below, unrolled
        spend(len(value))
        size = 2 + 2 * len(value)
        if size <= MAX_STRING_CHARS:
            size += sum(map(len, value))
        if size > MAX_STRING_CHARS:
            raise TemplateRenderError(f"a value is larger than {MAX_STRING_CHARS:,} characters")
        return size
    size = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            size += len(item)
        elif item is None or isinstance(item, bool):
            size += 5
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 2
        elif isinstance(item, (float, Decimal, date, Undefined)):
            size += 32
        elif isinstance(item, (list, tuple, range)):
            spend(len(item))
            size += 2 + 2 * len(item)
            pending.extend(item)
        elif isinstance(item, dict):
            spend(len(item))
            size += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif macros_allowed and isinstance(item, Macro):
            continue
        else:
            raise SecurityError(f"{type(item).__name__!r} values cannot be used in email templates")
        if size > MAX_STRING_CHARS:
            raise TemplateRenderError(f"a value is larger than {MAX_STRING_CHARS:,} characters")
    return size


_LAZY_SEQUENCES = (GeneratorType, type({}.keys()), type({}.values()), type({}.items()))


def checked_arguments(args: tuple, kwargs: dict, *, macros_allowed: bool = False) -> None:
    """Refuse a call whose arguments are not plain data or are too large."""
    for value in args:
        if type(value) not in SCALAR_TYPES:
            checked_size(value, macros_allowed=macros_allowed)
    if kwargs:
        checked_size(kwargs, macros_allowed=macros_allowed)


def checked_result(value):
    """A filter's or method's result, refused if too large; lazy sequences (``map``, ``select``,
    ``dict.items()``) become lists, so that the next filter sees plain data."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise TemplateRenderError(f"a value is larger than {MAX_STRING_CHARS:,} characters")
    elif isinstance(value, _LAZY_SEQUENCES):
        items = list(islice(value, MAX_LIST_ITEMS + 1))
        if len(items) > MAX_LIST_ITEMS:
            raise TemplateRenderError(f"a list is longer than {MAX_LIST_ITEMS:,} items")
        spend(len(items))
        return items
    return value


def displayable(value):
    """What ``{{ value }}`` may print: plain data, with None as an empty string."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if not isinstance(value, (int, float, Decimal, date, Undefined)):
        if not isinstance(value, (list, tuple, dict, range)):
            raise SecurityError(f"{type(value).__name__!r} values cannot be printed")
        checked_size(value)
    return value


def output_html(value) -> Markup:
    """``{{ value }}`` in the HTML part: checked and escaped."""
    return escape(value if type(value) is str else displayable(value))


def output_text(value) -> str:
    """``{{ value }}`` in the subject and text part: checked."""
    return value if type(value) is str else str(displayable(value))


def checked_concat(parts: tuple, autoescape: bool) -> str:
    """The ``~`` operator, with each part checked."""
    parts = [displayable(part) for part in parts]
    for part in parts:
        checked_size(part)
    return checked_result((markup_join if autoescape else str_join)(parts))
