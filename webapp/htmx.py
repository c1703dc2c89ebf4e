"""Render a whole page, or only one of its blocks for an HTMX request (one template, many fragments)."""

from flask import make_response, render_template
from jinja2_fragments.flask import render_block

from .extensions import htmx


def render_page_or_fragment(template: str, block: str, **context):
    """The page for a normal request; just ``block`` of the same template for an HTMX swap."""
    if htmx and not htmx.boosted and htmx.target:
        response = make_response(render_block(template, block, **context))
    else:
        response = make_response(render_template(template, **context))
    response.headers["Vary"] = "HX-Request"
    return response
