"""The template sandbox (SPEC §13): server-side template injection payloads fail with a clear error or
render harmlessly, resource bombs are refused before they allocate, and lead data is escaped in HTML.

No timing assertions (SPEC §11): every payload here is stopped by a limit, not by a clock, so the
whole file runs in well under a few seconds."""

import html as html_module
import re
from datetime import date
from decimal import Decimal

import pytest

from webapp.email_templates.rendering import TemplateRenderError, build_context, render_email, urls, validate_template

LEAD = {
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@example.com",
    "status": "new",
    "priority": "high",
    "city": "Austin",
    "value_estimate": Decimal("1200"),
    "tags": ["vip", "homeowner"],
}

# Text that would show Python internals leaking into an email.
INTERNALS = re.compile(
    r"<class |<function |<built-in |<module |<bound method|<Macro|<LoopContext|<TemplateReference|"
    r"object at 0x|__\w+__|root:|jinja2|Environment|Config",
    re.IGNORECASE,
)

INJECTIONS = {
    "subclasses walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "class of a variable": "{{ first_name.__class__ }}",
    "attr filter": "{{ ''|attr('__class__') }}",
    "attr filter chain": "{{ (first_name|attr('__class__')|attr('__base__')|attr('__subclasses__'))() }}",
    "item syntax": "{{ first_name['__class__'] }}",
    "request": "{{ request }}",
    "request internals": "{{ request.application.__globals__.__builtins__ }}",
    "config": "{{ config }}",
    "config items": "{{ config.items() }}",
    "self globals": "{{ self.__init__.__globals__ }}",
    "self": "{{ self }}",
    "cycler globals": "{{ cycler.__init__.__globals__.os }}",
    "joiner": "{{ joiner }}",
    "lipsum globals": "{{ lipsum.__globals__ }}",
    "namespace": "{{ namespace }}",
    "range internals": "{{ range.__globals__ }}",
    "range printed": "{{ range }}",
    "dict internals": "{{ dict.__base__.__subclasses__() }}",
    "format attribute walk": "{{ '{0.__class__}'.format(first_name) }}",
    "format item walk": "{{ '{0[__class__]}'.format(first_name) }}",
    "format_map": "{{ '{a.__class__}'.format_map({'a': first_name}) }}",
    "percent formatting": "{{ '%s' % first_name.__class__ }}",
    "format filter": "{{ '%s'|format(first_name.__class__) }}",
    "method printed": "{{ first_name.upper }}",
    "string method outside the list": "{{ first_name.encode() }}",
    "date method outside the list": "{{ today.replace(year=1) }}",
    "list mutation": "{{ tags.append('x') }}{{ tags }}",
    "loop object": "{% for t in tags %}{{ loop }}{% endfor %}",
    "macro printed": "{% macro m() %}x{% endmacro %}{{ m }}",
    "macro internals": "{% macro m() %}x{% endmacro %}{{ m.__call__ }}",
    "caller": "{{ caller }}",
    "builtins": "{{ __builtins__ }}",
    "billion-item range": "{% for i in range(10**9) %}x{% endfor %}",
    "huge range": "{% for i in range(10**100) %}x{% endfor %}",
    "nested range loops": "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "loop over a long string": "{% for c in 'x' * 1000000 %}{% for d in 'x' * 1000000 %}{% endfor %}{% endfor %}",
    "repeat a string": "{{ 'A' * 10**9 }}",
    "repeat a list": "{{ [1] * 10**9 }}",
    "tower of powers": "{{ 9**9**9 }}",
    "big power": "{{ 9**(9**9) }}",
    "decimal power": "{{ value_estimate ** 10**9 }}",
    "multiply big integers": "{% macro sq(n, k) %}{% if k %}{{ sq(n * n, k - 1) }}{% else %}{{ n }}{% endif %}{% endmacro %}"
    "{{ sq(2, 40) }}",
    "repeat a big string": "{% set x = 'a' * 1000000 %}{{ x * 1000 }}",
    "concatenate to double": "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}"
    "{{ f('ab', 40) }}",
    "add to double": "{% macro f(s, n) %}{% if n %}{{ f(s + s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ f('ab', 40) }}",
    "nested lists": "{% macro f(s, n) %}{% if n %}{{ f([s, s], n - 1) }}{% else %}{{ s }}{% endif %}{% endmacro %}{{ f('ab', 40) }}",
    "recursive macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "deep exponential macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "shallow exponential macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}",
    "output in a loop": "{% set s = 'x' * 100000 %}{% for i in range(1000) %}{{ s }}{% endfor %}",
    "output in a macro buffer": "{% macro m() %}{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}{% endmacro %}{{ m()|length }}",
    "set block": "{% set b %}{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}{% endset %}{{ b|length }}",
    "replace amplification": "{% set s = 'x' * 1000000 %}{{ s.replace('', s) }}",
    "replace filter amplification": "{% set s = 'x' * 1000000 %}{{ s|replace('', s) }}",
    "join amplification": "{% set s = 'x' * 1000000 %}{{ ([s] * 1000)|join }}",
    "join method amplification": "{% set s = 'x' * 100000 %}{{ s.join(s) }}",
    "padding": "{{ 'a'.ljust(10**9) }}",
    "center filter": "{{ 'a'|center(10**9) }}",
    "indent filter": "{% set s = 'a\\n' * 400000 %}{{ s|indent(1000) }}",
    "format width": "{{ '{:>1000000000}'.format(1) }}",
    "strftime width": "{{ today.strftime('%999999999Y') }}",
    "date format width": "{{ '{:%999999999Y}'.format(today) }}",
    "nested format width": "{{ '{:{}}'.format(1, 10**9) }}",
    "percent width": "{{ '%1000000000d' % 1 }}",
    "percent star width": "{{ '%*d' % (10**9, 1) }}",
    "format filter width": "{{ '%.999999999f'|format(1.5) }}",
    "batch fill": "{{ [1]|batch(10**9, 'x')|list }}",
    "slice count": "{% for s in [1]|slice(10**9) %}{% endfor %}",
    "sum of lists": "{{ ([tags] * 10000)|sum(start=[]) }}",
    "include": "{% include '/etc/passwd' %}",
    "import": "{% import 'os' as os %}",
    "from import": "{% from 'os' import system %}",
    "extends": "{% extends '/etc/passwd' %}",
    "autoescape off": "{% autoescape false %}{{ first_name }}{% endautoescape %}",
    "recursive loop": "{% for t in tags recursive %}{{ loop(t) }}{% endfor %}",
    "safe filter": "{{ first_name|safe }}",
    "tojson filter": "{{ tags|tojson }}",
    "random filter": "{{ tags|random }}",
    "environment": "{{ environment }}{{ context }}{{ g }}{{ session }}{{ url_for }}",
}


@pytest.mark.parametrize("part", ["subject", "body_html", "body_text"])
@pytest.mark.parametrize("payload", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injections_fail_cleanly_or_render_harmlessly(payload, part):
    sources = {"subject": "", "body_html": "", "body_text": "", part: payload}
    variables = build_context(LEAD, "Acme", None, "https://acme.example/u/1", date(2024, 5, 1))
    try:
        email = render_email(sources["subject"], sources["body_html"], sources["body_text"], variables)
    except TemplateRenderError as error:
        assert error.field == part
        assert error.message
        assert not INTERNALS.search(error.message.replace("'__", "'").replace("__'", "'"))
        return
    output = email.subject + email.html + email.text
    assert not INTERNALS.search(output)
    assert len(output) < 1_000_000


def test_a_billion_step_loop_fails_with_a_clear_error():
    with pytest.raises(TemplateRenderError, match="too much work"):
        render_email("", "", "{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}", {})


def test_a_huge_string_fails_with_a_clear_error():
    with pytest.raises(TemplateRenderError, match="larger than 1,000,000"):
        render_email("", "", "{{ 'A' * 10**9 }}", {})


def test_output_is_capped_at_one_megabyte():
    with pytest.raises(TemplateRenderError, match="larger than 1 MB"):
        render_email("", "", "{% set s = 'x' * 1000 %}{% for i in range(1000) %}{{ s }}{% endfor %}{{ s * 2 }}", {})


def test_attribute_access_to_internals_is_refused_with_a_clear_error():
    with pytest.raises(TemplateRenderError, match="access to attribute '__class__' is not allowed") as caught:
        render_email("", "", "line one\n{{ first_name.__class__ }}", {"first_name": "Ann"})
    assert caught.value.line == 2


def test_string_format_is_sandboxed():
    with pytest.raises(TemplateRenderError, match="__class__"):
        render_email("", "", "{{ '{0.__class__.__init__.__globals__}'.format(first_name) }}", {"first_name": "Ann"})
    assert render_email("", "", "{{ '{}, {:>6}!'.format(first_name, 'hi') }}", {"first_name": "Ann"}).text == "Ann,     hi!"


# -- Lead data in the HTML part --------------------------------------------------------------------

XSS_VALUES = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</p><iframe src=javascript:alert(1)>",
]

# Every way a lead value can reach the HTML output.
OUTPUTS = [
    "<p>{{ first_name }}</p>",
    '<p title="{{ first_name }}">x</p>',
    "<p title='{{ first_name }}'>x</p>",
    "<p>{{ first_name ~ '!' }}</p>",
    "<p>{{ first_name + '!' }}</p>",
    "<p>{{ '%s!' % first_name }}</p>",
    "<p>{{ '%s!'|format(first_name) }}</p>",
    "<p>{{ '{}!'.format(first_name) }}</p>",
    "<p>{{ [first_name, last_name]|join(' ') }}</p>",
    "<p>{{ first_name|replace('x', 'y') }}</p>",
    "<p>{{ first_name|upper }}</p>",
    "<p>{{ first_name|title }}</p>",
    "<p>{{ first_name|truncate(200) }}</p>",
    "<p>{{ first_name|center(100) }}</p>",
    "<p>{{ first_name|striptags }}</p>",
    "<p>{{ first_name|e }}</p>",
    "<p>{{ first_name|string }}</p>",
    "<p>{{ first_name|default('x') }}</p>",
    "<p>{{ first_name.strip() }}</p>",
    "{% macro m(v) %}<p>{{ v }}</p>{% endmacro %}{{ m(first_name) }}",
    "{% set v %}{{ first_name }}{% endset %}<p>{{ v }}</p>",
    "{% for t in tags %}<p>{{ t }}</p>{% endfor %}",
]


@pytest.mark.parametrize("body", OUTPUTS)
@pytest.mark.parametrize("value", XSS_VALUES)
def test_lead_data_arrives_escaped_in_the_html_part(body, value):
    lead = {**LEAD, "first_name": value, "last_name": value, "tags": [value]}
    variables = build_context(lead, "Acme", None, "https://u", date(2024, 5, 1))
    html = render_email("", body, "", variables).html
    assert "<script" not in html and "<img" not in html and "<svg" not in html and "<iframe" not in html
    assert "</p><" not in html.replace("</p><p>", "")
    for attribute_value in re.findall(r"""=("[^"]*"|'[^']*')""", html):
        assert "onerror" not in attribute_value or attribute_value.count(attribute_value[0]) == 2


SCRIPT_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "  javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
]


@pytest.mark.parametrize("url", SCRIPT_URLS)
@pytest.mark.parametrize(
    "body",
    [
        '<a href="{{ city }}">go</a>',
        "<a href='{{ city }}'>go</a>",
        '<a HREF = "{{ city }}">go</a>',
        '<img src="{{ city }}">',
        '<a href="{{ city[:4] }}{{ city[4:] }}">go</a>',
        '<style>a { color: red }</style><a href="{{ city }}">go</a>',
    ],
)
def test_script_urls_from_lead_data_are_neutralised_in_links(url, body):
    variables = build_context({**LEAD, "city": url}, "Acme", None, "https://u", date(2024, 5, 1))
    html = render_email("", body, "", variables).html
    for value in re.findall(r"""(?:href|src)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", html, re.IGNORECASE):
        browser_url = re.sub(r"[\x00-\x20]", "", html_module.unescape(value.strip("\"'"))).lower()
        assert not browser_url.startswith(("javascript:", "vbscript:", "data:text")), html


@pytest.mark.parametrize("name", ["href", "SRC", "Action", "formaction", "BACKGROUND", "poster", "cite", "xlink:href", "HrEf \n"])
def test_script_urls_are_neutralised_in_every_url_attribute_whatever_its_case(name):
    variables = build_context({**LEAD, "city": "javascript:alert(1)"}, "Acme", None, "https://u", date(2024, 5, 1))
    html = render_email("", f'<p style="display: block" {name}="{{{{ city }}}}" data-x="javascript:x">go</p>', "", variables).html
    assert html == f'<p style="display: block" {name}="#" data-x="javascript:x">go</p>'


def test_only_ascii_letters_end_url_attribute_names_case_insensitively():
    # neutralise_script_urls rules out an attribute by the last two letters of its name, lowercased,
    # before matching the names case-insensitively: no other character may match those letters.
    letters = "".join(sorted({letter for ending in urls._URL_ATTRIBUTE_ENDINGS for letter in ending}))
    pattern = re.compile(f"[{letters}]", re.IGNORECASE)
    cased = (chr(code) for code in range(0x80, 0x110000) if chr(code).lower() != chr(code) or chr(code).upper() != chr(code))
    assert [character for character in cased if pattern.fullmatch(character)] == []


@pytest.mark.parametrize(
    "body",
    [
        "<a href={{ city }}>go</a>",
        "<a href=https://x.example/{{ city }}>go</a>",
        "<p {{ city }}>x</p>",
        '<p class="a" {{ city }}="1">x</p>',
        "<{{ city }}>x</{{ city }}>",
        "<p>1 <{{ city }}>",
        "<img src=x alt={{ city }}/>",
    ],
)
def test_printing_a_value_where_escaping_cannot_contain_it_is_refused(body):
    variables = build_context({**LEAD, "city": "x onmouseover=alert(1) "}, "Acme", None, "https://u", date(2024, 5, 1))
    with pytest.raises(TemplateRenderError, match="tag") as caught:
        render_email("", body, "", variables)
    assert caught.value.field == "body_html"
    assert validate_template("", body, "")[0]["field"] == "body_html"


def test_values_in_quoted_attributes_and_text_are_accepted():
    body = '<a href="{{ city }}" title=\'{{ city }}\' {% if city %}class="c"{% endif %}>{{ city }}</a><p>1 < {{ value_estimate }}</p>'
    assert validate_template("", body, "") == []
    variables = build_context({**LEAD, "city": "x onmouseover=alert(1) \"'"}, "Acme", None, "https://u", date(2024, 5, 1))
    html = render_email("", body, "", variables).html
    assert html.startswith('<a href="x onmouseover=alert(1) &#34;&#39;" title=\'x onmouseover=alert(1) &#34;&#39;\' class="c">')


def test_ordinary_links_are_kept():
    variables = build_context({**LEAD, "city": "https://example.com/a?b=1&c=2"}, "Acme", None, "https://u", date(2024, 5, 1))
    body = '<a href="{{ city }}">go</a><a href="mailto:{{ email }}">m</a><img src="data:image/png;base64,AAAA">'
    html = render_email("", body, "", variables).html
    assert html == (
        '<a href="https://example.com/a?b=1&amp;c=2">go</a><a href="mailto:ann@example.com">m</a><img src="data:image/png;base64,AAAA">'
    )


def test_lead_data_is_not_escaped_in_the_subject_and_text():
    variables = build_context({**LEAD, "first_name": "Ann & <Co>"}, "Acme", None, "https://u", date(2024, 5, 1))
    email = render_email("Hi {{ first_name }}", "", "Dear {{ first_name }}", variables)
    assert (email.subject, email.text) == ("Hi Ann & <Co>", "Dear Ann & <Co>")
