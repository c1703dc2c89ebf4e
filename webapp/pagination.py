"""Cutting a list into pages: one rule for the pages and the API.

A page number below 1 is page 1. A page (HTML) past the last one shows the last one; the API answers
such a page with no items (its ``page``/``per_page`` bounds are checked before, see ``api.common``).
"""

from dataclasses import dataclass

from flask import request
from sqlalchemy import Select, func, select

from .extensions import db


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` items fill; an empty list still has one."""
    return max(-(-total // per_page), 1)


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    def context(self, name: str) -> dict:
        """The variables a list template and the ``pagination`` macro read: ``name`` (the items),
        ``total``, ``page`` and ``pages``."""
        return {name: self.items, "total": self.total, "page": self.page, "pages": self.pages}


def paginate(query: Select, page: int, per_page: int, *, clamp: bool = True, rows: bool = False) -> Page:
    """Page ``page`` (from 1) of ``query`` with ``per_page`` items, and the total count.

    ``clamp``: a page past the last one is the last one (what pages want). ``rows``: the items are
    rows of several entities (``select(Lead, LeadSegment.entered_at)``) rather than single objects.
    """
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = max(page, 1)
    if clamp:
        page = min(page, page_count(total, per_page))
    result = db.session.execute(query.limit(per_page).offset((page - 1) * per_page))
    items = result.all() if rows else result.scalars().all()
    return Page(items=list(items), total=total, page=page, per_page=per_page)


def requested_page() -> int:
    """The ``page`` a page was asked for (query string or posted form); not a number is page 1."""
    return request.values.get("page", 1, type=int)
