"""The renderer's overrides of Jinja internals still take effect (pyproject pins Jinja to the minor
version they were written for): each template below stays within every limit unless the overridden
code generator or sandbox hook does its job, so each test fails if Jinja stops calling it."""

import jinja2
import pytest
from jinja2.compiler import CodeGenerator
from jinja2.runtime import Context

from webapp.email_templates.rendering import TemplateRenderError, check_syntax, render_text
from webapp.email_templates.rendering.sandbox import EmailCodeGenerator, EmailContext, EmailSandbox

OVERRIDDEN = ("visit_Template", "visit_Output", "visit_Concat", "_output_const_repr", "_output_child_pre", "_output_child_post")


def test_jinja_is_the_minor_version_the_overrides_were_written_for():
    assert jinja2.__version__.startswith("3.1."), "review EmailCodeGenerator against the new CodeGenerator, then move the pin"
    for name in OVERRIDDEN:
        assert callable(getattr(CodeGenerator, name, None)), f"CodeGenerator.{name} is gone"
        assert name in EmailCodeGenerator.__dict__
    assert EmailSandbox.code_generator_class is EmailCodeGenerator


def test_loop_iterations_are_counted_through_the_filter_visit_template_wraps_around_every_for():
    # 60,000 iterations but only ~1,000 calls: only the injected loop filter counts the iterations.
    with pytest.raises(TemplateRenderError, match="too much work"):
        render_text("{% for i in range(1000) %}{% for j in range(60) %}{% endfor %}{% endfor %}done", {})


def test_values_written_into_a_buffer_are_counted_through_output_child_pre():
    # Nothing is printed: 1.2 MB go into macro buffers, each call's result under every size limit.
    source = "{% set s = 'x' * 600000 %}{% macro m() %}{{ s }}{% endmacro %}{% for i in range(2) %}{% set _ = m() %}{% endfor %}done"
    with pytest.raises(TemplateRenderError, match="larger than 1 MB"):
        render_text(source, {})


def test_constant_text_written_into_a_buffer_is_counted_through_output_const_repr():
    source = "{% macro m() %}" + "x" * 200_000 + "{% endmacro %}{% for i in range(6) %}{% set _ = m() %}{% endfor %}done"
    with pytest.raises(TemplateRenderError, match="larger than 1 MB"):
        render_text(source, {})


def test_the_tilde_operator_is_size_checked_through_visit_concat():
    with pytest.raises(TemplateRenderError, match="larger than 1,000,000 characters"):
        render_text("{% set s = 'x' * 600000 %}{% set t = s ~ s %}done", {})


def test_printed_values_are_checked_through_the_output_hooks():
    with pytest.raises(TemplateRenderError, match="'Macro' values cannot be printed"):
        render_text("{% macro m() %}x{% endmacro %}{{ m }}", {})


def test_unsupported_tags_are_refused_by_visit_template():
    assert check_syntax("{% include 'footer.html' %}") == "line 1: {% include %} is not available in email templates"
    assert check_syntax("{% for t in tags recursive %}{% endfor %}") == "line 1: recursive loops are not available in email templates"
    assert check_syntax("{{ self }}") == "line 1: 'self' is not available in email templates"


def test_operators_are_size_checked_through_the_sandbox_binop_table():
    with pytest.raises(TemplateRenderError, match="repeating a value"):
        render_text("{% set s = 'A' * 10**9 %}done", {})


@pytest.mark.parametrize("blocks", [{}, {"footer": lambda context: iter(())}])
@pytest.mark.parametrize("globals_", [None, {"range": range, "dict": dict}])
def test_the_email_context_is_built_as_jinja_builds_its_context(blocks, globals_):
    environment = EmailSandbox(autoescape=True)
    assert environment.context_class is EmailContext
    ours = EmailContext(environment, {"city": "Austin"}, "name", blocks, globals_)
    jinjas = Context(environment, {"city": "Austin"}, "name", blocks, globals_)
    assert set(vars(ours)) == set(vars(jinjas))
    for name, value in vars(jinjas).items():
        assert vars(getattr(ours, name)) == vars(value) if name == "eval_ctx" else getattr(ours, name) == value, name
