"""Small assertions shared by the API tests."""

from sqlalchemy import func, select

from webapp.extensions import db


def row_counts() -> dict[str, int]:
    """The number of rows of every table: compare before/after to prove that nothing changed."""
    db.session.rollback()
    return {table.name: db.session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables}


def assert_problem(response, status: int, field: str | None = None) -> dict:
    """A problem+json response (RFC 9457) with this status; with ``field``, an error names it."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    if field is not None:
        fields = [e["field"] for e in body.get("errors") or []]
        assert field in fields, fields
    return body
