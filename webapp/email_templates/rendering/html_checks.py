"""Checks on a template's source, before it is saved or rendered: does it compile, and does its HTML
part print values only where escaping keeps lead data from becoming markup."""

import re
from html.parser import HTMLParser

from jinja2 import TemplateSyntaxError

from .budget import MAX_TEMPLATE_CHARS
from .placeholders import JINJA_CONSTRUCT
from .sandbox import PLAIN_ENV

TEMPLATE_FIELDS = ("subject", "body_html", "body_text")


def check_syntax(source: str) -> str | None:
    """None if ``source`` compiles, else a message such as ``line 3: unexpected '}'``."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return f"the template is longer than {MAX_TEMPLATE_CHARS:,} characters"
    try:
        PLAIN_ENV.compile(source)
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
    misplaced = misplaced_output(body_html)
    return f"line {misplaced[0]}: {misplaced[1]}" if misplaced else None


def misplaced_output(body_html: str) -> tuple[int, str] | None:
    """``(line, message)`` of the first value printed where ``check_html_placement`` refuses it."""

    def hold(match: re.Match) -> str:
        mark = _OUTPUT_IN_TAG if match.group().startswith("{{") else _STATEMENT_IN_TAG
        return mark + "\n" * match.group().count("\n")  # keep the line numbers

    marked = JINJA_CONSTRUCT.sub(hold, body_html)
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
