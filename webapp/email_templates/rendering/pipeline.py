"""Rendering a template's parts for one lead: compile (once per template version), run, finish.

``render_email`` renders the subject (on one line), the HTML part (CSS inlined, script URLs
neutralised) and the text part: ``body_text`` when the template has one, else the text template
derived once per version from the HTML part (``text.text_template_source``), else the rendered
HTML converted to text. All draw on one budget (``budget``), except the derived text part, which
gets a budget of its own: it repeats work the HTML part was just allowed.

Compiled parts are cached under the template version (``cache_key``), or under the source itself;
so are the parts of each email template, for ``render_email`` to find them with one look-up.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError
from jinja2.environment import Template

from . import css, text
from .budget import MAX_OUTPUT_CHARS, MAX_TEMPLATE_CHARS, count_output, current_budget, new_budget
from .context import check_context
from .errors import TemplateRenderError
from .html_checks import misplaced_output
from .sandbox import HTML_ENV, PLAIN_ENV
from .urls import neutralise_script_urls

_CACHE_SIZE = 256
TEXT_FROM_HTML = "text from body_html"  # the cache entry of a body_html's derived text template


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    missing_variables: list[str] = field(default_factory=list)


def render_email(subject: str, body_html: str, body_text: str, context: dict, cache_key=None) -> RenderedEmail:
    """Render a template's three parts for ``context`` (from ``build_context`` or ``sample_context``).

    ``cache_key`` identifies the template version, e.g. ``(template_id, version)``: compiled parts
    are cached under it (and under the source itself when it is None). Raises TemplateRenderError.
    """
    check_context(context)
    variables = {**PLAIN_ENV.globals, **context}  # shared by the parts' contexts
    sources = (subject, body_html, body_text)
    email_key = sources if cache_key is None else cache_key
    parts = _compiled_email(email_key, sources)
    with new_budget() as budget:
        if parts is not None:
            rendered = _render_parts(sources, parts.__getitem__, variables)
        else:  # compiled part by part as they render (a compile error comes in turn), then cached as an email
            parts = {}

            def part(name: str) -> CompiledPart | DerivedTextPart:
                parts[name] = compiled_part(name, sources[_SOURCE[name]], cache_key)
                return parts[name]

            rendered = _render_parts(sources, part, variables)
            _cache_email(email_key, sources, parts)
    return RenderedEmail(*rendered, sorted(budget.missing) if budget.missing else [])


def _render_parts(sources: tuple[str, str, str], part, variables: dict) -> tuple[str, str, str]:
    """The subject, HTML and text parts rendered, each compiled part given by ``part(name)``."""
    subject, body_html, body_text = sources
    rendered_subject = " ".join(_render_compiled("subject", part("subject"), variables).split()) if subject else ""
    if _written(body_text):
        html = _render_compiled("body_html", part("body_html"), variables) if _written(body_html) else ""
        return rendered_subject, html, _render_compiled("body_text", part("body_text"), variables)
    if _written(body_html):
        html = _render_compiled("body_html", part("body_html"), variables)
        return rendered_subject, html, _derived_text(part(TEXT_FROM_HTML), html, variables)
    return rendered_subject, "", ""


def _written(source: str) -> bool:
    """``bool(source.strip())``, without copying the source."""
    return bool(source) and not source.isspace()


def render_text(source: str, context: dict, cache_key=None, *, field: str = "message") -> str:
    """Render one plain-text template (a notification message, say) in the same sandbox, unescaped.

    Errors are TemplateRenderErrors naming ``field``.
    """
    check_context(context)
    with new_budget():
        return _render_part(field, source, {**PLAIN_ENV.globals, **context}, cache_key)


# -- Compiling and caching -------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledPart:
    source: str
    template: Template
    inline_css: bool = False  # inline the rendered HTML's <style> rules at every render
    # When the CSS was inlined into the source: the template as written, to locate errors by line.
    as_written: Template | None = None


@dataclass(frozen=True)
class DerivedTextPart:
    source: str  # the HTML part
    template: Template | None  # None: convert every rendered HTML part instead


_compiled_parts: OrderedDict = OrderedDict()
_compiled_parts_lock = threading.Lock()
# The compiled parts of each template version rendered as an email, under the same key: one look-up
# per email rather than one per part.
_compiled_emails: OrderedDict = OrderedDict()
_SOURCE = {"subject": 0, "body_html": 1, "body_text": 2, TEXT_FROM_HTML: 1}  # which of the sources a part compiles


def compiled_part(name: str, source: str, cache_key) -> CompiledPart | DerivedTextPart:
    """The part ``name`` of a template compiled, from the cache when this version was compiled before."""
    key = (name, source) if cache_key is None else (name, cache_key)
    with _compiled_parts_lock:
        part = _compiled_parts.get(key)
        if part is not None and part.source == source:
            _compiled_parts.move_to_end(key)
            return part
    part = _compile_derived_text(source) if name == TEXT_FROM_HTML else _compile_part(name, source)
    with _compiled_parts_lock:
        _compiled_parts[key] = part
        _compiled_parts.move_to_end(key)
        while len(_compiled_parts) > _CACHE_SIZE:
            _compiled_parts.popitem(last=False)
    return part


def _compiled_email(key, sources: tuple[str, str, str]) -> dict | None:
    """The compiled parts of an email template, by name, if this version was rendered before."""
    with _compiled_parts_lock:
        cached = _compiled_emails.get(key)
        if cached is not None and cached[0] == sources:
            _compiled_emails.move_to_end(key)
            return cached[1]
    return None


def _cache_email(key, sources: tuple[str, str, str], parts: dict) -> None:
    with _compiled_parts_lock:
        _compiled_emails[key] = (sources, parts)
        _compiled_emails.move_to_end(key)
        while len(_compiled_emails) > _CACHE_SIZE:
            _compiled_emails.popitem(last=False)


def _compile_part(name: str, source: str) -> CompiledPart:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateRenderError(f"the template is longer than {MAX_TEMPLATE_CHARS:,} characters", field=name)
    environment = HTML_ENV if name == "body_html" else PLAIN_ENV
    try:
        template = environment.from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateRenderError(error.message or "syntax error", field=name, line=error.lineno) from None
    except RecursionError:
        raise TemplateRenderError("the template is nested too deeply", field=name) from None
    misplaced = misplaced_output(source) if name == "body_html" else None
    if misplaced:
        raise TemplateRenderError(misplaced[1], field=name, line=misplaced[0])
    if name != "body_html" or not css.STYLE_TAG.search(source):
        return CompiledPart(source, template)
    inlined = css.inline_css_into_source(source)
    if inlined is not None:
        try:
            return CompiledPart(source, environment.from_string(inlined), as_written=template)
        except TemplateSyntaxError:
            pass
    return CompiledPart(source, template, inline_css=True)


def _compile_derived_text(body_html: str) -> DerivedTextPart:
    """The text template derived from an HTML part that compiles, if it can be derived."""
    source = text.text_template_source(body_html)
    try:
        template = text.TEXT_FROM_HTML_ENV.from_string(source) if source is not None else None
    except (TemplateSyntaxError, RecursionError):
        template = None
    return DerivedTextPart(body_html, template)


# -- Rendering -------------------------------------------------------------------------------------


def _render_part(name: str, source: str, variables: dict, cache_key) -> str:
    return _render_compiled(name, compiled_part(name, source, cache_key), variables)


def _render_compiled(name: str, part: CompiledPart, variables: dict) -> str:
    try:
        output = run(part.template, name, variables)
    except TemplateRenderError:
        if part.as_written is None:
            raise
        # The inlined source has other line numbers: render as written to report the right line.
        with new_budget():
            run(part.as_written, name, variables)
        raise
    if name == "body_html":
        if part.inline_css:
            output = css.inline_css(output)
        output = neutralise_script_urls(output)
    return output


def _derived_text(derived: DerivedTextPart, html: str, variables: dict) -> str:
    """The text part derived from the HTML part: by the text template derived once per version, or
    else by converting the rendered HTML."""
    if derived.template is None:
        return text.html_to_text(html)
    with new_budget():
        return text.finish_text(run(derived.template, "body_text", variables))


def run(template: Template, name: str, variables: dict) -> str:
    """Render ``template`` (as ``Template.generate`` does, without copying the variables), counting
    its output; any failure becomes a TemplateRenderError with the template line."""
    budget = current_budget.get()
    chunks = []
    append = chunks.append
    environment = template.environment
    try:
        try:
            # ``template.new_context(variables, shared=True)``, given the environment's globals rather
            # than the template's ``ChainMap`` over them, whose names ``Context`` would list again at
            # every render: a template compiled from a string here has no globals of its own.
            context = environment.context_class(environment, variables, template.name, template.blocks, environment.globals)
            for chunk in template.root_render_func(context):
                budget.output += len(chunk)
                if budget.output > MAX_OUTPUT_CHARS:
                    count_output(budget, "")  # raises
                append(chunk)
        except Exception:
            environment.handle_exception()  # re-raises with the template's lines in the traceback
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
