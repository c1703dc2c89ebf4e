"""A template's Jinja syntax swapped for placeholders, and where those placeholders sit in its markup.

Work done once per template version (inlining its CSS, deriving its text part) runs on the HTML
source with every ``{{ ... }}``, ``{% ... %}`` and ``{# ... #}`` replaced by a placeholder of
private-use characters, then puts the syntax back. Where each placeholder ended up (``MarkupSurvey``
for the CSS; lxml's tree for the text) tells whether working on the source gives the same result as
working on every rendered email.
"""

import re
from html.parser import HTMLParser

JINJA_CONSTRUCT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
PLACEHOLDER = "\ue000{}\ue001"
PLACEHOLDER_PATTERN = re.compile("\ue000(\\d+)\ue001")
PRIVATE_CHARACTERS = re.compile("[\ue000-\ue01f]")  # placeholders and the markers of ``text``
_STATEMENT_KEYWORD = re.compile(r"\{%[-+]?\s*(\w+)")
_VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_HEAD_TAGS = frozenset("html head base link meta noscript script style template title".split())


def construct_kind(construct: str) -> str:
    """``expression``, ``comment``, ``set-block`` or the statement's keyword (``if``, ``endfor``...)."""
    if construct.startswith("{{"):
        return "expression"
    if construct.startswith("{#"):
        return "comment"
    match = _STATEMENT_KEYWORD.match(construct)
    keyword = match.group(1) if match else ""
    if keyword == "set" and "=" not in construct:
        return "set-block"
    return keyword


def mark_constructs(source: str) -> tuple[str, list[str]] | None:
    """``source`` with each Jinja construct replaced by a numbered placeholder, and the constructs
    in order; None if the source already holds private-use characters."""
    if PRIVATE_CHARACTERS.search(source):
        return None
    constructs: list[str] = []

    def hold(match: re.Match) -> str:
        constructs.append(match.group())
        return PLACEHOLDER.format(len(constructs) - 1)

    return JINJA_CONSTRUCT.sub(hold, source), constructs


def restore_constructs(text: str, constructs: list[str]) -> str:
    return PLACEHOLDER_PATTERN.sub(lambda match: constructs[int(match.group(1))], text)


def placeholders_in(text: str | None) -> list[int]:
    return [int(index) for index in PLACEHOLDER_PATTERN.findall(text or "")]


def blocks_enclose_whole_elements(kinds: list[str], stacks: dict) -> bool:
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


class MarkupSurvey(HTMLParser):
    """Where the placeholders of a marked-up template sit, as html.parser reads it: in text (with
    the open elements around them), in a tag's attribute, in a comment, or in <style>/<script>;
    and the CSS of <style>."""

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

    def handle_starttag(self, tag, attrs):
        self.handle_startendtag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.body_started = self.body_started or tag not in _HEAD_TAGS
        for name, value in attrs:
            self.in_tags.update(dict.fromkeys(placeholders_in(name)))
            self.in_tags.update(dict.fromkeys(placeholders_in(value), name))

    def handle_endtag(self, tag):
        if tag in self.stack:
            del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag) :]

    def handle_data(self, data):
        inside = self.stack[-1] if self.stack else None
        if inside in ("style", "script"):
            self.in_raw_text.update(placeholders_in(data))
            if inside == "style":
                self.css.append(data)
            return
        placeholders = placeholders_in(data)
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
        self.in_comments.update(placeholders_in(data))

    def unknown_decl(self, data):
        self.in_raw_text.update(placeholders_in(data))
