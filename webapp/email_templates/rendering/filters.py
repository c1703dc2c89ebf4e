"""The filters and globals email templates may use, each charging the step budget and bounded in size.

Jinja's filters without ``attr``, ``pprint``, ``random``, ``safe``, ``tojson``, ``urlize``,
``wordwrap`` and ``xmlattr``, so that no filter makes markup: ``{{ ... }}`` is always text. The
filters that could build a large value check its size first; ``default`` also stands in for a lead
field without a value. The only globals are a capped ``range`` and ``dict``.
"""

import functools
from decimal import Decimal

from jinja2 import filters as jinja_filters
from jinja2.runtime import Undefined
from markupsafe import soft_str

from .budget import (
    MAX_FORMAT_WIDTH,
    MAX_LIST_ITEMS,
    MAX_RANGE_ITEMS,
    MAX_STRING_CHARS,
    check_budget,
    count_loop_steps,
    current_budget,
)
from .errors import refuse
from .operators import check_join, check_replace, percent_format
from .values import SCALAR_TYPES, checked_result, checked_size

_PLAIN_FILTERS = (
    "abs dictsort filesizeformat first float groupby int items last list map max min reject rejectattr round select "
    "selectattr sort unique".split()
)
# Filters for which a missing lead value (None) is an empty string rather than "None".
_TEXT_FILTERS = (
    "capitalize count e escape forceescape length lower reverse string striptags title trim truncate upper urlencode wordcount".split()
)


def _checked_filter(function, *, none_as_empty: bool = False):
    """A filter that charges the budget, accepts only plain data and returns a bounded value.

    ``spend``, ``checked_arguments`` and ``checked_result`` written out for plain values: a
    template calls filters more than anything else."""
    takes_environment = getattr(function, "jinja_pass_arg", None) is not None
    first = 1 if takes_environment else 0

    @functools.wraps(function)
    def checked(*args, **kwargs):
        budget = current_budget.get()
        if budget is not None:
            budget.steps += 1
            if budget.steps >= budget.next_check:
                check_budget(budget)
        for value in args[first:] if first else args:
            if type(value) not in SCALAR_TYPES:
                checked_size(value)
        if kwargs:
            checked_size(kwargs)
        if none_as_empty and len(args) > first and args[first] is None:
            args = (*args[:first], "", *args[first + 1 :])
        result = function(*args, **kwargs)
        if type(result) is str and len(result) <= MAX_STRING_CHARS:
            return result
        return checked_result(result)

    return checked


def _default(value, default_value="", boolean=False):
    """``default``, which also stands in for a lead field that has no value (None)."""
    if value is None or isinstance(value, Undefined) or (boolean and not value):
        return default_value
    return value


def _title(value):
    """Jinja's ``title``, without its regular expression for a single word (a tag, a name): one
    that ``isalnum()`` holds none of the characters at which ``title`` starts a word."""
    if type(value) is str and value.isalnum():
        return value[0].upper() + value[1:].lower()
    return jinja_filters.do_title(value)


def _center(value, width=80):
    if width > MAX_FORMAT_WIDTH:
        refuse(f"widths are limited to {MAX_FORMAT_WIDTH:,}")
    return jinja_filters.do_center(value, width)


def _indent(value, width=4, first=False, blank=False):
    prefix_length = len(width) if isinstance(width, str) else width
    if prefix_length > MAX_FORMAT_WIDTH:
        refuse(f"widths are limited to {MAX_FORMAT_WIDTH:,}")
    if len(value) + (value.count("\n") + 1) * prefix_length > MAX_STRING_CHARS:
        refuse(f"the indented text would be larger than {MAX_STRING_CHARS:,} characters")
    return jinja_filters.do_indent(value, width, first, blank)


@jinja_filters.pass_eval_context
def _join(eval_ctx, value, d="", attribute=None):
    items = list(value)
    check_join(str(d), items)
    return jinja_filters.sync_do_join(eval_ctx, items, d, attribute)


@jinja_filters.pass_eval_context
def _replace(eval_ctx, value, old, new, count=None):
    check_replace(soft_str(value), soft_str(old), soft_str(new), count)
    return jinja_filters.do_replace(eval_ctx, value, old, new, count)


def _format(value, *args, **kwargs):
    if args and kwargs:
        refuse("format() takes positional or keyword arguments, not both")
    return percent_format(soft_str(value), kwargs or args)


def _batch(value, linecount, fill_with=None):
    if not 0 < linecount <= MAX_LIST_ITEMS:
        refuse(f"batch() sizes are limited to {MAX_LIST_ITEMS:,}")
    return jinja_filters.do_batch(value, linecount, fill_with)


def _slice(value, slices, fill_with=None):
    if not 0 < slices <= MAX_LIST_ITEMS:
        refuse(f"slice() counts are limited to {MAX_LIST_ITEMS:,}")
    return jinja_filters.sync_do_slice(value, slices, fill_with)


@jinja_filters.pass_environment
def _sum(environment, iterable, attribute=None, start=0):
    if not isinstance(start, (int, float, Decimal)):
        refuse("sum() adds numbers only")
    return jinja_filters.sync_do_sum(environment, iterable, attribute, start)


# The filter the code generator wraps around the iterable of every {% for %}.
LOOP_FILTER = "leadflow_count_loop_steps"


def email_filters() -> dict:
    """The filters of an email sandbox, by name (see the module docstring for which)."""
    plain = {name: jinja_filters.FILTERS[name] for name in _PLAIN_FILTERS}
    plain.update(batch=_batch, slice=_slice, sum=_sum, default=_default, d=_default)
    text = {name: jinja_filters.FILTERS[name] for name in _TEXT_FILTERS}
    text.update(center=_center, indent=_indent, join=_join, replace=_replace, format=_format, title=_title)
    filters = {name: _checked_filter(function) for name, function in plain.items()}
    filters.update({name: _checked_filter(function, none_as_empty=True) for name, function in text.items()})
    filters[LOOP_FILTER] = count_loop_steps
    return filters


def capped_range(*args) -> range:
    """``range()`` in templates, refused above MAX_RANGE_ITEMS items."""
    numbers = range(*args)
    try:
        too_long = len(numbers) > MAX_RANGE_ITEMS
    except OverflowError:
        too_long = True
    if too_long:
        refuse(f"range() is limited to {MAX_RANGE_ITEMS:,} items")
    return numbers
