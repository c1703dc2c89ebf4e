"""CSS inlining: the HTML part's own ``<style>`` rules written into ``style`` attributes for mail clients.

Done once per template version, into the source, when that gives the same email as inlining every
rendered email (``inline_css_into_source``); otherwise into every rendered email (``inline_css``).
The inliner never loads a stylesheet (``<link>`` or ``@import``, remote or ``file:``): there is no
base URL to resolve one against.
"""

import re

import css_inline

from .placeholders import (
    PLACEHOLDER_PATTERN,
    MarkupSurvey,
    blocks_enclose_whole_elements,
    construct_kind,
    mark_constructs,
    restore_constructs,
)

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
STYLE_TAG = re.compile(r"<style[\s>]", re.IGNORECASE)
_INLINE_SAFE_STATEMENTS = frozenset({"if", "elif", "else", "endif", "for", "endfor", "set"})
_STATIC_SELECTOR = re.compile(r"[\w\s.#>,*-]*")
_SELECTOR_ATTRIBUTES = frozenset({"class", "id", "style"})


def inline_css(html: str) -> str:
    """``html`` with its ``<style>`` rules inlined; CSS the inliner cannot parse is left to the mail client."""
    if not STYLE_TAG.search(html):
        return html
    try:
        return _INLINER.inline(html)
    except (css_inline.InlineError, ValueError):
        return html


def inline_css_into_source(source: str) -> str | None:
    """The template source with its ``<style>`` rules inlined, or None when that would not be exact.

    Inlining once per version gives the same email as inlining every render when the elements the
    CSS selects are the same in the source as in any output: the CSS is static, it selects by tag,
    class and id through ancestors only (no pseudo-classes, attribute or sibling selectors: loops
    change siblings), the template syntax sits in text or in other attributes (``{{ ... }}`` always
    prints text, never elements), every ``if``/``for`` encloses whole elements, no macro or block
    moves elements elsewhere, and the HTML parser moved none of the template syntax. That syntax is
    swapped for placeholders around the inliner and put back afterwards.
    """
    marking = mark_constructs(source)
    if marking is None:
        return None
    marked, constructs = marking
    kinds = [construct_kind(construct) for construct in constructs]
    if any(kind not in _INLINE_SAFE_STATEMENTS | {"expression", "comment"} for kind in kinds):
        return None
    if re.search("</?\\s*\ue000", marked):
        return None  # template syntax as a tag name
    try:
        before = MarkupSurvey(marked)
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
    found = [int(index) for index in PLACEHOLDER_PATTERN.findall(inlined)]
    if found != list(range(len(constructs))):
        return None  # moved or dropped by the parser
    try:
        after = MarkupSurvey(inlined)
    except AssertionError:
        return None
    ignored = {"html", "tbody"} | (set() if re.search(r"<body[\s>]", source, re.I) else {"head", "body"})
    for index, stack in before.text_stacks.items():
        if _without(stack, ignored) != _without(after.text_stacks.get(index, ()), ignored):
            return None
    if not blocks_enclose_whole_elements(kinds, before.text_stacks):
        return None
    return restore_constructs(inlined, constructs)


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
