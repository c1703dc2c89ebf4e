"""The email template renderer (SPEC §6, §13): untrusted Jinja in, a subject, HTML and text out.

Pure: plain arguments in, a ``RenderedEmail`` out; no Flask app, request or database. One module
per job, each readable on its own:

- ``pipeline``: ``render_email`` and ``render_text``, the compiled-template cache;
- ``sandbox``: the sandboxed Jinja environment (with ``budget``, ``values``, ``operators`` and
  ``filters``: what a template may do, and the steps, sizes and time one render may spend);
- ``context``: the variables of one lead (``build_context``) or of a preview (``sample_context``);
- ``html_checks``: syntax errors with their lines, and where the HTML part may print values;
- ``css``: the ``<style>`` rules inlined, once per template version when that is exact;
- ``urls``: script URLs in rendered HTML replaced by ``#``;
- ``text``: the text part derived from the HTML part (inscriptis), once per template version
  where the source allows it.

Every failure is a ``TemplateRenderError`` naming the part and line. A missing lead value (None)
renders as an empty string, counts as missing for ``default`` (``{{ first_name | default("there")
}}``) and behaves as ``""`` in string filters and methods. An unknown variable renders empty too
and is listed in ``RenderedEmail.missing_variables``.
"""

from .budget import MAX_TEMPLATE_CHARS
from .context import LEAD_FIELDS, build_context, sample_context
from .errors import TemplateRenderError
from .html_checks import TEMPLATE_FIELDS, check_html_placement, check_syntax, validate_template
from .pipeline import RenderedEmail, render_email, render_text
from .text import html_to_text

__all__ = [
    "LEAD_FIELDS",
    "MAX_TEMPLATE_CHARS",
    "TEMPLATE_FIELDS",
    "RenderedEmail",
    "TemplateRenderError",
    "build_context",
    "check_html_placement",
    "check_syntax",
    "html_to_text",
    "render_email",
    "render_text",
    "sample_context",
    "validate_template",
]
