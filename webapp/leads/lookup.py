"""Finding a lead by what a person remembers of it: the suggestions of the lead combobox."""

from sqlalchemy import case, select

from ..extensions import db
from ..models import Lead
from .services import lead_list_query

SUGGESTIONS = 8
# What a form that takes a lead from the combobox says when none was chosen.
NO_LEAD_CHOSEN = "Choose a lead: type a name, email, phone or #id and pick it from the list."


def suggest_leads(organization_id: int, q: str, limit: int = SUGGESTIONS) -> list[Lead]:
    """The organization's leads matching ``q`` (the lead list's search: name, email, phone, city),
    newest first; an id (``42`` or ``#42``) puts that lead first."""
    q = q.strip()
    if not q:
        return []
    query = lead_list_query(organization_id, {"q": q})
    order = [Lead.id.desc()]
    reference = q.lstrip("#")
    if reference.isdigit() and len(reference) < 11:
        lead_id = int(reference)
        query = select(Lead).where(
            Lead.organization_id == organization_id, (Lead.id == lead_id) | Lead.id.in_(query.with_only_columns(Lead.id))
        )
        order.insert(0, case((Lead.id == lead_id, 0), else_=1))
    return list(db.session.scalars(query.order_by(*order).limit(limit)))
