"""The email template renderer (SPEC §6, §13): untrusted Jinja in, a subject, HTML and text out.

Pure: plain arguments in, a ``RenderedEmail`` out; no Flask app, request or database.

Templates are written by an organization's users, so they run in a sandbox:

- the context is a flat dict of plain values (str, int, Decimal, date, None, lists of those);
  attributes are reachable only on those values, only from a short list (``first_name.upper()``,
  ``today.year``), never an underscore name; ``include``/``import``/``extends``, ``self``,
  ``{% autoescape %}`` and recursive loops are refused when the template is compiled;
- globals are ``range`` (at most 1,000 items) and ``dict``; filters are a curated list (no ``safe``,
  ``attr``, ``tojson``, ``urlize``, ``random``); lead data is always escaped in the HTML part;
- every render has a budget: 50,000 steps (loop iterations, calls, filter calls, inspected list
  items), 1 MB of output (macros included) and 2 seconds; operators, filters and methods that could
  build a huge value (``'A' * 10**9``, ``9**(9**9)``, ``'{:>999999999}'``, ``s.replace('', big)``)
  check the size *before* they allocate.

The HTML part may print values in text and in quoted attribute values only: ``<a href={{ url }}>``
or ``<{{ tag }}>`` would let a lead value add attributes or tags, so such a template is refused
(``check_html_placement``, part of ``validate_template``).

Every failure is a ``TemplateRenderError`` naming the part and line.

A missing lead value (``None``) renders as an empty string, counts as missing for ``default``
(``{{ first_name | default("there") }}``) and behaves as ``""`` in string filters and methods.
An unknown variable renders empty too and is listed in ``RenderedEmail.missing_variables``.

The HTML part's own ``<style>`` rules are inlined into the source once per template version when
that is exact (see ``_inline_css_into_source``), otherwise into every rendered email; the inliner
never loads a stylesheet. ``javascript:``/``vbscript:`` URLs in links are replaced by ``#``. When
the text part is empty it is derived from the rendered HTML (``html_to_text``).
"""
import functools
import re
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from itertools import islice
from types import GeneratorType

import css_inline
from jinja2 import TemplateSyntaxError, nodes
from jinja2 import filters as jinja_filters
from jinja2.compiler import CodeGenerator, find_undeclared
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext, Macro, Undefined, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import missing
from markupsafe import Markup, escape, soft_str

# -- Limits ----------------------------------------------------------------------------------------

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

LEAD_FIELDS = (
    "first_name", "last_name", "email", "phone", "status", "priority", "source", "insurance_type",
    "state", "city", "value_estimate", "tags", "created_at",
)
TEMPLATE_FIELDS = ("subject", "body_html", "body_text")
_CACHE_SIZE = 256


class TemplateRenderError(Exception):
    """A template that cannot be compiled or rendered; the message says why, with the line if known."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None):
        self.message = message
        self.field = field
        self.line = line
        super().__init__(message)

    def __str__(self) -> str:
        where = ", ".join(part for part in (self.field, self.line and f"line {self.line}") if part)
        return f"{where}: {self.message}" if where else self.message

    def as_error(self) -> dict:
        """The error as the ``{field, message}`` item that validation lists carry."""
        message = f"line {self.line}: {self.message}" if self.line else self.message
        return {"field": self.field, "message": message}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    missing_variables: list[str] = field(default_factory=list)


# -- The budget of one render ----------------------------------------------------------------------


class _Budget:
    __slots__ = ("steps", "output", "depth", "deadline", "next_check", "missing")

    def __init__(self) -> None:
        self.steps = 0
        self.output = 0
        self.depth = 0
        self.deadline = time.monotonic() + MAX_SECONDS
        self.next_check = 1_000  # the step count at which to look at the limit and the clock
        self.missing: set[str] = set()


# The budget of the render in progress; None while compiling (Jinja folds constants at compile time).
_current_budget: ContextVar[_Budget | None] = ContextVar("email_render_budget", default=None)


def _spend(steps: int = 1) -> None:
    budget = _current_budget.get()
    if budget is not None:
        budget.steps += steps
        if budget.steps >= budget.next_check:
            _check_budget(budget)


def _check_budget(budget: _Budget) -> None:
    if budget.steps > MAX_STEPS:
        raise TemplateRenderError(
            f"the template does too much work (more than {MAX_STEPS:,} loop iterations and calls)"
        )
    if time.monotonic() > budget.deadline:
        raise TemplateRenderError(f"the template took longer than {MAX_SECONDS:g} seconds to render")
    budget.next_check = min(budget.steps + 1_000, MAX_STEPS + 1)


def _count_output(budget: _Budget | None, text: str) -> None:
    if budget is not None:
        budget.output += len(text)
        if budget.output > MAX_OUTPUT_CHARS:
            raise TemplateRenderError(f"the email is larger than {MAX_OUTPUT_CHARS // 1_000_000} MB")


def _emit(text: str) -> str:
    """Output written into a buffer (macro bodies, call and filter blocks, ``{% set %}`` blocks),
    counted as it is written; output the template yields is counted by ``_run``."""
    _count_output(_current_budget.get(), text)
    return text


def _count_loop_steps(iterable):
    """Wrapped around the iterable of every ``{% for %}`` by the code generator."""
    budget = _current_budget.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.steps += 1
        if budget.steps >= budget.next_check:
            _check_budget(budget)
        yield item


# -- Values a template may hold --------------------------------------------------------------------


# The types of single plain values; their strings are already bounded by the operators and filters.
_SCALAR_TYPES = frozenset({str, Markup, int, bool, float, Decimal, date, datetime, type(None)})


def _checked_size(value, *, macros_allowed: bool = False) -> int:
    """The length of ``value`` as text, refusing anything but plain data and anything too large.

    Lists are walked item by item, each item charged to the step budget.
    """
    if type(value) is str:
        return len(value)
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
            _spend(len(item))
            size += 2 + 2 * len(item)
            pending.extend(item)
        elif isinstance(item, dict):
            _spend(len(item))
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


def _checked_arguments(args: tuple, kwargs: dict, *, macros_allowed: bool = False) -> None:
    for value in args:
        if type(value) not in _SCALAR_TYPES:
            _checked_size(value, macros_allowed=macros_allowed)
    if kwargs:
        _checked_size(kwargs, macros_allowed=macros_allowed)


def _checked_result(value):
    """A filter's or method's result, refused if too large; lazy sequences (``map``, ``select``,
    ``dict.items()``) become lists, so that the next filter sees plain data."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise TemplateRenderError(f"a value is larger than {MAX_STRING_CHARS:,} characters")
    elif isinstance(value, _LAZY_SEQUENCES):
        items = list(islice(value, MAX_LIST_ITEMS + 1))
        if len(items) > MAX_LIST_ITEMS:
            raise TemplateRenderError(f"a list is longer than {MAX_LIST_ITEMS:,} items")
        _spend(len(items))
        return items
    return value


def _displayable(value):
    """What ``{{ value }}`` may print: plain data, with None as an empty string."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if not isinstance(value, (int, float, Decimal, date, Undefined)):
        if not isinstance(value, (list, tuple, dict, range)):
            raise SecurityError(f"{type(value).__name__!r} values cannot be printed")
        _checked_size(value)
    return value


def _output_html(value) -> Markup:
    """``{{ value }}`` in the HTML part: checked and escaped."""
    return escape(value if type(value) is str else _displayable(value))


def _output_text(value) -> str:
    """``{{ value }}`` in the subject and text part: checked."""
    return value if type(value) is str else str(_displayable(value))


def _concat(parts: tuple, autoescape: bool) -> str:
    """The ``~`` operator, with each part checked."""
    parts = [_displayable(part) for part in parts]
    for part in parts:
        _checked_size(part)
    return _checked_result((markup_join if autoescape else str_join)(parts))


class _RecordingUndefined(Undefined):
    """An unknown variable: renders as an empty string and is noted so that previews can list it."""

    __slots__ = ()

    def _note_missing(self) -> None:
        budget = _current_budget.get()
        if budget is not None and self._undefined_obj is missing and self._undefined_name:
            budget.missing.add(self._undefined_name)

    def __str__(self) -> str:
        self._note_missing()
        return ""

    def __iter__(self):
        self._note_missing()
        return iter(())

    def __bool__(self) -> bool:
        self._note_missing()
        return False

    def __len__(self) -> int:
        self._note_missing()
        return 0


# -- Operators, formatting and methods that check sizes before they allocate -----------------------


def _refuse(message: str):
    raise TemplateRenderError(message)


def _multiply(left, right):
    if isinstance(left, int) and isinstance(right, (str, list, tuple)):
        left, right = right, left
    if isinstance(left, (str, list, tuple)) and isinstance(right, int):
        limit = MAX_STRING_CHARS if isinstance(left, str) else MAX_LIST_ITEMS
        if len(left) * right > limit:
            _refuse(f"repeating a value {right:,} times would be larger than {limit:,}")
    elif isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            _refuse("the result of this multiplication is too large")
    return left * right


def _add(left, right):
    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        limit = MAX_STRING_CHARS if isinstance(left, str) else MAX_LIST_ITEMS
        if len(left) + len(right) > limit:
            _refuse(f"the result of this addition would be larger than {limit:,}")
    return left + right


def _power(base, exponent):
    if isinstance(base, (int, Decimal)) and isinstance(exponent, (int, Decimal)) and abs(base) > 1:
        bits = abs(int(base)).bit_length() * max(int(exponent), 0)
        if bits > MAX_INT_BITS:
            _refuse("the result of this power is too large")
    return base**exponent


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")


def _check_width(number: str) -> None:
    if number == "*":
        _refuse("'*' widths are not supported in % formatting")
    if number and (len(number) > 6 or int(number) > MAX_FORMAT_WIDTH):
        _refuse(f"format widths and precisions are limited to {MAX_FORMAT_WIDTH:,}")


def _percent_format(text: str, values):
    for width, precision in _PERCENT_SPEC.findall(text):
        _check_width(width)
        _check_width(precision)
    _checked_size(values)
    return _checked_result(text % values)


def _modulo(left, right):
    if isinstance(left, str):
        return _percent_format(left, right)
    return left % right


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox (attributes through the environment) with widths limited."""

    def format_field(self, value, format_spec: str):
        for number in re.findall(r"\d+", format_spec):
            _check_width(number)
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
        frozenset(
            "index index0 revindex revindex0 first last length depth depth0 previtem nextitem "
            "cycle changed".split()
        ),
    ),
)


def _allowed_attributes(obj) -> frozenset | None:
    for types, names in _ALLOWED_ATTRIBUTES:
        if isinstance(obj, types):
            return names
    return None


def _check_replace(text: str, old: str, new: str, count: int | None) -> None:
    if len(new) > len(old):
        occurrences = len(text) + 1 if old == "" else text.count(old)
        if count is not None and count >= 0:
            occurrences = min(occurrences, count)
        if len(text) + occurrences * (len(new) - len(old)) > MAX_STRING_CHARS:
            _refuse(f"the replaced text would be larger than {MAX_STRING_CHARS:,} characters")


def _check_join(separator: str, items: list) -> None:
    size = len(separator) * max(len(items) - 1, 0) + sum(_checked_size(item) for item in items)
    if size > MAX_STRING_CHARS:
        _refuse(f"the joined text would be larger than {MAX_STRING_CHARS:,} characters")


_STRFTIME_WIDTH = re.compile(r"%[-_0^#]*(\d+)")


def _bounded_date_method(moment: date, name: str):
    """The method ``name`` of a date, with field widths in ``strftime`` limited."""
    method = getattr(moment, name)
    if name != "strftime":
        return method

    def strftime(format: str) -> str:
        for width in _STRFTIME_WIDTH.findall(str(format)):
            _check_width(width)
        return method(format)

    return strftime


def _bounded_str_method(environment, text: str, name: str):
    """The method ``name`` of ``text``, wrapped when its result could be much larger than ``text``."""
    method = getattr(text, name)
    if name == "format":
        formatter = (
            _BoundedEscapeFormatter(environment, escape=text.escape)
            if isinstance(text, Markup)
            else _BoundedFormatter(environment)
        )

        def format(*args, **kwargs):
            _checked_size(args)
            _checked_size(kwargs)
            return _checked_result(type(text)(formatter.vformat(text, args, kwargs)))

        return format
    if name in ("center", "ljust", "rjust", "zfill"):

        def pad(width, *args):
            if isinstance(width, int) and width > max(len(text), MAX_FORMAT_WIDTH):
                _refuse(f"widths are limited to {MAX_FORMAT_WIDTH:,}")
            return method(width, *args)

        return pad
    if name == "join":

        def join(items):
            items = list(items)
            _check_join(text, items)
            return method(items)

        return join
    if name == "replace":

        def replace(old, new, count=-1):
            _check_replace(text, str(old), str(new), count)
            return method(old, new, count)

        return replace
    return method


# -- Filters ---------------------------------------------------------------------------------------

_PLAIN_FILTERS = (
    "abs dictsort filesizeformat first float groupby int items last list map max min reject rejectattr round select "
    "selectattr sort unique".split()
)
# Filters for which a missing lead value (None) is an empty string rather than "None".
_TEXT_FILTERS = (
    "capitalize count e escape forceescape length lower reverse string striptags title trim truncate upper urlencode "
    "wordcount".split()
)


def _checked_filter(function, *, none_as_empty: bool = False):
    """A filter that charges the budget, accepts only plain data and returns a bounded value."""
    takes_environment = getattr(function, "jinja_pass_arg", None) is not None
    first = 1 if takes_environment else 0

    @functools.wraps(function)
    def checked(*args, **kwargs):
        _spend()
        _checked_arguments(args[first:] if first else args, kwargs)
        if none_as_empty and len(args) > first and args[first] is None:
            args = (*args[:first], "", *args[first + 1 :])
        return _checked_result(function(*args, **kwargs))

    return checked


def _default(value, default_value="", boolean=False):
    """``default``, which also stands in for a lead field that has no value (None)."""
    if value is None or isinstance(value, Undefined) or (boolean and not value):
        return default_value
    return value


def _center(value, width=80):
    if width > MAX_FORMAT_WIDTH:
        _refuse(f"widths are limited to {MAX_FORMAT_WIDTH:,}")
    return jinja_filters.do_center(value, width)


def _indent(value, width=4, first=False, blank=False):
    prefix_length = len(width) if isinstance(width, str) else width
    if prefix_length > MAX_FORMAT_WIDTH:
        _refuse(f"widths are limited to {MAX_FORMAT_WIDTH:,}")
    if len(value) + (value.count("\n") + 1) * prefix_length > MAX_STRING_CHARS:
        _refuse(f"the indented text would be larger than {MAX_STRING_CHARS:,} characters")
    return jinja_filters.do_indent(value, width, first, blank)


@jinja_filters.pass_eval_context
def _join(eval_ctx, value, d="", attribute=None):
    items = list(value)
    _check_join(str(d), items)
    return jinja_filters.sync_do_join(eval_ctx, items, d, attribute)


@jinja_filters.pass_eval_context
def _replace(eval_ctx, value, old, new, count=None):
    _check_replace(soft_str(value), soft_str(old), soft_str(new), count)
    return jinja_filters.do_replace(eval_ctx, value, old, new, count)


def _format(value, *args, **kwargs):
    if args and kwargs:
        _refuse("format() takes positional or keyword arguments, not both")
    return _percent_format(soft_str(value), kwargs or args)


def _batch(value, linecount, fill_with=None):
    if not 0 < linecount <= MAX_LIST_ITEMS:
        _refuse(f"batch() sizes are limited to {MAX_LIST_ITEMS:,}")
    return jinja_filters.do_batch(value, linecount, fill_with)


def _slice(value, slices, fill_with=None):
    if not 0 < slices <= MAX_LIST_ITEMS:
        _refuse(f"slice() counts are limited to {MAX_LIST_ITEMS:,}")
    return jinja_filters.sync_do_slice(value, slices, fill_with)


@jinja_filters.pass_environment
def _sum(environment, iterable, attribute=None, start=0):
    if not isinstance(start, (int, float, Decimal)):
        _refuse("sum() adds numbers only")
    return jinja_filters.sync_do_sum(environment, iterable, attribute, start)


_LOOP_FILTER = "leadflow_count_loop_steps"


def _email_filters() -> dict:
    """Jinja's filters without attr, pprint, random, safe, tojson, urlize, wordwrap and xmlattr (so no
    filter makes markup: ``{{ ... }}`` is always text); the ones that could build a large value check
    its size first."""
    plain = {name: jinja_filters.FILTERS[name] for name in _PLAIN_FILTERS}
    plain.update(batch=_batch, slice=_slice, sum=_sum, default=_default, d=_default)
    text = {name: jinja_filters.FILTERS[name] for name in _TEXT_FILTERS}
    text.update(center=_center, indent=_indent, join=_join, replace=_replace, format=_format)
    filters = {name: _checked_filter(function) for name, function in plain.items()}
    filters.update({name: _checked_filter(function, none_as_empty=True) for name, function in text.items()})
    filters[_LOOP_FILTER] = _count_loop_steps
    return filters


def _capped_range(*args) -> range:
    numbers = range(*args)
    try:
        too_long = len(numbers) > MAX_RANGE_ITEMS
    except OverflowError:
        too_long = True
    if too_long:
        _refuse(f"range() is limited to {MAX_RANGE_ITEMS:,} items")
    return numbers


# -- The sandboxed environment ---------------------------------------------------------------------

_REFUSED_NODES = (
    (nodes.Extends, "{% extends %}"),
    (nodes.Include, "{% include %}"),
    (nodes.Import, "{% import %}"),
    (nodes.FromImport, "{% from ... import %}"),
    (nodes.EvalContextModifier, "{% autoescape %}"),
)


class _EmailCodeGenerator(CodeGenerator):
    """Jinja's code generator, plus: unsupported tags fail to compile, every ``for`` loop draws on the
    step budget, every printed value is checked (and counted when written into a buffer), and ``~``
    is size-checked."""

    _counting = False  # whether the Output node being generated writes into a buffer

    def visit_Template(self, node: nodes.Template, frame=None) -> None:
        for node_type, tag in _REFUSED_NODES:
            found = node.find(node_type)
            if found is not None:
                self.fail(f"{tag} is not available in email templates", found.lineno)
        if "self" in find_undeclared(node.body, ("self",)):
            name = next(n for n in node.find_all(nodes.Name) if n.name == "self")
            self.fail("'self' is not available in email templates", name.lineno)
        for loop in list(node.find_all(nodes.For)):
            if loop.recursive:
                self.fail("recursive loops are not available in email templates", loop.lineno)
            loop.iter = nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)

    def visit_Output(self, node: nodes.Output, frame) -> None:
        self._counting = frame.buffer is not None
        super().visit_Output(node, frame)

    def _output_const_repr(self, group) -> str:
        text = super()._output_const_repr(group)
        return f"environment.emit({text})" if self._counting else text

    def _output_child_pre(self, node, frame, finalize) -> None:
        # {% autoescape %} is refused, so whether to escape is known here (eval_ctx is never volatile).
        if self._counting:
            self.write("environment.emit(")
        self.write("environment.output_html(" if frame.eval_ctx.autoescape else "environment.output_text(")

    def _output_child_post(self, node, frame, finalize) -> None:
        self.write(")")
        if self._counting:
            self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {frame.eval_ctx.autoescape!r})")


class EmailSandbox(SandboxedEnvironment):
    """The sandbox email templates render in (see the module docstring for what it allows)."""

    code_generator_class = _EmailCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    emit = staticmethod(_emit)
    output_html = staticmethod(_output_html)
    output_text = staticmethod(_output_text)
    checked_concat = staticmethod(_concat)

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(autoescape=autoescape, undefined=_RecordingUndefined, cache_size=0)
        for name in ("lipsum", "cycler", "joiner", "namespace"):
            self.globals.pop(name, None)
        self.globals["range"] = _capped_range
        self.filters = _email_filters()
        self.binop_table.update({"*": _multiply, "+": _add, "**": _power, "%": _modulo})

    def is_safe_attribute(self, obj, attr: str, value) -> bool:
        return not attr.startswith("_") and attr in (_allowed_attributes(obj) or ())

    def getattr(self, obj, attribute: str):
        if attribute.startswith("_"):
            raise SecurityError(f"access to attribute {attribute!r} is not allowed")
        if isinstance(obj, Undefined):
            return obj  # {{ unknown.name }} renders empty and reports "unknown"
        if obj is None:
            obj = ""  # a lead field without a value behaves as an empty string
        allowed = _allowed_attributes(obj)
        if allowed is None:
            raise SecurityError(f"attributes of {type(obj).__name__!r} values are not available")
        if attribute in allowed:
            if isinstance(obj, str):
                return _bounded_str_method(self, obj, attribute)
            if isinstance(obj, date):
                return _bounded_date_method(obj, attribute)
            return getattr(obj, attribute)
        if isinstance(obj, dict):
            return obj[attribute] if attribute in obj else self.undefined(obj=obj, name=attribute)
        raise SecurityError(f"{type(obj).__name__}.{attribute} is not available in email templates")

    def getitem(self, obj, argument):
        if isinstance(obj, Undefined):
            return obj
        if obj is None:
            return self.undefined(obj=obj, name=argument)
        if isinstance(obj, (dict, list, tuple, str, range)):
            try:
                return obj[argument]
            except (TypeError, LookupError):
                if isinstance(argument, str) and not isinstance(obj, dict):
                    return self.getattr(obj, argument)
                return self.undefined(obj=obj, name=argument)
        if isinstance(argument, str):
            return self.getattr(obj, argument)
        raise SecurityError(f"{type(obj).__name__!r} values cannot be indexed")

    def call(self, context, obj, /, *args, **kwargs):
        if isinstance(obj, Undefined):
            return obj  # {{ unknown() }} renders empty and reports "unknown"
        _spend()
        _checked_arguments(args, kwargs, macros_allowed=True)
        if not self.is_safe_callable(obj):
            raise SecurityError(f"{obj!r} is not safely callable")
        budget = _current_budget.get()
        if budget is None:
            return _checked_result(context.call(obj, *args, **kwargs))
        if budget.depth >= MAX_CALL_DEPTH:
            _refuse(f"macros are nested more than {MAX_CALL_DEPTH} deep")
        budget.depth += 1
        try:
            return _checked_result(context.call(obj, *args, **kwargs))
        finally:
            budget.depth -= 1


_HTML_ENV = EmailSandbox(autoescape=True)
_PLAIN_ENV = EmailSandbox(autoescape=False)


# -- Public API ------------------------------------------------------------------------------------


def check_syntax(source: str) -> str | None:
    """None if ``source`` compiles, else a message such as ``line 3: unexpected '}'``."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return f"the template is longer than {MAX_TEMPLATE_CHARS:,} characters"
    try:
        _PLAIN_ENV.compile(source)
    except TemplateSyntaxError as error:
        return f"line {error.lineno}: {error.message}"
    except RecursionError:
        return "the template is nested too deeply"
    return None


def validate_template(subject: str, body_html: str, body_text: str) -> list[dict]:
    """The syntax errors of a template's three parts, as ``[{field, message}]``."""
    errors = []
    for name, source in zip(TEMPLATE_FIELDS, (subject, body_html, body_text), strict=True):
        message = check_syntax(source or "")
        if not message and name == "body_html":
            message = check_html_placement(source or "")
        if message:
            errors.append({"field": name, "message": message})
    return errors


_OUTPUT_IN_TAG = "\ue000"  # stands for a {{ ... }} while checking where the HTML part prints values
_STATEMENT_IN_TAG = "\ue002"  # stands for a {% ... %} or {# ... #}
_TAG_NAME_FROM_OUTPUT = re.compile("<[/!]?(?:[A-Za-z][^ \t\n\f\r/>]*)?\ue000")
_ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")


def check_html_placement(body_html: str) -> str | None:
    """None, or a message if the HTML part prints a value where escaping cannot keep lead data from
    becoming markup: in a tag name, as an attribute name or in an unquoted attribute value
    (``<a href={{ url }}>`` with a value holding a space and ``onclick=...``). Quoted attribute
    values and text are safe."""
    misplaced = _misplaced_output(body_html)
    return f"line {misplaced[0]}: {misplaced[1]}" if misplaced else None


def _misplaced_output(body_html: str) -> tuple[int, str] | None:
    def hold(match: re.Match) -> str:
        mark = _OUTPUT_IN_TAG if match.group().startswith("{{") else _STATEMENT_IN_TAG
        return mark + "\n" * match.group().count("\n")  # keep the line numbers

    marked = _JINJA_CONSTRUCT.sub(hold, body_html)
    tag_name = _TAG_NAME_FROM_OUTPUT.search(marked)
    if tag_name:
        return marked.count("\n", 0, tag_name.start()) + 1, "a tag name cannot come from {{ ... }}"
    finder = _UnquotedOutputFinder()
    try:
        finder.feed(marked)
        finder.close()
    except AssertionError:  # a malformed <![ section: what came before it was checked
        pass
    if finder.line is None:
        return None
    return finder.line, 'inside a tag, {{ ... }} may only be used in a quoted attribute value, as in href="{{ unsubscribe_url }}"'


class _UnquotedOutputFinder(HTMLParser):
    """The line of the first start tag that prints a value outside a quoted attribute value."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.line: int | None = None

    def handle_starttag(self, tag, attrs):
        if self.line is not None:
            return
        raw = self.get_starttag_text() or ""
        after_name = raw[1 + len(tag) :].rstrip(">")
        for name, value in _ATTRIBUTE.findall(after_name):
            if _OUTPUT_IN_TAG in name or (_OUTPUT_IN_TAG in value and value[:1] not in ("'", '"')):
                self.line = self.getpos()[0]
                return

    handle_startendtag = handle_starttag


def build_context(
    lead: dict, organization_name: str, agent: dict | None, unsubscribe_url: str, today: date
) -> dict:
    """The variables of SPEC §6 for one lead: its fields, full_name, company_name, agent_name,
    agent_email, unsubscribe_url and today. ``agent`` is the assigned user as ``{name, email}``."""
    context = {name: lead.get(name) for name in LEAD_FIELDS}
    context["tags"] = list(lead.get("tags") or [])
    context["full_name"] = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
    context["company_name"] = organization_name
    context["agent_name"] = (agent.get("name") or agent.get("email")) if agent else None
    context["agent_email"] = agent.get("email") if agent else None
    context["unsubscribe_url"] = unsubscribe_url
    context["today"] = today
    return context


def sample_context(organization_name: str = "Acme Insurance", today: date | None = None) -> dict:
    """Plausible variables for previewing a template without a lead."""
    lead = {
        "first_name": "Jamie", "last_name": "Rivera", "email": "jamie.rivera@example.com",
        "phone": "+1 512 555 0142", "status": "qualified", "priority": "high", "source": "website",
        "insurance_type": "auto", "state": "TX", "city": "Austin",
        "value_estimate": Decimal("1850.00"), "tags": ["multi-car", "homeowner"],
        "created_at": datetime(2024, 3, 4, 15, 30, tzinfo=timezone.utc),
    }
    agent = {"name": "Alex Morgan", "email": "alex.morgan@example.com"}
    unsubscribe_url = "https://example.com/unsubscribe/sample"
    return build_context(lead, organization_name, agent, unsubscribe_url, today or date.today())


def render_email(
    subject: str, body_html: str, body_text: str, context: dict, cache_key=None
) -> RenderedEmail:
    """Render a template's three parts for ``context`` (from ``build_context`` or ``sample_context``).

    ``cache_key`` identifies the template version, e.g. ``(template_id, version)``: compiled parts
    are cached under it (and under the source itself when it is None). Raises TemplateRenderError.
    """
    _check_context(context)
    variables = {**_PLAIN_ENV.globals, **context}  # shared by the three parts' contexts
    with _new_budget() as budget:
        rendered_subject = " ".join(_render_part("subject", subject, variables, cache_key).split()) if subject else ""
        html = _render_part("body_html", body_html, variables, cache_key) if body_html.strip() else ""
        if body_text.strip():
            text = _render_part("body_text", body_text, variables, cache_key)
        else:
            text = html_to_text(html)
    return RenderedEmail(rendered_subject, html, text, sorted(budget.missing))


def render_text(source: str, context: dict, cache_key=None, *, field: str = "message") -> str:
    """Render one plain-text template (a notification message, say) in the same sandbox, unescaped.

    Errors are TemplateRenderErrors naming ``field``.
    """
    _check_context(context)
    with _new_budget():
        return _render_part(field, source, {**_PLAIN_ENV.globals, **context}, cache_key)


@contextmanager
def _new_budget():
    budget = _Budget()
    token = _current_budget.set(budget)
    try:
        yield budget
    finally:
        _current_budget.reset(token)


def _check_context(context: dict) -> None:
    for name, value in context.items():
        try:
            if type(value) not in _SCALAR_TYPES:
                _checked_size(value)
        except (SecurityError, TemplateRenderError) as error:
            raise TypeError(f"context variable {name!r} is not plain data: {error}") from None


# -- Compiling and caching -------------------------------------------------------------------------


@dataclass(frozen=True)
class _CompiledPart:
    source: str
    template: Template
    inline_css: bool  # inline the rendered HTML's <style> rules at every render
    # When the CSS was inlined into the source: the template as written, to locate errors by line.
    as_written: Template | None = None


_compiled_parts: OrderedDict = OrderedDict()
_compiled_parts_lock = threading.Lock()


def _compiled_part(name: str, source: str, cache_key) -> _CompiledPart:
    key = (name, source) if cache_key is None else (name, cache_key)
    with _compiled_parts_lock:
        part = _compiled_parts.get(key)
        if part is not None and part.source == source:
            _compiled_parts.move_to_end(key)
            return part
    part = _compile_part(name, source)
    with _compiled_parts_lock:
        _compiled_parts[key] = part
        _compiled_parts.move_to_end(key)
        while len(_compiled_parts) > _CACHE_SIZE:
            _compiled_parts.popitem(last=False)
    return part


def _compile_part(name: str, source: str) -> _CompiledPart:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateRenderError(f"the template is longer than {MAX_TEMPLATE_CHARS:,} characters", field=name)
    environment = _HTML_ENV if name == "body_html" else _PLAIN_ENV
    try:
        template = environment.from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateRenderError(error.message or "syntax error", field=name, line=error.lineno) from None
    except RecursionError:
        raise TemplateRenderError("the template is nested too deeply", field=name) from None
    misplaced = _misplaced_output(source) if name == "body_html" else None
    if misplaced:
        raise TemplateRenderError(misplaced[1], field=name, line=misplaced[0])
    if name != "body_html" or not _STYLE_TAG.search(source):
        return _CompiledPart(source, template, inline_css=False)
    inlined = _inline_css_into_source(source)
    if inlined is not None:
        try:
            return _CompiledPart(source, environment.from_string(inlined), False, as_written=template)
        except TemplateSyntaxError:
            pass
    return _CompiledPart(source, template, inline_css=True)


def _render_part(name: str, source: str, variables: dict, cache_key) -> str:
    part = _compiled_part(name, source, cache_key)
    try:
        output = _run(part.template, name, variables)
    except TemplateRenderError:
        if part.as_written is None:
            raise
        # The inlined source has other line numbers: render as written to report the right line.
        _current_budget.set(_Budget())
        _run(part.as_written, name, variables)
        raise
    if name == "body_html":
        if part.inline_css:
            output = _inline_css(output)
        output = _neutralise_script_urls(output)
    return output


def _run(template: Template, name: str, variables: dict) -> str:
    """Render ``template`` (as ``Template.generate`` does, without copying the variables), counting
    its output; any failure becomes a TemplateRenderError with the template line."""
    budget = _current_budget.get()
    chunks = []
    try:
        try:
            for chunk in template.root_render_func(template.new_context(variables, shared=True)):
                budget.output += len(chunk)
                if budget.output > MAX_OUTPUT_CHARS:
                    _count_output(budget, "")  # raises
                chunks.append(chunk)
        except Exception:
            template.environment.handle_exception()  # re-raises with the template's lines in the traceback
        return "".join(chunks)
    except TemplateRenderError as error:
        error.field, error.line = name, _template_line(error)
        raise
    except RecursionError:
        raise TemplateRenderError("the template is nested too deeply", field=name) from None
    except MemoryError:
        raise TemplateRenderError("the template needs too much memory", field=name) from None
    except Exception as error:  # anything a template does wrong: its message, with its line
        raise TemplateRenderError(str(error), field=name, line=_template_line(error)) from error


def _template_line(error: BaseException) -> int | None:
    """The template line being run when ``error`` was raised (Jinja rewrites tracebacks to show it)."""
    line = None
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


# -- CSS inlining ----------------------------------------------------------------------------------

# Never loads a <link> stylesheet (remote or file:); there is no base_url to resolve one against.
_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
_STYLE_TAG = re.compile(r"<style[\s>]", re.IGNORECASE)


def _inline_css(html: str) -> str:
    if not _STYLE_TAG.search(html):
        return html
    try:
        return _INLINER.inline(html)
    except (css_inline.InlineError, ValueError):
        return html  # CSS the inliner cannot parse is left to the mail client


_JINJA_CONSTRUCT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_STATEMENT_KEYWORD = re.compile(r"\{%[-+]?\s*(\w+)")
_INLINE_SAFE_STATEMENTS = frozenset({"if", "elif", "else", "endif", "for", "endfor", "set"})
_PLACEHOLDER = "\ue000{}\ue001"
_PLACEHOLDER_PATTERN = re.compile("\ue000(\\d+)\ue001")
_STATIC_SELECTOR = re.compile(r"[\w\s.#>,*-]*")
_SELECTOR_ATTRIBUTES = frozenset({"class", "id", "style"})
_VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_HEAD_TAGS = frozenset("html head base link meta noscript script style template title".split())


def _construct_kind(construct: str) -> str:
    if construct.startswith("{{"):
        return "expression"
    if construct.startswith("{#"):
        return "comment"
    match = _STATEMENT_KEYWORD.match(construct)
    keyword = match.group(1) if match else ""
    if keyword == "set" and "=" not in construct:
        return "set-block"
    return keyword


def _inline_css_into_source(source: str) -> str | None:
    """The template source with its ``<style>`` rules inlined, or None when that would not be exact.

    Inlining once per version gives the same email as inlining every render when the elements the
    CSS selects are the same in the source as in any output: the CSS is static, it selects by tag,
    class and id through ancestors only (no pseudo-classes, attribute or sibling selectors: loops
    change siblings), the template syntax sits in text or in other attributes (``{{ ... }}`` always
    prints text, never elements), every ``if``/``for`` encloses whole elements, no macro or block
    moves elements elsewhere, and the HTML parser moved none of the template syntax. That syntax is
    swapped for placeholders around the inliner and put back afterwards.
    """
    if "\ue000" in source:
        return None
    constructs: list[str] = []

    def hold(match: re.Match) -> str:
        constructs.append(match.group())
        return _PLACEHOLDER.format(len(constructs) - 1)

    marked = _JINJA_CONSTRUCT.sub(hold, source)
    kinds = [_construct_kind(construct) for construct in constructs]
    if any(kind not in _INLINE_SAFE_STATEMENTS | {"expression", "comment"} for kind in kinds):
        return None
    if re.search("</?\\s*\ue000", marked):
        return None  # template syntax as a tag name
    try:
        before = _MarkupSurvey(marked)
    except AssertionError:  # html.parser gives up on some malformed <![ sections
        return None
    located = set(before.text_stacks) | set(before.in_tags) | before.in_comments
    if before.in_raw_text or located != set(range(len(constructs))):
        return None  # in <style>/<script>, or somewhere html.parser does not report (<?...>, <!DOCTYPE ...>)
    if before.text_before_body:
        return None  # a placeholder there would start the <body> earlier than the rendered email does
    if not all(_selectors_are_static(css) for css in before.css):
        return None
    for index, attribute in before.in_tags.items():
        if kinds[index] not in ("expression", "comment") or attribute in _SELECTOR_ATTRIBUTES:
            return None
    if any(kinds[index] not in ("expression", "comment") for index in before.in_comments):
        return None
    try:
        inlined = _INLINER.inline(marked)
    except (css_inline.InlineError, ValueError):
        return None
    found = [int(index) for index in _PLACEHOLDER_PATTERN.findall(inlined)]
    if found != list(range(len(constructs))):
        return None  # moved or dropped by the parser
    try:
        after = _MarkupSurvey(inlined)
    except AssertionError:
        return None
    ignored = {"html", "tbody"} | (set() if re.search(r"<body[\s>]", source, re.I) else {"head", "body"})
    for index, stack in before.text_stacks.items():
        if _without(stack, ignored) != _without(after.text_stacks.get(index, ()), ignored):
            return None
    if not _blocks_enclose_whole_elements(kinds, before.text_stacks):
        return None
    return _PLACEHOLDER_PATTERN.sub(lambda match: constructs[int(match.group(1))], inlined)


def _without(stack: tuple, ignored: set) -> tuple:
    return tuple(tag for tag in stack if tag not in ignored)


def _selectors_are_static(css: str) -> bool:
    """True if every rule outside at-rules selects by tag, class, id and ancestors only."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    depth, prelude = 0, []
    for char in css:
        if depth:
            depth += (char == "{") - (char == "}")
        elif char == "{":
            selector = "".join(prelude).strip()
            if not selector.startswith("@") and not _STATIC_SELECTOR.fullmatch(selector):
                return False
            depth, prelude = 1, []
        elif char == ";":
            prelude = []  # @import, @charset
        else:
            prelude.append(char)
    return True


def _blocks_enclose_whole_elements(kinds: list[str], stacks: dict) -> bool:
    """True if each if/for opens, branches and ends inside the same element."""
    open_blocks: list[tuple[str, tuple]] = []
    for index, kind in enumerate(kinds):
        if kind in ("if", "for"):
            open_blocks.append((kind, stacks[index]))
        elif kind in ("elif", "else", "endif", "endfor"):
            if not open_blocks or stacks[index] != open_blocks[-1][1]:
                return False
            if kind.startswith("end"):
                if open_blocks.pop()[0] != kind[3:]:
                    return False
    return not open_blocks


class _MarkupSurvey(HTMLParser):
    """Where the placeholders of a marked-up template sit: in text (with the open elements around
    them), in a tag's attribute, in a comment, or in <style>/<script>; and the CSS of <style>."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=False)
        self.body_started = False  # by <body>, a body element or text, as an HTML parser would
        self.text_before_body = False  # a placeholder in text before that
        self.stack: list[str] = []
        self.text_stacks: dict[int, tuple] = {}
        self.in_tags: dict[int, str | None] = {}  # placeholder -> attribute (None: a name, not a value)
        self.in_comments: set[int] = set()
        self.in_raw_text: set[int] = set()
        self.css: list[str] = []
        self.feed(markup)
        self.close()

    @staticmethod
    def _placeholders(text: str | None) -> list[int]:
        return [int(index) for index in _PLACEHOLDER_PATTERN.findall(text or "")]

    def handle_starttag(self, tag, attrs):
        self.handle_startendtag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.body_started = self.body_started or tag not in _HEAD_TAGS
        for name, value in attrs:
            self.in_tags.update(dict.fromkeys(self._placeholders(name)))
            self.in_tags.update(dict.fromkeys(self._placeholders(value), name))

    def handle_endtag(self, tag):
        if tag in self.stack:
            del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag) :]

    def handle_data(self, data):
        inside = self.stack[-1] if self.stack else None
        if inside in ("style", "script"):
            self.in_raw_text.update(self._placeholders(data))
            if inside == "style":
                self.css.append(data)
            return
        placeholders = self._placeholders(data)
        for index in placeholders:
            self.text_stacks[index] = tuple(self.stack)
        if inside != "title":
            self.text_before_body = self.text_before_body or bool(placeholders and not self.body_started)
            self.body_started = self.body_started or bool(data.strip())

    def handle_entityref(self, name):
        self.handle_data("&")

    def handle_charref(self, name):
        self.handle_data("&")

    def handle_comment(self, data):
        self.in_comments.update(self._placeholders(data))

    def unknown_decl(self, data):
        self.in_raw_text.update(self._placeholders(data))


# -- Script URLs -----------------------------------------------------------------------------------

# Each attribute value that could hold a script URL: one that starts, after blanks, with j, v, d
# or an entity. Matched after every "=" without consuming the value, so that no "=" is skipped.
_SUSPECT_VALUE = re.compile(
    r"""=(?=[ \t\n\f\r]*("[\x00-\x20]*[jJvVdD&][^"]*"|'[\x00-\x20]*[jJvVdD&][^']*'"""
    r"""|[\x00-\x08\x0b\x0e-\x1f]*[jJvVdD&][^ \t\n\f\r>]*))"""
)
_URL_ATTRIBUTE_NAME = re.compile(
    r"(?:^|[^\w:-])(?:href|src|action|formaction|background|poster|cite|xlink:href)\s*$", re.IGNORECASE
)
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")


def _is_script_url(value: str) -> bool:
    url = _URL_NOISE.sub("", unescape(value)).lower()
    return url.startswith(("javascript:", "vbscript:")) or (
        url.startswith("data:") and not url.startswith("data:image/")
    )


def _neutralise_script_urls(html: str) -> str:
    """Replace ``javascript:``-style URLs in link and source attributes by ``#``, wherever they
    came from (a lead value in ``href="{{ ... }}"`` is escaped, but escaping leaves the scheme)."""
    pieces, done = [], 0
    for match in _SUSPECT_VALUE.finditer(html):
        quoted = match.group(1)
        quote = quoted[0] if quoted[0] in "\"'" else ""
        value = quoted[1:-1] if quote else quoted
        name_start = max(match.start() - 24, 0)
        if not _URL_ATTRIBUTE_NAME.search(html[name_start : match.start()]) or not _is_script_url(value):
            continue
        pieces += (html[done : match.start(1)], f"{quote}#{quote}")
        done = match.end(1)
    return "".join(pieces) + html[done:] if pieces else html


# -- HTML to text ----------------------------------------------------------------------------------

_SKIPPED_TAGS = frozenset({"script", "style", "title", "template", "noscript"})
_PARAGRAPH_TAGS = frozenset("blockquote dl h1 h2 h3 h4 h5 h6 hr ol p pre table ul".split())
_LINE_TAGS = frozenset(
    "address article aside center dd div dt figcaption figure footer form header li main nav "
    "section tr".split()
)


# "<![" opening something html.parser does not know (it raises); a browser reads it as a comment up to ">".
_UNKNOWN_MARKED_SECTION = re.compile(
    r"<!\[(?!(?:cdata|if|else|endif|temp|ignore|include|rcdata)(?![-_.a-z0-9]))[^>]*>?", re.IGNORECASE
)


def _without_unknown_marked_sections(html: str) -> str:
    while True:  # until removing one does not make another (each pass shortens the text)
        cleaned = _UNKNOWN_MARKED_SECTION.sub("", html)
        if cleaned == html:
            return html
        html = cleaned


def html_to_text(html: str) -> str:
    """A plain-text version of an email's HTML: blocks, line breaks, headings and list items become
    lines, links "text (url)"; scripts and styles are dropped, entities decoded, whitespace collapsed."""
    converter = _TextConverter()
    try:
        converter.feed(_without_unknown_marked_sections(html))
        converter.close()
    except AssertionError as error:
        raise TemplateRenderError(f"the HTML cannot be turned into text ({error}); write a text part", field="body_text") from None
    return converter.text()


class _TextConverter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []  # finished lines; "" separates paragraphs
        self.pieces: list[str] = []  # the line being built
        self.skipping = 0
        self.href: str | None = None  # of the link being read
        self.link_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag == "br":
            self.end_line()
        elif tag == "li":
            self.end_line()
            self.pieces.append("- ")
        elif tag in _PARAGRAPH_TAGS:
            self.end_paragraph()
        elif tag in _LINE_TAGS:
            self.end_line()
        elif tag in ("td", "th"):
            self.pieces.append(" ")
        elif tag == "a":
            self.href, self.link_text = (dict(attrs).get("href") or "").strip(), []

    def handle_endtag(self, tag):
        if tag in _SKIPPED_TAGS:
            self.skipping = max(self.skipping - 1, 0)
        elif tag == "a" and self.href is not None:
            self.end_link()
        elif tag in _PARAGRAPH_TAGS:
            self.end_paragraph()
        elif tag in _LINE_TAGS:
            self.end_line()

    def handle_data(self, data):
        if not self.skipping:
            self.pieces.append(data)
            if self.href is not None:
                self.link_text.append(data)

    def end_link(self) -> None:
        href, self.href = self.href, None
        text = " ".join("".join(self.link_text).split())
        if not href or href.startswith("#") or href in (text, f"mailto:{text}"):
            return
        self.pieces.append(f" ({href})" if text else href)

    def end_line(self) -> None:
        line = " ".join("".join(self.pieces).split())
        self.pieces = []
        if line:
            self.lines.append(line)

    def end_paragraph(self) -> None:
        self.end_line()
        if self.lines and self.lines[-1]:
            self.lines.append("")

    def text(self) -> str:
        self.end_line()
        return "\n".join(self.lines).strip()
