"""The sandboxed Jinja environment email templates are compiled and rendered in.

Templates are written by an organization's users, so:

- attributes are reachable only on plain values, only from a short list per type
  (``first_name.upper()``, ``today.year``), never an underscore name;
- ``include``/``import``/``extends``, ``self``, ``{% autoescape %}`` and recursive loops are refused
  when the template is compiled;
- the globals are ``range`` (capped) and ``dict``, the filters a curated list (``filters``);
- every ``for`` loop, call and filter call draws on the render's budget, and every value printed is
  checked (``values``) and counted, including output written into macro and ``{% set %}`` buffers;
- an unknown variable renders empty and is noted in the budget, for previews to list.

The code generator overrides private methods of Jinja's ``CodeGenerator`` (``visit_Template``,
``visit_Output``, ``visit_Concat``, ``_output_const_repr``, ``_output_child_pre`` and
``_output_child_post``), and ``EmailContext`` builds Jinja's ``Context`` itself: Jinja is pinned to
the minor version they were written against, and ``tests/unit/test_render_jinja_overrides.py`` fails
if they stop taking effect.
"""

from datetime import date

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, find_undeclared
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

from .budget import MAX_CALL_DEPTH, current_budget, emit, spend
from .errors import refuse
from .filters import LOOP_FILTER, capped_range, email_filters
from .operators import add, allowed_attributes, bounded_date_method, bounded_str_method, modulo, multiply, power
from .values import checked_arguments, checked_concat, checked_result, output_html, output_text


class RecordingUndefined(Undefined):
    """An unknown variable: renders as an empty string and is noted so that previews can list it."""

    __slots__ = ()

    def _note_missing(self) -> None:
        budget = current_budget.get()
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


_REFUSED_NODES = (
    (nodes.Extends, "{% extends %}"),
    (nodes.Include, "{% include %}"),
    (nodes.Import, "{% import %}"),
    (nodes.FromImport, "{% from ... import %}"),
    (nodes.EvalContextModifier, "{% autoescape %}"),
)


_PRINTED = "printed_value"  # the value being printed, in compiled templates (Jinja's names are l_*, t_*...)


class EmailCodeGenerator(CodeGenerator):
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
            loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)

    def visit_Output(self, node: nodes.Output, frame) -> None:
        self._counting = frame.buffer is not None
        super().visit_Output(node, frame)

    def _output_const_repr(self, group) -> str:
        text = super()._output_const_repr(group)
        return f"environment.emit({text})" if self._counting else text

    # {{ value }} is written ``(escape(v) if type(v := value) is str else environment.output_html(v))``
    # in the HTML part, ``(v if type(v := value) is str else environment.output_text(v))`` elsewhere:
    # what the output hooks do with a str, without calling them for the values printed most.
    def _output_child_pre(self, node, frame, finalize) -> None:
        # {% autoescape %} is refused, so whether to escape is known here (eval_ctx is never volatile).
        if self._counting:
            self.write("environment.emit(")
        self.write(f"(escape({_PRINTED}) if type({_PRINTED} := " if frame.eval_ctx.autoescape else f"({_PRINTED} if type({_PRINTED} := ")

    def _output_child_post(self, node, frame, finalize) -> None:
        if frame.eval_ctx.autoescape:
            self.write(f") is str else environment.output_html({_PRINTED}))")
        else:
            as_is = self.environment.text_as_is
            self.write(f") is str{' and ' + as_is.format(_PRINTED) if as_is else ''} else environment.output_text({_PRINTED}))")
        if self._counting:
            self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {frame.eval_ctx.autoescape!r})")


class EmailContext(Context):
    """Jinja's ``Context``, as ``Context.__init__`` builds it (Jinja 3.1) but without a dict
    comprehension run for a template without blocks: three contexts are built for every email.
    ``tests/unit/test_render_jinja_overrides.py`` checks that both build the same context."""

    def __init__(self, environment, parent, name, blocks, globals=None) -> None:
        self.parent = parent
        self.vars = {}
        self.environment = environment
        self.eval_ctx = EvalContext(environment, name)
        self.exported_vars = set()
        self.name = name
        self.globals_keys = set() if globals is None else set(globals)
        self.blocks = {key: [block] for key, block in blocks.items()} if blocks else {}


class EmailSandbox(SandboxedEnvironment):
    """The sandbox email templates render in (see the module docstring for what it allows)."""

    code_generator_class = EmailCodeGenerator
    context_class = EmailContext
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    emit = staticmethod(emit)
    output_html = staticmethod(output_html)
    output_text = staticmethod(output_text)
    # For the code generator: the condition on a printed str (``{}``) under which ``output_text``
    # returns it as it is ("": always).
    text_as_is = ""
    checked_concat = staticmethod(checked_concat)

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(autoescape=autoescape, undefined=RecordingUndefined, cache_size=0)
        for name in ("lipsum", "cycler", "joiner", "namespace"):
            self.globals.pop(name, None)
        self.globals["range"] = capped_range
        self.filters = email_filters()
        self.binop_table.update({"*": multiply, "+": add, "**": power, "%": modulo})

    def is_safe_attribute(self, obj, attr: str, value) -> bool:
        return not attr.startswith("_") and attr in (allowed_attributes(obj) or ())

    def getattr(self, obj, attribute: str):
        if attribute.startswith("_"):
            raise SecurityError(f"access to attribute {attribute!r} is not allowed")
        if isinstance(obj, Undefined):
            return obj  # {{ unknown.name }} renders empty and reports "unknown"
        if obj is None:
            obj = ""  # a lead field without a value behaves as an empty string
        allowed = allowed_attributes(obj)
        if allowed is None:
            raise SecurityError(f"attributes of {type(obj).__name__!r} values are not available")
        if attribute in allowed:
            if isinstance(obj, str):
                return bounded_str_method(self, obj, attribute)
            if isinstance(obj, date):
                return bounded_date_method(obj, attribute)
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
        spend()
        checked_arguments(args, kwargs, macros_allowed=True)
        if not self.is_safe_callable(obj):
            raise SecurityError(f"{obj!r} is not safely callable")
        budget = current_budget.get()
        if budget is None:
            return checked_result(context.call(obj, *args, **kwargs))
        if budget.depth >= MAX_CALL_DEPTH:
            refuse(f"macros are nested more than {MAX_CALL_DEPTH} deep")
        budget.depth += 1
        try:
            return checked_result(context.call(obj, *args, **kwargs))
        finally:
            budget.depth -= 1


# The HTML part renders with autoescape; the subject, the text part and notifications without.
HTML_ENV = EmailSandbox(autoescape=True)
PLAIN_ENV = EmailSandbox(autoescape=False)
