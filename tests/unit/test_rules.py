"""The segment rule engine (SPEC §5): every field × operator on PostgreSQL and in the Python evaluator,
value coercion and its errors, NULL semantics, relative dates, and the catalog a rule builder reads."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.dialects import postgresql

from tests.factories import make_lead, make_org
from webapp.models.leads import INSURANCE_TYPES, PRIORITIES, SOURCES, STATUSES
from webapp.segments.rules import (
    FIELD_TYPES,
    NULL_MATCHING_OPERATORS,
    OPERATORS,
    RelativeDate,
    Rule,
    compile_rules,
    evaluate_rules,
    explain,
    field_catalog,
    has_relative_dates,
    lead_field_values,
    matching_lead_ids_query,
    validate_rules,
)

UTC = timezone.utc
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


def rule(field, operator, value) -> Rule:
    rules, errors = validate_rules([{"field": field, "operator": operator, "value": value}])
    assert errors == []
    return rules[0]


def errors_of(*raw_rules) -> list[dict]:
    rules, errors = validate_rules(list(raw_rules))
    assert rules == []
    return errors


def sql_ids(org, rules, match_all=True, now=NOW) -> set[int]:
    from webapp.extensions import db

    return set(db.session.scalars(matching_lead_ids_query(rules, match_all, org.id, now)))


def python_ids(leads, rules, match_all=True, now=NOW) -> set[int]:
    return {lead.id for lead in leads if evaluate_rules(rules, match_all, lead_field_values(lead), set(lead.tags), now)}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- Every field and operator: one lead that matches, one that does not ---------------------------

ENUM_EXAMPLES = {
    "status": ("qualified", "new", "contacted"),
    "priority": ("high", "low", "urgent"),
    "source": ("referral", "website", "event"),
    "insurance_type": ("life", "auto", "home"),
}


def enum_cases():
    """For each enum field: (operator, value, matching field value, other field value)."""
    for field, (a, b, c) in ENUM_EXAMPLES.items():
        yield field, "equals", a.upper(), {field: a}, {field: b}
        yield field, "not_equals", a, {field: b}, {field: a}
        yield field, "in", f"{a}, {c}", {field: c}, {field: b}
        yield field, "not_in", [a, c], {field: b}, {field: a}


DATETIME_CASES = [
    ("greater_than", "2024-06-01", "2024-06-01T00:00:01", "2024-06-01T00:00:00"),
    ("greater_than", "2024-06-01T09:30:00+02:00", "2024-06-01T07:30:00.000001", "2024-06-01T07:30:00"),
    ("less_than", "2024-06-01T12:00:00Z", "2024-06-01T11:59:59.999999", "2024-06-01T12:00:00"),
    ("less_than", "2024-06-01", "2024-05-31T23:59:59", "2024-06-01T00:00:00"),
    ("equals", "2024-06-01", "2024-06-01T23:59:59.999999", "2024-06-02T00:00:00"),
    ("equals", "2024-06-01T18:00:00Z", "2024-06-01T00:00:00", "2024-05-31T23:59:59.999999"),
]


def datetime_cases():
    for field in ("created_at", "updated_at"):
        for operator, value, matching, other in DATETIME_CASES:
            yield field, operator, value, {field: at(matching)}, {field: at(other)}


CASES = [
    *enum_cases(),
    ("state", "equals", "tx", {"state": "TX"}, {"state": "CA"}),
    ("state", "not_equals", "TX", {"state": "CA"}, {"state": "TX"}),
    ("state", "contains", "x", {"state": "TX"}, {"state": "CA"}),
    ("state", "not_contains", "X", {"state": "CA"}, {"state": "TX"}),
    ("state", "starts_with", "n", {"state": "NY"}, {"state": "CA"}),
    ("state", "ends_with", "Y", {"state": "NY"}, {"state": "CA"}),
    ("state", "in", "tx, ca", {"state": "CA"}, {"state": "NY"}),
    ("state", "not_in", ["TX", "CA"], {"state": "NY"}, {"state": "TX"}),
    ("city", "equals", "austin", {"city": "Austin"}, {"city": "Dallas"}),
    ("city", "not_equals", "AUSTIN", {"city": "Dallas"}, {"city": "Austin"}),
    ("city", "contains", "ST", {"city": "Austin"}, {"city": "Dallas"}),
    ("city", "not_contains", "st", {"city": "Dallas"}, {"city": "Austin"}),
    ("city", "starts_with", "san", {"city": "San Antonio"}, {"city": "Austin"}),
    ("city", "ends_with", "TON", {"city": "Houston"}, {"city": "Austin"}),
    ("city", "in", ["austin", "El Paso"], {"city": "El Paso"}, {"city": "Dallas"}),
    ("city", "not_in", "austin, el paso", {"city": "Dallas"}, {"city": "Austin"}),
    ("value_estimate", "equals", "1500", {"value_estimate": Decimal("1500")}, {"value_estimate": Decimal("1500.01")}),
    ("value_estimate", "not_equals", 1500, {"value_estimate": Decimal("1499.99")}, {"value_estimate": Decimal("1500")}),
    ("value_estimate", "greater_than", "1000", {"value_estimate": Decimal("1000.01")}, {"value_estimate": Decimal("1000")}),
    ("value_estimate", "less_than", 1000, {"value_estimate": Decimal("999.99")}, {"value_estimate": Decimal("1000")}),
    ("value_estimate", "in", "1000, 2000.5", {"value_estimate": Decimal("2000.50")}, {"value_estimate": Decimal("2000")}),
    ("value_estimate", "not_in", [1000, "2000"], {"value_estimate": Decimal("999")}, {"value_estimate": Decimal("1000")}),
    *datetime_cases(),
    ("tags", "contains", "VIP", {"tags": ("vip",)}, {"tags": ("hot",)}),
    ("tags", "not_contains", "vip", {"tags": ("hot",)}, {"tags": ("hot", "vip")}),
    ("tags", "in", "vip, hot", {"tags": ("hot", "cold")}, {"tags": ("cold",)}),
    ("tags", "not_in", ["vip", "hot"], {"tags": ("cold",)}, {"tags": ("vip",)}),
]


def case_id(case) -> str:
    field, operator, value = case[:3]
    return f"{field}-{operator}-{value}"


def test_the_cases_cover_every_field_and_operator():
    covered = {(field, operator) for field, operator, *_ in CASES}
    # Activity rules read lead events, not a lead's fields: tests/segments/test_activity_rules.py.
    expected = {(field, op) for field, kind in FIELD_TYPES.items() for op in OPERATORS[kind] if kind != "activity"}
    assert covered == expected


@pytest.mark.parametrize(("field", "operator", "value", "matching", "other"), CASES, ids=map(case_id, CASES))
def test_every_field_and_operator(session, field, operator, value, matching, other):
    org = make_org()
    hit = make_lead(org, **matching)
    miss = make_lead(org, **other)
    rules = [rule(field, operator, value)]

    assert sql_ids(org, rules) == {hit.id}
    assert python_ids([hit, miss], rules) == {hit.id}


# --- NULL semantics ----------------------------------------------------------------------------

NULLABLE_CASES = [
    (field, operator, value)
    for field, operator, value, *_ in CASES
    if field in ("source", "insurance_type", "state", "city", "value_estimate")
]


@pytest.mark.parametrize(("field", "operator", "value"), NULLABLE_CASES, ids=map(case_id, NULLABLE_CASES))
def test_a_lead_without_a_value_matches_only_the_negative_operators(session, field, operator, value):
    org = make_org()
    lead = make_lead(org, **{field: None})
    rules = [rule(field, operator, value)]
    expected = {lead.id} if operator in NULL_MATCHING_OPERATORS else set()

    assert sql_ids(org, rules) == expected
    assert python_ids([lead], rules) == expected


@pytest.mark.parametrize(
    ("operator", "value", "matches"),
    [
        ("contains", "vip", False),
        ("in", "vip, hot", False),
        ("not_contains", "vip", True),
        ("not_in", "vip", True),
    ],
)
def test_a_lead_without_tags_matches_only_the_negative_tag_operators(session, operator, value, matches):
    org = make_org()
    lead = make_lead(org)
    rules = [rule("tags", operator, value)]
    expected = {lead.id} if matches else set()

    assert sql_ids(org, rules) == expected
    assert python_ids([lead], rules) == expected


def test_not_equals_matches_leads_without_a_value(session):
    org = make_org()
    without_city = make_lead(org, city=None)
    in_dallas = make_lead(org, city="Dallas")
    make_lead(org, city="Austin")
    rules = [rule("city", "not_equals", "Austin")]

    assert sql_ids(org, rules) == {without_city.id, in_dallas.id}


def test_a_missing_datetime_matches_nothing_in_the_evaluator():
    values = {"created_at": None}
    for operator in OPERATORS["datetime"]:
        assert not evaluate_rules([rule("created_at", operator, "2024-06-01")], True, values, set(), NOW)


# --- Combining rules ---------------------------------------------------------------------------


def test_a_segment_with_no_rules_matches_no_leads(session):
    org = make_org()
    lead = make_lead(org)

    for match_all in (True, False):
        assert sql_ids(org, [], match_all) == set()
        assert python_ids([lead], [], match_all) == set()
    assert str(compile_rules([], True, org.id, NOW)) == "false"


def test_match_all_joins_rules_with_and_otherwise_or(session):
    org = make_org()
    both = make_lead(org, status="new", city="Austin")
    only_status = make_lead(org, status="new", city="Dallas")
    neither = make_lead(org, status="lost", city="Dallas")
    rules = [rule("status", "equals", "new"), rule("city", "equals", "Austin")]

    assert sql_ids(org, rules, match_all=True) == {both.id}
    assert sql_ids(org, rules, match_all=False) == {both.id, only_status.id}
    assert python_ids([both, only_status, neither], rules, match_all=True) == {both.id}
    assert python_ids([both, only_status, neither], rules, match_all=False) == {both.id, only_status.id}


def test_rules_match_only_leads_of_the_given_organization(session):
    org, other_org = make_org(), make_org()
    ours = make_lead(org, status="new")
    make_lead(other_org, status="new")

    assert sql_ids(org, [rule("status", "equals", "new")]) == {ours.id}
    assert sql_ids(org, [rule("tags", "not_contains", "vip")]) == {ours.id}


# --- Text: case-insensitive and literal ----------------------------------------------------------


def test_text_operators_are_case_insensitive(session):
    org = make_org()
    lead = make_lead(org, city="SAN antonio")
    for operator, value in [
        ("equals", "san ANTONIO"),
        ("contains", "N aNt"),
        ("starts_with", "San A"),
        ("ends_with", "ONIO"),
        ("in", "Austin, San Antonio"),
    ]:
        rules = [rule("city", operator, value)]
        assert sql_ids(org, rules) == {lead.id}, operator
        assert python_ids([lead], rules) == {lead.id}, operator


@pytest.mark.parametrize(
    ("operator", "value", "expected_cities"),
    [
        ("contains", "%", {"50% off"}),
        ("contains", "50%", {"50% off"}),
        ("contains", "_", {"a_b"}),
        ("contains", "\\", {"back\\slash"}),
        ("starts_with", "a_", {"a_b"}),
        ("ends_with", "%", set()),
        ("equals", "a_b", {"a_b"}),
        ("not_contains", "%", {"500 off", "a_b", "axb", "back\\slash"}),
    ],
)
def test_percent_underscore_and_backslash_are_literal_characters(session, operator, value, expected_cities):
    org = make_org()
    leads = [make_lead(org, city=city) for city in ("50% off", "500 off", "a_b", "axb", "back\\slash")]
    rules = [rule("city", operator, value)]
    expected = {lead.id for lead in leads if lead.city in expected_cities}

    assert sql_ids(org, rules) == expected
    assert python_ids(leads, rules) == expected


def test_text_values_are_trimmed_and_state_is_upper_cased():
    assert rule("city", "equals", "  Austin ").value == "Austin"
    assert rule("state", "equals", " tx").value == "TX"
    assert rule("state", "in", "tx, ca").value == ("TX", "CA")
    assert rule("state", "contains", "x").value == "X"


def test_compiled_sql_compares_columns_plainly_for_the_indexes():
    rules = [
        rule("status", "equals", "new"),
        rule("city", "equals", "Austin"),
        rule("city", "contains", "50%"),
        rule("tags", "in", "vip, hot"),
        rule("created_at", "equals", "2024-06-01"),
    ]
    query = matching_lead_ids_query(rules, True, 1, NOW)
    sql = " ".join(str(query.compile(dialect=postgresql.dialect())).split())

    assert sql.startswith("SELECT leads.id FROM leads WHERE leads.organization_id = ")
    assert "leads.status = " in sql
    assert "lower(leads.city) = " in sql
    assert "lower(leads.city) LIKE " in sql and "ESCAPE '\\'" in sql
    assert "EXISTS (SELECT 1 FROM lead_tags WHERE lead_tags.lead_id = leads.id AND lead_tags.tag IN" in sql
    assert "leads.created_at >= " in sql and "leads.created_at < " in sql


# --- Numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1000", Decimal("1000.00")),
        (1000, Decimal("1000")),
        (1500.5, Decimal("1500.50")),
        (" 1e3 ", Decimal("1000")),
        ("-0.01", Decimal("-0.01")),
        ("999999999999.99", Decimal("999999999999.99")),
        ("1.500", Decimal("1.5")),
    ],
)
def test_number_values_are_coerced_to_decimal(raw, expected):
    value = rule("value_estimate", "equals", raw).value
    assert isinstance(value, Decimal) and value == expected


def test_numbers_are_compared_as_decimals(session):
    org = make_org()
    cents = make_lead(org, value_estimate=Decimal("0.30"))
    make_lead(org, value_estimate=Decimal("0.29"))
    rules = [rule("value_estimate", "equals", 0.3)]

    assert sql_ids(org, rules) == {cents.id}
    assert python_ids([cents], rules) == {cents.id}


def test_in_takes_a_list_a_comma_separated_string_or_one_number():
    assert rule("value_estimate", "in", [1000, "2000"]).value == (Decimal("1000"), Decimal("2000"))
    assert rule("value_estimate", "in", "1000, 2000").value == (Decimal("1000"), Decimal("2000"))
    assert rule("value_estimate", "in", 1000).value == (Decimal("1000"),)
    assert rule("status", "in", "new, NEW, contacted,").value == ("new", "contacted")


# --- Datetimes ----------------------------------------------------------------------------------


def test_datetime_values_are_dates_aware_utc_datetimes_or_relative():
    assert rule("created_at", "equals", "2024-06-01").value == date(2024, 6, 1)
    assert rule("created_at", "greater_than", "2024-06-01T10:00:00+02:00").value == at("2024-06-01T08:00:00")
    assert rule("created_at", "greater_than", "2024-06-01T10:00:00Z").value == at("2024-06-01T10:00:00")
    assert rule("created_at", "greater_than", "2024-06-01T10:00:00").value == at("2024-06-01T10:00:00")
    assert rule("created_at", "greater_than", "7 days ago").value == RelativeDate(7, "days")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30 minutes ago", timedelta(minutes=30)),
        ("24 hours ago", timedelta(hours=24)),
        ("1 hour ago", timedelta(hours=1)),
        ("7 days ago", timedelta(days=7)),
        ("1 Day Ago", timedelta(days=1)),
        ("2 weeks ago", timedelta(weeks=2)),
        ("0 minutes ago", timedelta(0)),
    ],
)
def test_relative_dates_resolve_against_now(raw, expected):
    value = rule("updated_at", "less_than", raw).value
    assert isinstance(value, RelativeDate)
    assert value.resolve(NOW) == NOW - expected


def test_a_relative_rule_changes_its_answer_as_time_passes(session):
    org = make_org()
    six_days_old = make_lead(org, created_at=NOW - timedelta(days=6))
    make_lead(org, created_at=NOW - timedelta(days=8))
    rules = [rule("created_at", "greater_than", "7 days ago")]
    two_days_later = NOW + timedelta(days=2)

    assert sql_ids(org, rules) == {six_days_old.id}
    assert python_ids([six_days_old], rules) == {six_days_old.id}
    assert sql_ids(org, rules, now=two_days_later) == set()
    assert python_ids([six_days_old], rules, now=two_days_later) == set()


def test_date_only_equals_means_the_same_utc_calendar_day(session):
    org = make_org()
    first_instant = make_lead(org, created_at=at("2024-06-01T00:00:00"))
    last_instant = make_lead(org, created_at=at("2024-06-01T23:59:59.999999"))
    make_lead(org, created_at=at("2024-05-31T23:59:59.999999"))
    make_lead(org, created_at=at("2024-06-02T00:00:00"))
    leads = [first_instant, last_instant]
    rules = [rule("created_at", "equals", "2024-06-01")]

    assert sql_ids(org, rules) == {first_instant.id, last_instant.id}
    assert python_ids(leads, rules) == {first_instant.id, last_instant.id}


def test_datetime_equals_uses_the_utc_day_of_a_value_with_an_offset(session):
    org = make_org()
    utc_june_2 = make_lead(org, created_at=at("2024-06-02T01:00:00"))
    utc_june_1 = make_lead(org, created_at=at("2024-06-01T12:00:00"))
    rules = [rule("created_at", "equals", "2024-06-01T23:30:00-05:00")]  # 2024-06-02T04:30Z

    assert sql_ids(org, rules) == {utc_june_2.id}
    assert python_ids([utc_june_2, utc_june_1], rules) == {utc_june_2.id}


def test_relative_equals_means_the_utc_day_of_the_resolved_moment(session):
    org = make_org()
    yesterday = make_lead(org, created_at=at("2024-06-14T00:30:00"))
    make_lead(org, created_at=at("2024-06-15T00:30:00"))
    rules = [rule("created_at", "equals", "1 day ago")]

    assert sql_ids(org, rules) == {yesterday.id}


def test_has_relative_dates():
    assert has_relative_dates([rule("status", "equals", "new"), rule("created_at", "greater_than", "7 days ago")])
    assert not has_relative_dates([rule("created_at", "greater_than", "2024-06-01")])
    assert not has_relative_dates([])


# --- Tags ---------------------------------------------------------------------------------------


def test_the_rule_tag_is_lower_cased_and_trimmed():
    assert rule("tags", "contains", "  VIP ").value == "vip"
    assert rule("tags", "not_in", "VIP, Hot").value == ("vip", "hot")


def test_tags_are_compared_exactly_as_stored(session):
    org = make_org()
    vip = make_lead(org, tags=("vip",))
    make_lead(org, tags=("vip-gold", "xvip"))

    assert sql_ids(org, [rule("tags", "contains", "vip")]) == {vip.id}


# --- Coercion errors: 422-style, naming the rule and its key ------------------------------------


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        ({"field": "value_estimate", "operator": "greater_than", "value": "abc"}, "value", "'abc' is not a number"),
        ({"field": "value_estimate", "operator": "equals", "value": "1.005"}, "value", "more than 2 decimal places"),
        ({"field": "value_estimate", "operator": "equals", "value": "NaN"}, "value", "must be a number between"),
        ({"field": "value_estimate", "operator": "less_than", "value": "1e20"}, "value", "must be a number between"),
        ({"field": "value_estimate", "operator": "in", "value": "1000, lots"}, "value", "item 2: 'lots' is not a number"),
        ({"field": "status", "operator": "equals", "value": "purple"}, "value", "'purple' is not a valid status"),
        ({"field": "priority", "operator": "in", "value": ["high", "asap"]}, "value", "item 2: 'asap' is not a valid"),
        ({"field": "source", "operator": "equals", "value": 3}, "value", "must be one of website"),
        ({"field": "state", "operator": "equals", "value": "Texas"}, "value", "'Texas' is not a US state code"),
        ({"field": "state", "operator": "not_in", "value": "TX, XX"}, "value", "item 2: 'XX' is not a US state code"),
        ({"field": "city", "operator": "equals", "value": 12}, "value", "must be text"),
        ({"field": "city", "operator": "contains", "value": "x" * 256}, "value", "at most 255 characters"),
        ({"field": "city", "operator": "equals"}, "value", "is required"),
        ({"field": "city", "operator": "equals", "value": None}, "value", "is required"),
        ({"field": "city", "operator": "equals", "value": "   "}, "value", "is required"),
        ({"field": "city", "operator": "equals", "value": ["Austin"]}, "value", "takes a single value, not a list"),
        ({"field": "city", "operator": "in", "value": []}, "value", "must list at least one value"),
        ({"field": "city", "operator": "in", "value": " , ,"}, "value", "must list at least one value"),
        ({"field": "city", "operator": "in", "value": ["Austin", ""]}, "value", "item 2: must not be empty"),
        ({"field": "city", "operator": "in", "value": ["x"] * 501}, "value", "at most 500 values"),
        ({"field": "status", "operator": "equals", "value": True}, "value", "must be a string, a number or a list"),
        ({"field": "status", "operator": "equals", "value": {"a": 1}}, "value", "must be a string, a number or a list"),
        ({"field": "created_at", "operator": "greater_than", "value": "2024-13-01"}, "value", "is not an ISO date"),
        ({"field": "created_at", "operator": "greater_than", "value": "yesterday"}, "value", "is not an ISO date"),
        ({"field": "created_at", "operator": "greater_than", "value": "7 days from now"}, "value", "is not an ISO date"),
        ({"field": "created_at", "operator": "greater_than", "value": 1717200000}, "value", "must be a date"),
        ({"field": "created_at", "operator": "less_than", "value": "1800-01-01"}, "value", "year must be between"),
        ({"field": "updated_at", "operator": "less_than", "value": "10000 weeks ago"}, "value", "at most 100 years"),
        ({"field": "tags", "operator": "contains", "value": "t" * 51}, "value", "at most 50 characters"),
        ({"field": "tags", "operator": "contains", "value": ["vip"]}, "value", "takes a single value"),
        ({"field": "email", "operator": "equals", "value": "x"}, "field", "unknown field 'email'"),
        ({"operator": "equals", "value": "x"}, "field", "is required"),
        ({"field": ["status"], "operator": "equals", "value": "x"}, "field", "unknown field"),
        ({"field": "status", "operator": "like", "value": "x"}, "operator", "unknown operator 'like'"),
        ({"field": "status", "value": "new"}, "operator", "is required"),
        ({"field": "status", "operator": "contains", "value": "ne"}, "operator", "'contains' does not apply to status"),
        ({"field": "created_at", "operator": "not_equals", "value": "2024-06-01"}, "operator", "does not apply"),
        ({"field": "tags", "operator": "equals", "value": "vip"}, "operator", "does not apply to tags"),
        ({"field": "value_estimate", "operator": "starts_with", "value": "1"}, "operator", "does not apply"),
    ],
)
def test_a_value_that_cannot_be_coerced_is_an_error_naming_the_rule(raw, key, message):
    errors = errors_of({"field": "status", "operator": "equals", "value": "new"}, raw)

    assert len(errors) == 1
    assert errors[0]["field"] == f"rules[1].{key}"
    assert message in errors[0]["message"]


def test_errors_of_every_rule_are_reported_together():
    errors = errors_of(
        {"field": "status", "operator": "equals", "value": "purple"},
        {"field": "city", "operator": "equals", "value": "Austin"},
        {"field": "nope", "operator": "gte", "value": 1},
    )
    assert [error["field"] for error in errors] == ["rules[0].value", "rules[2].field", "rules[2].operator"]


def test_a_rule_that_is_not_an_object_or_rules_that_are_not_a_list_are_errors():
    assert errors_of("status = new") == [{"field": "rules[0]", "message": "must be an object with field, operator and value"}]
    assert validate_rules({"field": "status"}) == ([], [{"field": "rules", "message": "must be a list of rules"}])


def test_extra_keys_of_a_rule_are_ignored_and_the_seed_example_validates():
    rules, errors = validate_rules(
        [
            {"field": "insurance_type", "operator": "equals", "value": "auto", "position": 0},
            {"field": "value_estimate", "operator": "greater_than", "value": "1000"},
            {"field": "status", "operator": "equals", "value": "new"},
        ]
    )
    assert errors == []
    assert [r.value for r in rules] == ["auto", Decimal("1000"), "new"]


def test_a_rule_round_trips_through_as_dict():
    for raw in [
        ("value_estimate", "in", "1000, 2000.5"),
        ("created_at", "equals", "2024-06-01"),
        ("created_at", "greater_than", "2024-06-01T10:00:00+02:00"),
        ("updated_at", "less_than", "1 week ago"),
        ("tags", "not_in", "VIP"),
        ("state", "starts_with", "t"),
    ]:
        original = rule(*raw)
        assert rule(**original.as_dict()) == original
    assert rule("value_estimate", "in", "1000, 2000.5").as_dict()["value"] == ["1000.00", "2000.50"]
    assert rule("updated_at", "less_than", "1 week ago").as_dict()["value"] == "1 week ago"


# --- Explaining a match ----------------------------------------------------------------------------


def test_explain_shows_each_rule_with_the_leads_value_and_whether_it_matched():
    values = {"status": "new", "city": None, "value_estimate": Decimal("1500.00"), "created_at": at("2024-06-10T08:00")}
    rules = [
        rule("status", "equals", "new"),
        rule("city", "equals", "Austin"),
        rule("value_estimate", "greater_than", "1000"),
        rule("created_at", "greater_than", "3 days ago"),
        rule("tags", "contains", "VIP"),
    ]

    assert explain(rules, True, values, {"vip", "hot"}, NOW) == [
        {
            "field": "status",
            "field_label": "Status",
            "operator": "equals",
            "operator_label": "is",
            "value": "new",
            "actual": "new",
            "matched": True,
        },
        {
            "field": "city",
            "field_label": "City",
            "operator": "equals",
            "operator_label": "is",
            "value": "Austin",
            "actual": None,
            "matched": False,
        },
        {
            "field": "value_estimate",
            "field_label": "Value estimate",
            "operator": "greater_than",
            "operator_label": "is greater than",
            "value": "1000.00",
            "actual": "1500.00",
            "matched": True,
        },
        {
            "field": "created_at",
            "field_label": "Created",
            "operator": "greater_than",
            "operator_label": "is after",
            "value": "3 days ago",
            "actual": "2024-06-10T08:00:00+00:00",
            "matched": False,
        },
        {
            "field": "tags",
            "field_label": "Tags",
            "operator": "contains",
            "operator_label": "has the tag",
            "value": "vip",
            "actual": ["hot", "vip"],
            "matched": True,
        },
    ]


# --- The catalog a rule builder reads --------------------------------------------------------------


def test_fields_and_operators_are_those_of_the_spec():
    assert FIELD_TYPES == {
        "status": "enum",
        "priority": "enum",
        "source": "enum",
        "insurance_type": "enum",
        "state": "text",
        "city": "text",
        "value_estimate": "number",
        "created_at": "datetime",
        "updated_at": "datetime",
        "tags": "set",
        "activity": "activity",
    }
    assert OPERATORS == {
        "enum": ("equals", "not_equals", "in", "not_in"),
        "text": ("equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with", "in", "not_in"),
        "number": ("equals", "not_equals", "greater_than", "less_than", "in", "not_in"),
        "datetime": ("greater_than", "less_than", "equals"),
        "set": ("contains", "not_contains", "in", "not_in"),
        "activity": ("has_done", "has_not_done"),
    }


def test_field_catalog_tells_a_rule_builder_which_operators_and_widgets_fit():
    catalog = {entry["name"]: entry for entry in field_catalog()}

    assert list(catalog) == list(FIELD_TYPES)
    assert catalog["status"]["choices"] == list(STATUSES)
    assert catalog["priority"]["choices"] == list(PRIORITIES)
    assert catalog["source"]["choices"] == list(SOURCES)
    assert catalog["insurance_type"]["choices"] == list(INSURANCE_TYPES)
    assert catalog["city"]["choices"] == []
    created = {op["name"]: op for op in catalog["created_at"]["operators"]}
    value = {op["name"]: op for op in catalog["value_estimate"]["operators"]}
    status = {op["name"]: op for op in catalog["status"]["operators"]}
    assert created["greater_than"]["label"] == "is after"
    assert created["less_than"]["label"] == "is before"
    assert value["greater_than"]["label"] == "is greater than"
    assert status["in"] == {"name": "in", "label": "is any of", "takes_list": True, "widget": "multiselect"}
    assert status["equals"]["widget"] == "select"
    assert created["equals"]["widget"] == "datetime"
    assert catalog["created_at"]["hint"].startswith("a date")
