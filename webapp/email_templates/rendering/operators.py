"""Operators, string formatting and methods that check the size of their result before they build it.

``'A' * 10**9``, ``9**(9**9)``, ``'{:>999999999}'.format(1)`` or ``s.replace('', big)`` would
allocate gigabytes in plain Python; here each is refused with a TemplateRenderError first. The
attributes a template may reach are listed per type (``ALLOWED_ATTRIBUTES``); string and date
methods that could build a large value are wrapped.
"""

import re
from datetime import date, datetime
from decimal import Decimal

from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEscapeFormatter, SandboxedFormatter
from markupsafe import Markup

from .budget import MAX_FORMAT_WIDTH, MAX_INT_BITS, MAX_LIST_ITEMS, MAX_STRING_CHARS
from .errors import refuse
from .values import checked_result, checked_size


def multiply(left, right):
    """``*``: repeating a string or list, or multiplying integers, refused past the size limits."""
    if isinstance(left, int) and isinstance(right, (str, list, tuple)):
        left, right = right, left
    if isinstance(left, (str, list, tuple)) and isinstance(right, int):
        limit = MAX_STRING_CHARS if isinstance(left, str) else MAX_LIST_ITEMS
        if len(left) * right > limit:
            refuse(f"repeating a value {right:,} times would be larger than {limit:,}")
    elif isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            refuse("the result of this multiplication is too large")
    return left * right


def add(left, right):
    """``+``: joining strings or lists, refused past the size limits."""
    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        limit = MAX_STRING_CHARS if isinstance(left, str) else MAX_LIST_ITEMS
        if len(left) + len(right) > limit:
            refuse(f"the result of this addition would be larger than {limit:,}")
    return left + right


def power(base, exponent):
    """``**``, refused when the integer it builds would be too large."""
    if isinstance(base, (int, Decimal)) and isinstance(exponent, (int, Decimal)) and abs(base) > 1:
        bits = abs(int(base)).bit_length() * max(int(exponent), 0)
        if bits > MAX_INT_BITS:
            refuse("the result of this power is too large")
    return base**exponent


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")


def check_width(number: str) -> None:
    """Refuse a width or precision (of a format spec, ``%`` formatting, ``strftime``) past the limit."""
    if number == "*":
        refuse("'*' widths are not supported in % formatting")
    if number and (len(number) > 6 or int(number) > MAX_FORMAT_WIDTH):
        refuse(f"format widths and precisions are limited to {MAX_FORMAT_WIDTH:,}")


def percent_format(text: str, values):
    """``text % values``, with widths and precisions limited."""
    for width, precision in _PERCENT_SPEC.findall(text):
        check_width(width)
        check_width(precision)
    checked_size(values)
    return checked_result(text % values)


def modulo(left, right):
    """``%``: formatting for strings, the remainder for numbers."""
    if isinstance(left, str):
        return percent_format(left, right)
    return left % right


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox (attributes through the environment) with widths limited."""

    def format_field(self, value, format_spec: str):
        for number in re.findall(r"\d+", format_spec):
            check_width(number)
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    pass


_STR_ATTRIBUTES = frozenset(
    "capitalize casefold center count endswith find format index isalnum isalpha isdecimal isdigit "
    "islower isnumeric isspace istitle isupper join ljust lower lstrip partition removeprefix "
    "removesuffix replace rfind rindex rjust rpartition rsplit rstrip split splitlines startswith "
    "strip swapcase title upper zfill".split()
)
_DATE_ATTRIBUTES = frozenset("year month day weekday isoweekday isoformat strftime".split())
_ALLOWED_ATTRIBUTES = (
    (str, _STR_ATTRIBUTES),
    (datetime, _DATE_ATTRIBUTES | {"hour", "minute", "second", "date"}),
    (date, _DATE_ATTRIBUTES),
    (dict, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple), frozenset({"count", "index"})),
    ((int, float, Decimal), frozenset()),
    (
        LoopContext,
        frozenset("index index0 revindex revindex0 first last length depth depth0 previtem nextitem cycle changed".split()),
    ),
)


def allowed_attributes(obj) -> frozenset | None:
    """The attributes a template may reach on ``obj``; None for types that have none."""
    for types, names in _ALLOWED_ATTRIBUTES:
        if isinstance(obj, types):
            return names
    return None


def check_replace(text: str, old: str, new: str, count: int | None) -> None:
    """Refuse a ``replace`` whose result would be larger than the limit."""
    if len(new) > len(old):
        occurrences = len(text) + 1 if old == "" else text.count(old)
        if count is not None and count >= 0:
            occurrences = min(occurrences, count)
        if len(text) + occurrences * (len(new) - len(old)) > MAX_STRING_CHARS:
            refuse(f"the replaced text would be larger than {MAX_STRING_CHARS:,} characters")


def check_join(separator: str, items: list) -> None:
    """Refuse a ``join`` whose result would be larger than the limit."""
    size = len(separator) * max(len(items) - 1, 0) + sum(checked_size(item) for item in items)
    if size > MAX_STRING_CHARS:
        refuse(f"the joined text would be larger than {MAX_STRING_CHARS:,} characters")


_STRFTIME_WIDTH = re.compile(r"%[-_0^#]*(\d+)")


def bounded_date_method(moment: date, name: str):
    """The method ``name`` of a date, with field widths in ``strftime`` limited."""
    method = getattr(moment, name)
    if name != "strftime":
        return method

    def strftime(format: str) -> str:
        for width in _STRFTIME_WIDTH.findall(str(format)):
            check_width(width)
        return method(format)

    return strftime


def bounded_str_method(environment, text: str, name: str):
    """The method ``name`` of ``text``, wrapped when its result could be much larger than ``text``."""
    method = getattr(text, name)
    if name == "format":
        formatter = _BoundedEscapeFormatter(environment, escape=text.escape) if isinstance(text, Markup) else _BoundedFormatter(environment)

        def format(*args, **kwargs):
            checked_size(args)
            checked_size(kwargs)
            return checked_result(type(text)(formatter.vformat(text, args, kwargs)))

        return format
    if name in ("center", "ljust", "rjust", "zfill"):

        def pad(width, *args):
            if isinstance(width, int) and width > max(len(text), MAX_FORMAT_WIDTH):
                refuse(f"widths are limited to {MAX_FORMAT_WIDTH:,}")
            return method(width, *args)

        return pad
    if name == "join":

        def join(items):
            items = list(items)
            check_join(text, items)
            return method(items)

        return join
    if name == "replace":

        def replace(old, new, count=-1):
            check_replace(text, str(old), str(new), count)
            return method(old, new, count)

        return replace
    return method
