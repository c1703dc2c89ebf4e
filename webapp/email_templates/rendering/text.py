"""The text part derived from the HTML part, when a template has no text part of its own.

``html_to_text`` converts a rendered HTML part with inscriptis (on lxml's parser): blocks, line
breaks, headings, list items and table rows become lines, links read "text (url)", scripts, styles
and the ``<title>`` are dropped, entities decoded and whitespace collapsed. Attributes (``style``,
``align``) are ignored, so that the text does not depend on the CSS and a huge margin cannot blow
it up.

Converting every rendered email costs far more than rendering it, so ``text_template_source``
converts the HTML *template* once per version instead, with its Jinja syntax swapped for
placeholders (``placeholders``), and puts the syntax back: the result is a text template that
renders each lead's text part directly, printing values as the HTML would show them
(``DerivedTextSandbox``). It gives the same lines as converting each rendered email, in the same
order; only where a value is empty may a blank line more or less separate them. Where the source
does not tell (template syntax in a row of several cells, between the items of a numbered list, in a
list item or a link that holds blocks, in preformatted text; an if/for sharing its lines with text;
syntax the HTML parser would move; a table written on the line of the text before it), it returns
None, and the pipeline converts every rendered email instead.
"""

import re

from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.html_properties import Display
from inscriptis.model.config import ParserConfig
from inscriptis.model.html_element import HtmlElement
from lxml.etree import Comment, ParserError
from lxml.html import HTMLParser, document_fromstring

from .errors import TemplateRenderError
from .placeholders import (
    PLACEHOLDER_PATTERN,
    PRIVATE_CHARACTERS,
    blocks_enclose_whole_elements,
    construct_kind,
    mark_constructs,
    placeholders_in,
    restore_constructs,
)
from .sandbox import EmailSandbox
from .urls import is_script_url
from .values import output_text

# Markers written around each link while converting, resolved into "text (url)" once the values
# are in (``finish_text``), and the mark of a derived line that printed only values.
_LINK_TEXT, _LINK_URL, _LINK_END = "\ue010", "\ue011", "\ue012"
_LINK = re.compile("\ue010([^\ue010-\ue012]*)\ue011([^\ue010-\ue012]*)\ue012")
_ONLY_VALUES = "\ue013"
_AMPERSAND = "\ue014"  # stands for "&" while inscriptis converts
_MARKERS = (_LINK_TEXT, _LINK_URL, _LINK_END, _ONLY_VALUES)
_INVISIBLE = " " + "".join(_MARKERS)
# What lxml cannot parse (NUL, lone surrogates): dropped from the HTML and the values alike.
_UNPARSABLE = re.compile("[\x00\ud800-\udfff]")
# What a printed value must lose to read as the HTML shows it, on one line: whitespace other than
# a space (str.isspace(), as inscriptis sees it), markers, and what lxml drops.
_IRREGULAR = re.compile("[\t\n\x0b\x0c\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00\ud800-\udfff\ue000-\ue01f]")
_XML_DECLARATION = re.compile(r"^\s*<\?xml [^>]*\?>")  # lxml refuses it in a str

_CSS = {
    **CSS_PROFILES["strict"],
    "template": HtmlElement(display=Display.none),
    "noscript": HtmlElement(display=Display.none),
}


def _config() -> ParserConfig:
    config = ParserConfig(css=_CSS)
    config.attribute_handler.attribute_mapping = {}  # no style="margin-top: 99999px" in the text
    return config


_CONFIG = _config()


def html_to_text(html: str) -> str:
    """A plain-text version of a rendered email's HTML (see the module docstring)."""
    text = _convert(PRIVATE_CHARACTERS.sub("", _UNPARSABLE.sub("", html)))
    if text is None:
        raise TemplateRenderError("the HTML cannot be turned into text (elements nested too deeply?); write a text part", field="body_text")
    return finish_text(_collapse_whitespace(text))


def finish_text(text: str) -> str:
    """Text whose only whitespace is spaces and line breaks, finished: links as "text (url)", lines
    that printed only empty values removed, runs of spaces collapsed, one blank line at most.

    Written with ``str`` methods rather than regular expressions where it can: this runs for
    every email, and each regular expression pass costs as much as printing a few values."""
    links = text.count(_LINK_TEXT)
    while links:  # a link inside a link: the inner one first
        text, resolved = _LINK.subn(_link_with_url, text)  # each resolved link loses its _LINK_TEXT
        if not resolved:
            break
        links -= resolved
    if _ONLY_VALUES in text:
        text = _without_empty_lines_of_values(text)  # and without _ONLY_VALUES
    for marker in (_LINK_URL, _LINK_END) if links == 0 else (_LINK_TEXT, _LINK_URL, _LINK_END):
        if marker in text:
            text = text.replace(marker, "")
    text = _squeezed(text)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def _squeezed(text: str) -> str:
    """``text`` without runs of spaces, nor spaces at the start or end of a line."""
    for run, single in (("  ", " "), (" \n", "\n"), ("\n ", "\n")):
        while run in text:
            text = text.replace(run, single)
    return text


def _without_empty_lines_of_values(text: str) -> str:
    """``text`` without the lines marked _ONLY_VALUES that hold nothing visible, nor the marks."""
    pieces, done = [], 0
    marker = text.find(_ONLY_VALUES)
    while marker >= 0:
        start = text.rfind("\n", 0, marker) + 1
        end = text.find("\n", marker)
        end = len(text) if end < 0 else end
        if not text[start:end].strip(_INVISIBLE):
            pieces.append(text[done:start])
            done = end + 1
            marker = text.find(_ONLY_VALUES, end)
        else:  # a line to keep, without its marks
            pieces.append(text[done:marker])
            done = marker + 1
            marker = text.find(_ONLY_VALUES, done)
    pieces.append(text[done:])
    return "".join(pieces)


def _collapse_whitespace(text: str) -> str:
    """Each line's whitespace (inscriptis's indentation and table padding) as single spaces."""
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


def _link_with_url(match: re.Match) -> str:
    # The URL and the text shown as " ".join(....split()), not split when they read so already: every
    # whitespace character but the space is unprintable. _ONLY_VALUES is the only marker a text can hold.
    text, url = match.groups()
    if " " in url or not url.isprintable():
        url = " ".join(url.split())
    shown = text.replace(_ONLY_VALUES, "") if _ONLY_VALUES in text else text
    if " " in shown and ("  " in shown or shown[0] == " " or shown[-1] == " ") or not shown.isprintable():
        shown = " ".join(shown.split())
    if not url or url[0] == "#" or url == shown or url == "mailto:" + shown:
        return text
    if not url.startswith(("https://", "http://", "mailto:")) and is_script_url(url):
        return text
    return f"{text} ({url})" if shown else url


def _convert(html: str) -> str | None:
    """inscriptis's text of ``html``, with each link's text and URL between markers; None if lxml
    cannot read all of it."""
    try:
        tree = _parse(html)
    except ValueError:
        return None
    return "" if tree is None else _convert_tree(tree)


def _parse(html: str):
    """lxml's tree of ``html``, None for a document without elements; ValueError if lxml refuses it
    or would leave part of it out (elements nested more than 255 deep)."""
    html = _XML_DECLARATION.sub("", html, count=1).strip()
    parser = HTMLParser()
    try:
        tree = document_fromstring(html, parser=parser) if html else None
    except ParserError:  # "Document is empty": only end tags, comments...
        return None
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        raise ValueError("the HTML is nested too deeply")
    return tree


def _convert_tree(tree) -> str:
    """inscriptis's text of an lxml tree, which it changes (see ``_convert``)."""
    for element in tree.iter():
        # inscriptis decodes entities again in text lxml has already decoded (once more per table
        # around it: "&amp;lt;" would become "<"), so it is given no "&" to decode.
        if element.text and element.tag is not Comment:
            element.text = element.text.replace("&", _AMPERSAND)
        if element.tail:
            element.tail = element.tail.replace("&", _AMPERSAND)
    for link in tree.iter("a"):
        url = link.get("href")
        if url and url.strip():
            link.text = _LINK_TEXT + (link.text or "")
            link.tail = _LINK_URL + url.replace("&", _AMPERSAND) + _LINK_END + (link.tail or "")
    return Inscriptis(tree, _CONFIG).get_text().replace(_AMPERSAND, "&")


# -- The text template derived from the HTML template ----------------------------------------------

_TEXT_SAFE_KINDS = frozenset({"expression", "comment", "if", "elif", "else", "endif", "for", "endfor", "set"})
_HIDDEN = frozenset({"head", "title", "script", "style", "template", "noscript"})
_PREFORMATTED = frozenset({"pre", "xmp", "listing", "plaintext", "textarea"})
# Elements whose text an HTML parser moves elsewhere (before the table), or that number their items.
_MOVED_OR_NUMBERED = frozenset({"table", "thead", "tbody", "tfoot", "tr", "colgroup", "select", "ol"})
_INLINE = frozenset(
    "a abbr b bdi bdo big cite code data del dfn em font i img ins kbd mark q s samp small span strike strong "
    "sub sup time tt u var wbr".split()
)


def text_template_source(body_html: str) -> str | None:
    """The source of a text template that renders the text part of ``body_html``'s emails, or None
    when that cannot be derived from the HTML template (see the module docstring)."""
    marking = mark_constructs(body_html)
    if marking is None:
        return None
    marked, constructs = marking
    kinds = [construct_kind(construct) for construct in constructs]
    if any(kind not in _TEXT_SAFE_KINDS for kind in kinds):
        return None
    if any(construct[2] in "-+" or construct[-3] in "-+" for construct in constructs):
        return None  # whitespace control: it would strip the derived text's line breaks
    try:
        tree, without_syntax = _parse(marked), _parse(PLACEHOLDER_PATTERN.sub("", marked))
    except ValueError:
        return None
    if tree is None or without_syntax is None or _shape(tree) != _shape(without_syntax):
        return None  # the parser builds other elements when the syntax prints nothing (text in <head>...)
    if any(_holds_blocks(link, but={"br"}) for link in tree.iter("a")):
        return None  # its text and URL would be laid out around the blocks
    if any(_continues_a_line(table) for table in tree.iter("table")):
        return None  # its first line joins the text before it, without the space a value may start with
    if not _tables_are_whole(tree):
        return None
    places = _places(tree)
    if places is None or not _placeholders_stay_put(places, kinds):
        return None
    if not blocks_enclose_whole_elements(kinds, {index: around for index, (_, around) in places.items()}):
        return None
    text = _convert_tree(tree)
    found = placeholders_in(text)
    statements = {index for index, kind in enumerate(kinds) if kind not in ("expression", "comment")}
    if len(found) != len(set(found)) or not statements <= set(found) or "{" in text:
        return None  # text that Jinja would read as its own syntax
    in_source = _enclosing_blocks(range(len(kinds)), kinds)
    in_text = _enclosing_blocks(found, kinds)
    if in_text is None or any(in_text[index] != in_source[index] for index in found):
        return None  # moved out of its if/for, or into another
    lines = _collapse_whitespace(text).split("\n")
    if not _blocks_keep_to_their_lines(lines, kinds):
        return None
    return restore_constructs("".join(_derived_line(line, kinds) for line in lines), constructs)


def _blocks_keep_to_their_lines(lines: list[str], kinds: list[str]) -> bool:
    """True if each if/for block of the converted text sits within one line, or has each of its
    statements on a line of statements alone: otherwise the line breaks that blocks inside it make
    would come and go with it."""
    line_of, alone = {}, set()
    for number, line in enumerate(lines):
        found = placeholders_in(line)
        line_of.update(dict.fromkeys(found, number))
        if found and not PRIVATE_CHARACTERS.sub("", PLACEHOLDER_PATTERN.sub("", line)).strip():
            if all(kinds[index] != "expression" for index in found):
                alone.add(number)
    blocks: list[list[int]] = []
    for index, kind in enumerate(kinds):
        if kind in ("if", "for"):
            blocks.append([index])
        elif kind in ("elif", "else", "endif", "endfor"):
            blocks[-1].append(index)
            if kind.startswith("end"):
                statements = {line_of[statement] for statement in blocks.pop()}
                if len(statements) > 1 and not statements <= alone:
                    return False
    return True


def _shape(tree) -> list[tuple]:
    """The elements of ``tree`` in document order, each with its number of children."""
    return [(element.tag, len(element)) for element in tree.iter()]


def _places(tree) -> dict[int, tuple[str, tuple]] | None:
    """Where each placeholder is in ``tree``: ``("text", the elements around it, innermost first)``
    or ``("markup", ())`` (an attribute, a comment); None if the parser copied one."""
    places: dict[int, tuple[str, tuple]] = {}

    def note(text: str | None, place: tuple[str, tuple]) -> bool:
        for index in placeholders_in(text):
            if index in places:
                return False
            places[index] = place
        return True

    for element in tree.iter():
        if isinstance(element.tag, str):
            attributes = " ".join(f"{name} {value}" for name, value in element.attrib.items())
            noted = note(attributes, ("markup", ())) and note(element.text, ("text", (element, *element.iterancestors())))
        else:
            noted = note(element.text, ("markup", ()))
        if not noted or not note(element.tail, ("text", tuple(element.iterancestors()))):
            return None
    return places


def _placeholders_stay_put(places: dict[int, tuple[str, tuple]], kinds: list[str]) -> bool:
    """True if every placeholder sits where the conversion lays out the lines around it the same
    whatever it prints: statements in visible text only; nothing in text a parser moves out of a
    table, between the items of a numbered list, in preformatted text, in a row of several cells
    (whose lines are laid side by side) or in a list item that also holds blocks (whose bullet
    goes to its first line that is not empty)."""
    if set(places) != set(range(len(kinds))):
        return False  # somewhere the parser drops (<!DOCTYPE ...>)
    for index, kind in enumerate(kinds):
        where, around = places[index]
        statement = kind not in ("expression", "comment")
        if where != "text":
            if statement:
                return False
            continue
        tags = [element.tag for element in around]
        if statement and _HIDDEN.intersection(tags):
            return False
        if not tags or tags[0] in _MOVED_OR_NUMBERED or _PREFORMATTED.intersection(tags):
            return False
        for element in around:
            if element.tag in ("td", "th") and sum(cell.tag in ("td", "th") for cell in element.getparent()) > 1:
                return False
            if element.tag == "li" and _holds_blocks(element):
                return False
    return True


def _continues_a_line(element) -> bool:
    """True if text or an inline element comes right before ``element``, in it or in an inline
    parent: inscriptis then writes the element's first line on the line of that text."""
    for previous in element.itersiblings(preceding=True):
        if (previous.tail or "").strip():
            return True
        if isinstance(previous.tag, str) and not _hidden(previous.tag):
            return not (previous.tag in ("br", "table") or _starts_lines(previous.tag))
    parent = element.getparent()
    if parent is None or _starts_lines(parent.tag):
        return bool(parent is not None and (parent.text or "").strip())
    return bool((parent.text or "").strip()) or _continues_a_line(parent)


def _tables_are_whole(tree) -> bool:
    """True if every cell is in a row and every row in a table (lxml does not make them up)."""
    return all(cell.getparent().tag == "tr" for cell in tree.iter("td", "th")) and all(
        row.getparent().tag in ("table", "thead", "tbody", "tfoot") for row in tree.iter("tr")
    )


def _starts_lines(tag: str) -> bool:
    return tag in ("td", "th") or (tag in _CSS and _CSS[tag].display == Display.block)


def _hidden(tag: str) -> bool:
    return tag in _CSS and _CSS[tag].display == Display.none


def _holds_blocks(element, but: set = frozenset()) -> bool:
    """True if ``element`` holds an element other than inline ones (and ``but``): a block, a <br>."""
    return any(isinstance(inner.tag, str) and inner.tag not in _INLINE and inner.tag not in but for inner in element.iterdescendants())


def _enclosing_blocks(order, kinds: list[str]) -> dict[int, tuple] | None:
    """For each placeholder, in ``order``: the if/for blocks (and branches) it sits in; None if
    the statements in that order do not nest."""
    open_blocks: list[tuple[int, int]] = []  # (the if/for, the branch it is in)
    enclosing = {}
    for index in order:
        kind = kinds[index]
        if kind in ("elif", "else", "endif", "endfor"):
            if not open_blocks:
                return None
            opening = open_blocks.pop()[0]
            if kind in ("elif", "else"):
                open_blocks.append((opening, index))
        enclosing[index] = tuple(open_blocks)
        if kind in ("if", "for"):
            open_blocks.append((index, index))
    return enclosing


def _derived_line(line: str, kinds: list[str]) -> str:
    """A converted line and its line break as the derived text template writes them. A line of
    placeholders alone prints nothing when its values are empty, where a rendered email has no line
    at all: a line of statements alone loses its line break, one that prints values is marked for
    ``finish_text`` to drop when they print nothing."""
    found = placeholders_in(line)
    if not found or PRIVATE_CHARACTERS.sub("", PLACEHOLDER_PATTERN.sub("", line)).strip():
        return line + "\n"
    if all(kinds[index] != "expression" for index in found):
        return line.replace(" ", "")
    return line + _ONLY_VALUES + "\n"


def _as_html_shows(value) -> str:
    """``{{ value }}`` in a derived text template: as the HTML part shows it, on one line."""
    text = output_text(value)
    if not text.isprintable() and _IRREGULAR.search(text):  # every character _IRREGULAR matches is unprintable
        text = _IRREGULAR.sub(lambda match: " " if match.group().isspace() else "", text)
    return text


class DerivedTextSandbox(EmailSandbox):
    """The sandbox of derived text templates: unescaped, printing values as ``_as_html_shows``."""

    output_text = staticmethod(_as_html_shows)
    text_as_is = "{}.isprintable()"  # _as_html_shows returns a printable str as it is


TEXT_FROM_HTML_ENV = DerivedTextSandbox(autoescape=False)
