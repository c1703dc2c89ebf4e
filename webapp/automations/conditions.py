"""Automation and step conditions: segment rules evaluated for one lead (the reference evaluator).

Activity rules (SPEC §16) need the lead's events. Inside a batch of runs (``batching.batch()``, how
the engine executes up to a hundred runs in one transaction) the first condition that needs them
reads the events of every lead the batch has loaded, in one query, and keeps them for the batch (the
batch's own new events are not flushed before it ends, as with the SQL the segments run). Outside a
batch, one query reads the one lead's events of the types its rules name.
"""

from ..batching import in_batch, memo
from ..extensions import db
from ..models import Lead, utcnow
from ..segments.activity import ActivityEvent
from ..segments.rules import activity_event_types, evaluate_rules, lead_field_values, validate_rules
from ..segments.services import lead_activity, rule_references

MAX_PRELOADED_LEADS = 1000  # leads of the session whose events one batch query reads


def lead_matches(conditions: dict | None, lead: Lead, empty_means: bool = True) -> bool:
    """Do the lead's fields (and events) satisfy ``{"match_all", "rules"}``? No rules means no condition."""
    raw_rules = (conditions or {}).get("rules") or []
    if not raw_rules:
        return empty_means
    rules, errors = validate_rules(raw_rules)
    if errors:  # conditions are validated on save; a rule that no longer validates never matches
        return False
    event_types = activity_event_types(rules)
    events = events_of(lead, event_types) if event_types else None
    match_all = bool((conditions or {}).get("match_all", True))
    return evaluate_rules(rules, match_all, lead_field_values(lead), set(lead.tags), utcnow(), events)


def events_of(lead: Lead, event_types: set[str]) -> list[ActivityEvent]:
    """The lead's events of these types: from the batch's store, filled for all its leads at once."""
    if not in_batch():
        return lead_activity(lead.organization_id, [lead.id], event_types).get(lead.id, [])
    store = memo(("activity_events", lead.organization_id), lambda: {"read": set(), "events": {}})
    missing = {event_type for event_type in event_types if (lead.id, event_type) not in store["read"]}
    if missing:
        lead_ids = [lead.id, *(i for i in _session_lead_ids() if i != lead.id)][:MAX_PRELOADED_LEADS]
        lead_ids = [i for i in lead_ids if any((i, event_type) not in store["read"] for event_type in missing)]
        for lead_id, events in lead_activity(lead.organization_id, lead_ids, missing).items():
            store["events"].setdefault(lead_id, []).extend(event for event in events if (lead_id, event.event_type) not in store["read"])
        store["read"] |= {(i, event_type) for i in lead_ids for event_type in missing}
    return [event for event in store["events"].get(lead.id, []) if event.event_type in event_types]


def _session_lead_ids() -> list[int]:
    """The ids of the leads the session holds: in a batch, the leads of its runs (read in one query
    before the runs are walked). The query keeps to the organization."""
    return sorted(key[1][0] for key in db.session.identity_map.keys() if key[0] is Lead)


def validate_conditions(conditions, prefix: str, organization_id: int | None = None) -> list[dict]:
    """Errors of a conditions object, with fields like ``conditions.rules[0].value``. With the
    organization, the templates and automations activity rules name must be its own."""
    if conditions in (None, {}):
        return []
    if not isinstance(conditions, dict):
        return [{"field": prefix, "message": "must be an object with match_all and rules"}]
    errors = []
    unknown = set(conditions) - {"match_all", "rules"}
    for key in sorted(unknown):
        errors.append({"field": f"{prefix}.{key}", "message": "unknown field"})
    if not isinstance(conditions.get("match_all", True), bool):
        errors.append({"field": f"{prefix}.match_all", "message": "must be true or false"})
    raw_rules = conditions.get("rules", [])
    if not isinstance(raw_rules, list):
        return errors + [{"field": f"{prefix}.rules", "message": "must be a list"}]
    _, rule_errors = validate_rules(raw_rules, rule_references(organization_id) if organization_id is not None else None)
    return errors + [{**e, "field": f"{prefix}.{e['field']}"} for e in rule_errors]
