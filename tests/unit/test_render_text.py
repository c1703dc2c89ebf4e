"""The text part derived from the HTML part (SPEC §6: "when body_text is empty, the text part is
derived from the HTML"): converted by inscriptis, and rendered from a text template derived once
per template version where the HTML template allows it, with the same lines as converting each
rendered email."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.unit.render_helpers import context
from webapp.email_templates.demo import DEMO_TEMPLATES
from webapp.email_templates.rendering import (
    TemplateRenderError,
    check_syntax,
    html_to_text,
    pipeline,
    render_email,
    text,
)

LEADS = [{}, {"first_name": None, "city": None, "value_estimate": None, "tags": []}, {"tags": ["a"], "city": "Salt Lake City"}]


def derived_and_converted(body_html: str, lead: dict, cache_key=None) -> tuple[str, str]:
    """The text part as rendered (from the derived text template) and as the rendered HTML converts."""
    email = render_email("", body_html, "", context(**lead), cache_key=cache_key)
    return email.text, html_to_text(email.html)


QUOTE = """<html><head><style>.cta { color: #ffffff; }</style><title>{{ company_name }}</title></head><body>
<table class="wrapper"><tr><td>
<table class="container">
  <tr><td class="header">{{ company_name }}</td></tr>
  <tr><td class="content">
    <h1>Hi {{ first_name | default("there") }},</h1>
    <p>Thanks for asking about {{ insurance_type }} insurance{% if city %} in {{ city }}{% endif %}.</p>
    {% if value_estimate %}<p>Your premium is <strong>${{ value_estimate }}</strong>.</p>
    {% else %}<p>Reply with a few details.</p>{% endif %}
    {% if tags %}<ul class="tags">{% for tag in tags %}<li>{{ tag | title }}</li>
    {% endfor %}</ul>{% endif %}
    <p><a class="cta" href="https://example.com/quote?email={{ email | urlencode }}">See my quote</a></p>
    <p>{{ agent_name | default("Your agent") }}{% if agent_email %} &middot;
    <a href="mailto:{{ agent_email }}">{{ agent_email }}</a>{% endif %}</p>
  </td></tr>
  <tr><td class="footer">Sent on {{ today }}.<br><a href="{{ unsubscribe_url }}">Unsubscribe</a></td></tr>
</table>
</td></tr></table>
</body></html>"""
TEMPLATES = {values["name"]: values["body_html"] for values in DEMO_TEMPLATES if values["body_html"]}
TEMPLATES["quote in layout tables"] = QUOTE


@pytest.mark.parametrize("body_html", TEMPLATES.values(), ids=TEMPLATES.keys())
@pytest.mark.parametrize("lead", LEADS)
def test_the_text_template_derived_once_gives_the_text_of_each_rendered_email(body_html, lead):
    assert text.text_template_source(body_html) is not None
    derived, converted = derived_and_converted(body_html, lead)
    assert derived == converted


def test_the_text_of_a_layout_email_reads_well():
    derived, _ = derived_and_converted(QUOTE, {"tags": ["multi-car"]})
    assert derived == (
        "Acme Insurance\n"
        "Hi Ann,\n"
        "\n"
        "Thanks for asking about home insurance in Austin.\n"
        "\n"
        "Your premium is $1200.50.\n"
        "\n"
        "* Multi-Car\n"
        "\n"
        "See my quote (https://example.com/quote?email=ann%40example.com)\n"
        "\n"
        "Bob Agent · bob@acme.example\n"
        "\n"
        "Sent on 2024-05-01.\n"
        "Unsubscribe (https://acme.example/u/abc)"
    )


def test_the_text_template_is_derived_once_per_template_version(monkeypatch):
    calls = []
    derive = text.text_template_source
    monkeypatch.setattr(text, "text_template_source", lambda source: calls.append(source) or derive(source))
    for lead in LEADS:
        render_email("", QUOTE, "", context(**lead), cache_key=("derived once", 1))
    assert len(calls) == 1
    part = pipeline.compiled_part(pipeline.TEXT_FROM_HTML, QUOTE, ("derived once", 1))
    assert part.template is not None


@pytest.mark.parametrize(
    "body_html, expected",
    [
        pytest.param("<ol>{% for t in tags %}<li>{{ t }}</li>{% endfor %}</ol>", "1. vip\n2. homeowner", id="numbered list"),
        pytest.param("<table><tr>{% for t in tags %}<td>{{ t }}</td>{% endfor %}</tr></table>", "vip homeowner", id="cells"),
        pytest.param("<table><tr><td>{% if city %}<p>{{ city }}</p>{% endif %}</td><td>x</td></tr></table>", "Austin x", id="row of cells"),
        pytest.param("<table>{% for t in tags %}<tr><td>{{ t }}</td></tr>{% endfor %}</table>", "vip\nhomeowner", id="loop in a table"),
        pytest.param("<ul><li>{% if city %}{{ city }}{% endif %}<p>x</p></li></ul>", "* Austin\n\nx", id="item with blocks"),
        pytest.param('<p{% if city %} class="c"{% endif %}>{{ city }}</p>', "Austin", id="statement in a tag"),
        pytest.param("<p>{%- if city %} {{ city }}{% endif -%}</p>", "Austin", id="whitespace control"),
        pytest.param("<pre>{{ city }}\n  {{ state }}</pre>", "Austin\nTX", id="preformatted"),
        pytest.param("{% macro m(v) %}<b>{{ v }}</b>{% endmacro %}<p>{{ m(city) }}</p>", "Austin", id="macro"),
        pytest.param("<p>{ {{ city }} }</p>", "{ Austin }", id="braces in the text"),
    ],
)
def test_templates_whose_text_cannot_be_derived_are_converted_at_every_render(body_html, expected):
    assert text.text_template_source(body_html) is None
    assert render_email("", body_html, "", context()).text == expected


@pytest.mark.parametrize(
    "value, line",
    [
        ("&amp; &lt;b&gt;", "Hi &amp; &lt;b&gt;!"),
        ("<b>bold</b> & co", "Hi <b>bold</b> & co!"),
        ("a\nb\r\nc\u2028d", "Hi a b c d!"),
        ("  spaced   out  ", "Hi spaced out !"),
        ("x\x00y", "Hi xy!"),
    ],
)
def test_lead_data_shows_as_written_on_one_line(value, line):
    body = "<p>Hi {{ first_name }}!</p><table><tr><td>Hi {{ first_name }}!</td></tr></table>"
    derived, converted = derived_and_converted(body, {"first_name": value})
    assert derived == converted == f"{line}\n\n{line}"


@pytest.mark.parametrize("url", ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,x"])
def test_script_urls_from_lead_data_are_not_shown_in_the_text(url):
    derived, converted = derived_and_converted('<p><a href="{{ city }}">go</a></p>', {"city": url})
    assert derived == converted == "go"


def test_links_show_their_url_unless_it_is_their_text_or_an_anchor():
    body = (
        '<p><a href="{{ unsubscribe_url }}">{{ unsubscribe_url }}</a> <a href="mailto:{{ email }}">{{ email }}</a> '
        '<a href="#top">top</a> <a href="https://x.example/{{ state }}"></a> <a href="{{ phone }}">call</a></p>'
    )
    derived, converted = derived_and_converted(body, {"phone": None})
    assert derived == converted == "https://acme.example/u/abc ann@example.com top https://x.example/TX call"


def test_html_nested_too_deeply_for_the_parser_asks_for_a_text_part():
    body = "<div>" * 300 + "{{ first_name }}" + "</div>" * 300
    with pytest.raises(TemplateRenderError, match="write a text part") as caught:
        render_email("", body, "", context())
    assert caught.value.field == "body_text"
    assert render_email("", body, "Hi {{ first_name }}", context()).text == "Hi Ann"


def test_styles_do_not_change_the_text():
    body = '<p style="margin-top: 999999px; padding-left: 999999px">a</p><p style="display: none" align="center">b</p>'
    assert html_to_text(body) == "a\n\nb"


FRAGMENTS = [
    "<p>",
    "</p>",
    "<div>",
    "</div>",
    "<br>",
    "<h1>",
    "</h1>",
    "<b>",
    "</b>",
    "<ul>",
    "</ul>",
    "<li>",
    "</li>",
    "<table>",
    "</table>",
    "<tr>",
    "</tr>",
    "<td>",
    "</td>",
    "<title>",
    "</title>",
    '<a href="{{ unsubscribe_url }}">',
    '<a href="https://x.example/?e={{ email }}">',
    "</a>",
    "{% if city %}",
    "{% else %}",
    "{% endif %}",
    "{% for t in tags %}",
    "{% endfor %}",
    "{{ t }}",
    "{{ first_name }}",
    "{{ city }}",
    "text",
    " ",
    "\n",
    "&amp;",
    "<!-- note -->",
    "{# note #}",
]
FRAGMENT_LEADS = [{}, {"city": None, "tags": [], "first_name": None}, {"tags": ["a", "b c"], "first_name": " Ann \n Lee ", "city": "&lt;"}]


def non_blank_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=16), st.sampled_from(FRAGMENT_LEADS))
def test_the_derived_text_has_the_lines_of_the_rendered_email_for_any_template(fragments, lead):
    body = "".join(fragments)
    assume(check_syntax(body) is None)
    derived, converted = derived_and_converted(body, lead, cache_key=("any template", body))
    assert non_blank_lines(derived) == non_blank_lines(converted)
