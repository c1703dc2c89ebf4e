"""The email template renderer (SPEC §6): variables, defaults, missing variables, syntax errors with
lines, the text part derived from the HTML, CSS inlining without fetching anything, the one-line
subject, and the compiled-template cache."""

import socket
from dataclasses import FrozenInstanceError
from html.parser import HTMLParser
from unittest import mock

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jinja2.filters import do_title

from tests.unit.render_helpers import LEAD, TODAY, context
from webapp.email_templates.rendering import (
    LEAD_FIELDS,
    RenderedEmail,
    TemplateRenderError,
    build_context,
    check_syntax,
    css,
    html_to_text,
    pipeline,
    render_email,
    render_text,
    sample_context,
    validate_template,
)


def html_of(body_html: str, **lead_changes) -> str:
    return render_email("subject", body_html, "", context(**lead_changes)).html


def text_of(body_text: str, **lead_changes) -> str:
    return render_email("subject", "", body_text, context(**lead_changes)).text


def styled_elements(html: str) -> list[tuple[str, str]]:
    """(tag, style attribute) of every element and ("#text", text) of every text, in document order."""

    class Collector(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found = []

        def handle_starttag(self, tag, attrs):
            self.found.append((tag, dict(attrs).get("style") or ""))

        def handle_data(self, data):
            if data.strip():
                self.found.append(("#text", " ".join(data.split())))

    collector = Collector()
    collector.feed(html)
    return collector.found


# -- Variables -------------------------------------------------------------------------------------


def test_every_variable_of_the_spec_is_in_the_context():
    variables = context()
    assert set(LEAD_FIELDS) <= set(variables)
    assert {"full_name", "company_name", "agent_name", "agent_email", "unsubscribe_url", "today"} <= set(variables)
    assert variables["full_name"] == "Ann Lee"
    assert variables["company_name"] == "Acme Insurance"
    assert (variables["agent_name"], variables["agent_email"]) == ("Bob Agent", "bob@acme.example")
    assert variables["today"] == TODAY


def test_a_lead_without_an_agent_has_empty_agent_variables():
    variables = build_context(LEAD, "Acme", None, "https://u", TODAY)
    assert variables["agent_name"] is None and variables["agent_email"] is None


def test_variables_are_rendered_in_all_three_parts():
    email = render_email(
        "Hi {{ first_name }}", "<p>{{ full_name }} in {{ city }}, {{ state }}</p>", "{{ company_name }}: {{ email }}", context()
    )
    assert email.subject == "Hi Ann"
    assert email.html == "<p>Ann Lee in Austin, TX</p>"
    assert email.text == "Acme Insurance: ann@example.com"
    assert email.missing_variables == []


def test_numbers_dates_and_lists_can_be_used():
    text = text_of("{{ value_estimate }} {{ today.year }} {{ created_at.strftime('%d/%m') }} {{ tags | join(', ') }} {{ tags | length }}")
    assert text == "1200.50 2024 02/04 vip, homeowner 2"


def test_loops_and_conditionals_work():
    text = text_of("{% for tag in tags %}{{ loop.index }}.{{ tag | upper }} {% endfor %}{% if priority == 'high' %}!{% endif %}")
    assert text == "1.VIP 2.HOMEOWNER !"


@pytest.mark.parametrize("tag", ["vip", "homeOWNER", "ǆemal", "ßtraße", "İstanbul", "2nd", "x2", "multi-car", "a b", "(vip)", "", "ŉ"])
def test_title_gives_what_jinjas_title_gives(tag):
    # A single word is titled without Jinja's regular expression: to the same result.
    assert text_of("{{ tags[0] | title }}", tags=[tag]) == do_title(tag)
    assert html_of("<p>{{ tags[0] | title }}</p>", tags=[tag]) == f"<p>{do_title(tag)}</p>"


def test_macros_work():
    text = text_of("{% macro greet(name) %}Hello {{ name }}{% endmacro %}{{ greet(first_name) }}")
    assert text == "Hello Ann"


def test_a_lead_field_without_a_value_renders_empty():
    assert text_of("[{{ city }}][{{ city | upper }}][{{ city.title() }}]", city=None) == "[][][]"


def test_default_applies_to_a_field_without_a_value():
    assert text_of('Hi {{ first_name | default("there") }}', first_name=None) == "Hi there"
    assert text_of('Hi {{ first_name | default("there") }}') == "Hi Ann"


def test_default_of_an_unknown_variable_is_not_reported_missing():
    email = render_email("", "", '{{ nickname | default("friend") }}{% if coupon is defined %}x{% endif %}', context())
    assert email.text == "friend"
    assert email.missing_variables == []


def test_unknown_variables_render_empty_and_are_listed_sorted_across_parts():
    email = render_email("{{ zeta }}", "<p>{{ alpha.name }}</p>", "{{ zeta }}{% for x in beta %}{% endfor %}", context())
    assert email.subject == ""
    assert email.html == "<p></p>"
    assert email.missing_variables == ["alpha", "beta", "zeta"]


def test_sample_context_fills_every_variable():
    everything = " ".join(f"{{{{ {name} }}}}" for name in sample_context())
    email = render_email(everything, "", everything, sample_context())
    assert email.missing_variables == []
    assert "Jamie Rivera" in email.text


def test_sample_context_takes_the_organization_name():
    assert sample_context("Globex", today=TODAY)["company_name"] == "Globex"


def test_the_rendered_email_is_frozen():
    email = render_email("s", "", "t", context())
    assert isinstance(email, RenderedEmail)
    with pytest.raises(FrozenInstanceError):
        email.subject = "other"


def test_the_context_must_be_plain_data():
    with pytest.raises(TypeError, match="'lead'"):
        render_email("{{ lead }}", "", "", {"lead": object()})


# -- Syntax errors ---------------------------------------------------------------------------------


def test_check_syntax_accepts_a_valid_template():
    assert check_syntax("Hi {{ first_name }}{% if city %} from {{ city }}{% endif %}") is None


def test_check_syntax_reports_the_line_and_the_message():
    message = check_syntax("line one\nline two\n{{ first_name }}}\n{% if %}")
    assert message.startswith("line 4: ")
    assert check_syntax("a\n\n{{ first_name ").startswith("line 3: ")
    assert check_syntax("{% for x in tags %}") == (
        "line 1: Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'."
        " The innermost block that needs to be closed is 'for'."
    )


def test_check_syntax_reports_unknown_filters_and_refused_tags():
    assert check_syntax("a\n{{ first_name | shout }}") == "line 2: No filter named 'shout'."
    assert check_syntax("{% include 'footer.html' %}") == "line 1: {% include %} is not available in email templates"


def test_validate_template_lists_errors_by_field():
    errors = validate_template("Hi {{ first_name", "<p>ok</p>", "a\nb\n{% endif %}")
    assert [error["field"] for error in errors] == ["subject", "body_text"]
    assert errors[1]["message"].startswith("line 3: ")
    assert validate_template("s", "<p>{{ city }}</p>", "") == []


def test_validate_template_refuses_values_printed_inside_a_tag_outside_quotes():
    assert validate_template("s", "<p>ok</p>\n<a href={{ unsubscribe_url }}>Unsubscribe</a>", "") == [
        {
            "field": "body_html",
            "message": 'line 2: inside a tag, {{ ... }} may only be used in a quoted attribute value, as in href="{{ unsubscribe_url }}"',
        }
    ]


def test_rendering_a_template_with_a_syntax_error_names_the_part_and_line():
    with pytest.raises(TemplateRenderError) as caught:
        render_email("ok", "<p>\n{{ first_name }</p>", "", context())
    assert (caught.value.field, caught.value.line) == ("body_html", 2)
    assert str(caught.value).startswith("body_html, line 2: ")
    assert caught.value.as_error()["message"].startswith("line 2: ")


def test_a_runtime_error_names_its_line():
    with pytest.raises(TemplateRenderError) as caught:
        render_email("", "", "one\ntwo\n{{ value_estimate / 0 }}", context())
    assert caught.value.line == 3
    assert caught.value.field == "body_text"


def test_a_runtime_error_names_its_line_in_the_template_as_written_when_css_was_inlined():
    body = "<html><head>\n<style>\np { color: red }\n</style>\n</head><body>\n<p>{{ first_name }}</p>\n<p>{{ 1 / 0 }}</p>\n</body></html>"
    assert pipeline.compiled_part("body_html", body, None).as_written is not None  # the CSS was inlined once
    with pytest.raises(TemplateRenderError) as caught:
        render_email("", body, "", context())
    assert caught.value.line == 7


# -- The HTML part ---------------------------------------------------------------------------------


def test_html_without_a_style_block_is_left_as_written():
    assert html_of('<p class="x">Hi {{ first_name }}</p>') == '<p class="x">Hi Ann</p>'


def test_css_is_inlined():
    html = html_of(
        "<html><head><style>p.lead { color: red } h1 { font-size: 20px }</style></head>"
        "<body><h1>Hi</h1><p class=lead>{{ first_name }}</p></body></html>"
    )
    assert '<h1 style="font-size: 20px;">Hi</h1>' in html
    assert '<p class="lead" style="color: red;">Ann</p>' in html
    assert "<style>" not in html


def test_media_queries_are_kept_in_a_style_block():
    html = html_of(
        "<html><head><style>p { color: red } @media (max-width: 600px) { p { color: blue } }</style></head><body><p>x</p></body></html>"
    )
    assert '<p style="color: red;">x</p>' in html
    assert "@media (max-width: 600px)" in html


def test_linked_and_imported_stylesheets_are_never_fetched(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.3)
    port = server.getsockname()[1]
    local_css = tmp_path / "local.css"
    local_css.write_text("p { color: rgb(1, 2, 3) }")
    body = (
        "<html><head>"
        f'<link rel="stylesheet" href="http://127.0.0.1:{port}/remote.css">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
        '<link rel="stylesheet" href="file:///etc/passwd">'
        f'<link rel="stylesheet" href="{local_css.as_uri()}">'
        f"<style>@import url(http://127.0.0.1:{port}/imported.css); h1 {{ color: blue }}</style>"
        "</head><body><h1>Hi</h1><p>{{ first_name }}</p></body></html>"
    )
    try:
        html = html_of(body)
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
    assert '<h1 style="color: blue;">Hi</h1>' in html
    assert "rgb(1, 2, 3)" not in html and "root:" not in html
    assert "<p>Ann</p>" in html


def test_css_inlined_once_per_version_gives_the_same_email_as_inlining_every_render(monkeypatch):
    body = """<html><head><style>
      .box p { color: red } .tags li { margin: 0 } td.footer a { color: gray } #cta { padding: 4px }
    </style></head><body><table class="box"><tr><td>
      <p>Hi {{ first_name | default("there") }}{% if city %} from {{ city }}{% endif %}</p>
      {% if tags %}<ul class="tags">{% for tag in tags %}<li>{{ tag }}</li>{% endfor %}</ul>{% endif %}
      <a id="cta" href="{{ unsubscribe_url }}">Unsubscribe</a>
    </td></tr><tr><td class="footer"><a href="mailto:{{ agent_email }}">{{ agent_name }}</a></td></tr></table></body></html>"""
    assert css.inline_css_into_source(body) is not None
    once = [render_email("", body, "", context(**lead)).html for lead in ({}, {"tags": [], "city": None})]
    monkeypatch.setattr(css, "inline_css_into_source", lambda source: None)
    every_render = [render_email("", body, "", context(**lead), cache_key="every-render").html for lead in ({}, {"tags": [], "city": None})]
    assert [styled_elements(html) for html in once] == [styled_elements(html) for html in every_render]
    assert ("li", "margin: 0;") in styled_elements(once[0])


CSS = (
    "<style>p { color: red } .a p { margin: 1px } .b { padding: 2px } div > span { font-weight: bold } #x { color: blue }"
    " td { border: 0 } li b { color: green } * { line-height: 1 } a { color: pink }</style>"
)
FRAGMENTS = [
    "<html>",
    "<head>",
    "</head>",
    "<body>",
    "<title>",
    "</title>",
    "<meta charset=utf-8>",
    "<p>",
    "</p>",
    "<div class=a>",
    "<div class=b>",
    "</div>",
    "<span id=x>",
    "</span>",
    "<ul>",
    "</ul>",
    "<li>",
    "</li>",
    "<table>",
    "</table>",
    "<tbody>",
    "<tr>",
    "</tr>",
    "<td>",
    "</td>",
    "<b>",
    "</b>",
    "<h1>",
    "</h1>",
    "<br>",
    '<a href="{{ unsubscribe_url }}">',
    "</a>",
    "{% if city %}",
    "{% else %}",
    "{% endif %}",
    "{% for t in tags %}",
    "{% endfor %}",
    "{{ t }}",
    "{{ first_name }}",
    "text",
    " ",
    "&amp;",
    "<!-- note -->",
    "{# note #}",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=16), st.sampled_from([{}, {"city": None, "tags": []}, {"tags": list("abc")}]))
def test_css_inlined_once_gives_the_same_email_as_inlining_every_render_for_any_template(fragments, lead):
    body = CSS + "".join(fragments)
    assume(check_syntax(body) is None)
    once = render_email("", body, "", context(**lead)).html
    with mock.patch.object(css, "inline_css_into_source", return_value=None):
        every_render = render_email("", body, "", context(**lead), cache_key=("every render", body)).html
    assert styled_elements(once) == styled_elements(every_render)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("<style>li:first-child { color: red }</style><ul>{% for t in tags %}<li>{{ t }}</li>{% endfor %}</ul>", id="pseudo"),
        pytest.param("<style>p + p { color: red }</style><p>a</p>{% if city %}<p>b</p>{% endif %}", id="sibling selector"),
        pytest.param("<style>.vip { color: red }</style><p class=\"{% if priority == 'high' %}vip{% endif %}\">x</p>", id="class"),
        pytest.param("<style>p { color: {{ 'red' }} }</style><p>x</p>", id="template in css"),
        pytest.param(
            "<style>.a p { color: red }</style>{% if city %}<div class=a>{% endif %}<p>x</p>{% if city %}</div>{% endif %}",
            id="if splits an element",
        ),
        pytest.param(
            "<style>td { color: red }</style><table>{% for t in tags %}<tr><td>{{ t }}</td></tr>{% endfor %}</table>",
            id="loop moved out of the table",
        ),
        pytest.param("<style>p { color: red }</style>{% macro m() %}<p>x</p>{% endmacro %}{{ m() }}", id="macro"),
    ],
)
def test_css_is_inlined_at_every_render_when_inlining_the_source_would_not_be_exact(body):
    assert css.inline_css_into_source(body) is None


def test_structural_selectors_apply_to_the_rendered_elements():
    html = html_of("<style>li:first-child { color: red }</style><ul>{% for tag in tags %}<li>{{ tag }}</li>{% endfor %}</ul>")
    assert '<li style="color: red;">vip</li><li>homeowner</li>' in html


def test_a_class_chosen_by_the_template_is_styled_per_lead():
    body = "<style>.vip { color: red }</style><p class=\"{% if priority == 'high' %}vip{% endif %}\">{{ first_name }}</p>"
    assert 'style="color: red;"' in html_of(body)
    assert 'style="color: red;"' not in html_of(body, priority="low")


# -- The text part ---------------------------------------------------------------------------------


def test_the_text_part_is_rendered_from_body_text_when_given():
    email = render_email("", "<p>Hello <b>{{ first_name }}</b></p>", "Plain {{ first_name }}", context())
    assert email.text == "Plain Ann"


def test_the_text_part_is_derived_from_the_html_when_body_text_is_empty():
    body = """<html><head><title>Not shown</title><style>p { color: red }</style><script>alert(1)</script></head>
    <body>
      <h1>Your   quote,
         {{ first_name }}</h1>
      <p>Thanks &amp; welcome to {{ company_name }}.<br>We're glad&nbsp;you're here.</p>
      <ul><li>{{ tags[0] }}</li><li>{{ tags[1] }}</li></ul>
      <p><a href="https://acme.example/quote">See your quote</a> or
         <a href="mailto:{{ agent_email }}">{{ agent_email }}</a> or <a href="#top">top</a></p>
      <table><tr><td>Cell one</td><td>Cell two</td></tr></table>
      <p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
    </body></html>"""
    email = render_email("", body, "  ", context())
    assert email.text == (
        "Your quote, Ann\n"
        "\n"
        "Thanks & welcome to Acme Insurance.\n"
        "We're glad you're here.\n"
        "\n"
        "* vip\n"
        "* homeowner\n"
        "\n"
        "See your quote (https://acme.example/quote) or bob@acme.example or top\n"
        "\n"
        "Cell one Cell two\n"
        "\n"
        "Unsubscribe (https://acme.example/u/abc)"
    )


def test_html_to_text_keeps_lead_data_as_written():
    assert html_to_text("<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>") == "<script>alert(1)</script> & co"


def test_markup_that_html_parser_rejects_does_not_break_the_text_part():
    assert html_to_text("<p>a<![foo]> b</p><![ x <p>c</p>") == "a b\n\nc"


def test_a_link_broken_over_lines_keeps_its_text():
    assert html_to_text('<a href="https://x.example">Read<br>more</a>') == "Read\nmore (https://x.example)"


def test_render_text_renders_one_unescaped_template_in_the_same_sandbox():
    assert render_text("New lead: {{ full_name }} <{{ email }}>", context()) == "New lead: Ann Lee <ann@example.com>"
    with pytest.raises(TemplateRenderError) as caught:
        render_text("{{ email.__class__ }}", context())
    assert caught.value.field == "message"


# -- The subject -----------------------------------------------------------------------------------


def test_the_subject_is_one_line_and_not_escaped():
    email = render_email("  Hi {{ first_name }},\n\n  your\tquote & more  ", "", "", context(first_name="<Ann>\r\nX"))
    assert email.subject == "Hi <Ann> X, your quote & more"


# -- Cache -----------------------------------------------------------------------------------------


def test_cached_renders_return_the_same_result():
    first = render_email("Hi {{ first_name }}", "<style>p{color:red}</style><p>{{ city }}</p>", "", context(), cache_key=(41, 1))
    second = render_email("Hi {{ first_name }}", "<style>p{color:red}</style><p>{{ city }}</p>", "", context(), cache_key=(41, 1))
    assert first == second


def test_the_cache_is_keyed_by_template_version():
    version_one = pipeline.compiled_part("body_text", "v1 {{ first_name }}", (42, 1))
    assert render_email("", "", "v2 {{ first_name }}", context(), cache_key=(42, 2)).text == "v2 Ann"
    assert render_email("", "", "v1 {{ first_name }}", context(), cache_key=(42, 1)).text == "v1 Ann"
    assert pipeline.compiled_part("body_text", "v1 {{ first_name }}", (42, 1)) is version_one


def test_a_reused_key_with_a_changed_source_is_recompiled():
    assert render_email("", "", "old {{ city }}", context(), cache_key=(43, 1)).text == "old Austin"
    assert render_email("", "", "new {{ city }}", context(), cache_key=(43, 1)).text == "new Austin"


def test_without_a_key_templates_are_cached_by_source():
    assert pipeline.compiled_part("subject", "{{ city }}!", None) is pipeline.compiled_part("subject", "{{ city }}!", None)
