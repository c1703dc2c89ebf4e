"""Automation and step conditions: segment rules evaluated for one lead (the reference evaluator)."""

from ..models import Lead, utcnow
from ..segments.rules import evaluate_rules, lead_field_values, validate_rules


def lead_matches(conditions: dict | None, lead: Lead, empty_means: bool = True) -> bool:
    """Do the lead's fields satisfy ``{"match_all", "rules"}``? No rules means no condition."""
    raw_rules = (conditions or {}).get("rules") or []
    if not raw_rules:
        return empty_means
    rules, errors = validate_rules(raw_rules)
    if errors:  # conditions are validated on save; a rule that no longer validates never matches
        return False
    return evaluate_rules(rules, bool((conditions or {}).get("match_all", True)), lead_field_values(lead), set(lead.tags), utcnow())


def validate_conditions(conditions, prefix: str) -> list[dict]:
    """Errors of a conditions object, with fields like ``conditions.rules[0].value``."""
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
    _, rule_errors = validate_rules(raw_rules)
    return errors + [{**e, "field": f"{prefix}.{e['field']}"} for e in rule_errors]
