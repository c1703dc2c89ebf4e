"""SPEC §5 and §16: the same rules give the same answer on PostgreSQL, on SQLite and in the Python
reference evaluator — for random valid rule sets (1–4 rules, AND or OR) and random leads (NULLs,
tags, odd strings with % and _ in mixed case, boundary numbers and dates, lead events), many of them
drawn on and just around the values the rules name, where a wrong operator would show. Activity
rules read random lead events: of a few types, on and around the rules' windows, from templates and
automations (named in the event's data, or through the message an ``email_sent`` event names)."""

from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, delete, insert, select
from sqlalchemy.pool import StaticPool

from tests.factories import make_lead, make_org
from webapp.models import Automation, AutomationRun, OutboxMessage
from webapp.models.leads import INSURANCE_TYPES, PRIORITIES, SOURCES, STATUSES, Lead, LeadEvent, LeadTag
from webapp.segments.activity import Activity, ActivityEvent, events_by_lead, events_query
from webapp.segments.rules import (
    ENUM_CHOICES,
    FIELD_TYPES,
    LIST_OPERATORS,
    OPERATORS,
    RelativeDate,
    activity_event_types,
    compile_rules,
    evaluate_rules,
    matching_lead_ids_query,
    validate_rules,
)

UTC = timezone.utc
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
OTHER_ORG_ID_OFFSET = 1000  # the other organization's copy of lead n has id n + 1000
CENT = Decimal("0.01")
MAX_VALUE = Decimal("999999999999.99")  # leads.value_estimate is Numeric(14, 2)
MICROSECOND = timedelta(microseconds=1)

leads_table = Lead.__table__
tags_table = LeadTag.__table__
events_table = LeadEvent.__table__

ODD_ALPHABET = "aAbBxX %_\\-'"  # ASCII only: SQLite's lower() does not fold other letters
CITIES = ["Austin", "san antonio", "SAN ANTONIO", "50% off", "500 off", "a_b", "axb", "back\\slash", "El Paso"]
STATES = ["TX", "CA", "NY"]
TAGS = ["vip", "hot", "cold", "a%b", "a_b", "axb"]
NUMBERS = [Decimal(v) for v in ("0", "-0.01", "0.01", "999.99", "1000", "1000.01", "1500.50", "999999999999.99")]
DATETIME_VALUES = [
    "2024-06-01",
    "2024-06-15",
    "2024-06-14T12:00:00Z",
    "2024-06-15T06:00:00-06:00",
    "2024-06-01T12:00:00",
    "7 days ago",
    "1 week ago",
    "1 day ago",
    "24 hours ago",
    "30 minutes ago",
    "2 weeks ago",
    "0 minutes ago",
]

# Activity: a few event types (and one no event has), windows, counts, and the ids events name.
EVENT_TYPES = ["email_opened", "email_sent", "tag_added"]
WITHINS = ["30 minutes", "2 hours", "1 day", "7 days", "1 week", "999 weeks"]
TEMPLATE_IDS = [1, 2]
AUTOMATION_A, AUTOMATION_B = 900001, 900002  # rows made by the ``senders`` fixture, in both databases
SENT_BY_A, SENT_BY_HAND, NO_MESSAGE = 910001, 910002, 910003  # messages: from a run of A, by hand, none at all
MESSAGE_AUTOMATIONS = {SENT_BY_A: AUTOMATION_A}

numbers = st.sampled_from(NUMBERS) | st.decimals(min_value=-5000, max_value=5000, places=2)
moments = st.datetimes(min_value=datetime(2024, 5, 1), max_value=datetime(2024, 7, 1), timezones=st.just(UTC))
odd_text = st.text(alphabet=ODD_ALPHABET, max_size=6)
non_blank_odd_text = st.text(alphabet=ODD_ALPHABET, min_size=1, max_size=4).filter(lambda s: s.strip())
state_text = st.text(alphabet="TXtx%_\\", min_size=1, max_size=2)

# --- Rules (raw, as the API receives them; the engine validates them) ------------------------------


def activity_value():
    optional = {
        "within": st.sampled_from(WITHINS),
        "at_least": st.integers(1, 3) | st.just(1000),
        "template_id": st.sampled_from(TEMPLATE_IDS + [3]),
        "automation_id": st.sampled_from([AUTOMATION_A, AUTOMATION_B]),
    }
    return st.fixed_dictionaries(
        {"event_type": st.sampled_from(EVENT_TYPES) | st.just("task_completed")},
        optional={key: st.none() | strategy for key, strategy in optional.items()},
    )


def single_value(field: str, operator: str):
    kind = FIELD_TYPES[field]
    if kind == "activity":
        return activity_value()
    if kind == "enum":
        return st.sampled_from(ENUM_CHOICES[field]) | st.sampled_from(ENUM_CHOICES[field]).map(str.upper)
    if field == "state" and operator in ("equals", "not_equals", "in", "not_in"):
        return st.sampled_from(["TX", "ca", "NY"])
    if field == "state":
        return st.sampled_from(["T", "x", "Tx"]) | st.sampled_from(["%", "_", "\\", "x_"]) | state_text
    if kind == "text":
        literal_wildcards = st.sampled_from(["%", "_", "\\", "a_", "0%", "_b", "%_"])
        return st.sampled_from(CITIES + ["SAN", "off"]) | literal_wildcards | non_blank_odd_text
    if kind == "number":
        return numbers.map(str) | st.sampled_from([1000, 0, 1500.5, -0.01])
    if kind == "datetime":
        return st.sampled_from(DATETIME_VALUES)
    return st.sampled_from(TAGS + ["VIP", " Hot "])


def raw_value(field: str, operator: str):
    one = single_value(field, operator)
    if operator not in LIST_OPERATORS:
        return one
    as_list = st.lists(one, min_size=1, max_size=3)
    comma_separated = as_list.filter(lambda items: all("," not in str(item) for item in items)).map(
        lambda items: ", ".join(str(item) for item in items)
    )
    return as_list | comma_separated


FIELD_OPERATORS = [(field, operator) for field, kind in FIELD_TYPES.items() for operator in OPERATORS[kind]]


@st.composite
def raw_rule(draw, pairs=FIELD_OPERATORS):
    """Every (field, operator) pair is equally likely."""
    field, operator = draw(st.sampled_from(pairs))
    return {"field": field, "operator": operator, "value": draw(raw_value(field, operator))}


# --- Leads: random, and on and around what the rules name ---------------------------------------------


def as_moment(value) -> datetime:
    if isinstance(value, RelativeDate):
        return value.resolve(NOW)
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), tzinfo=UTC)


def values_near(kind: str, value) -> list:
    """Lead values where a rule on ``value`` flips: the value itself and its neighbours."""
    if kind == "number":
        return [number for number in (value - CENT, value, value + CENT) if abs(number) <= MAX_VALUE]
    if kind == "datetime":
        moment = as_moment(value)
        day = datetime.combine(moment.date(), time(), tzinfo=UTC)
        return [
            moment - MICROSECOND,
            moment,
            moment + MICROSECOND,
            day - MICROSECOND,
            day,
            day + timedelta(days=1) - MICROSECOND,
            day + timedelta(days=1),
        ]
    if kind == "text":
        wildcard_bait = value.replace("%", "x").replace("_", "y").replace("\\", "z")
        return [value, value.upper(), value.lower().swapcase(), f"x{value}", f"{value}y", wildcard_bait]
    return [value]


def rule_hints(rules) -> dict[str, list]:
    hints: dict[str, list] = {field: [] for field in FIELD_TYPES}
    for rule in rules:
        if isinstance(rule.value, Activity):
            if rule.value.within:  # events just inside and just outside the window
                since = rule.value.within.since(NOW)
                hints["activity"] += [since - MICROSECOND, since, since + MICROSECOND]
            continue
        values = rule.value if isinstance(rule.value, tuple) else (rule.value,)
        for value in values:
            hints[rule.field].extend(values_near(rule.field_type, value))
    # leads.state is String(2), stored upper-case (a check constraint)
    hints["state"] = [value.upper() for value in hints["state"] if len(value) <= 2]
    return hints


def lead_strategy(hints: dict[str, list]):
    def field(strategy, name, nullable=True):
        if hints[name]:
            strategy = st.sampled_from(hints[name]) | strategy
        return st.none() | strategy if nullable else strategy

    tag_pool = TAGS + hints["tags"]
    event_moments = st.sampled_from(hints["activity"]) | moments if hints["activity"] else moments
    event = st.fixed_dictionaries(
        {
            "event_type": st.sampled_from(EVENT_TYPES),
            "created_at": event_moments,
            "template_id": st.none() | st.sampled_from(TEMPLATE_IDS),
            # Mostly without automation_id: whether the message names the automation then decides.
            "automation_id": st.none() | st.none() | st.sampled_from([AUTOMATION_A, AUTOMATION_B]),
            "message_id": st.none() | st.sampled_from([SENT_BY_A, SENT_BY_A, SENT_BY_HAND, NO_MESSAGE]),
        }
    )
    return st.fixed_dictionaries(
        {
            "status": field(st.sampled_from(STATUSES), "status", nullable=False),
            "priority": field(st.sampled_from(PRIORITIES), "priority", nullable=False),
            "source": field(st.sampled_from(SOURCES), "source"),
            "insurance_type": field(st.sampled_from(INSURANCE_TYPES), "insurance_type"),
            "state": field(st.sampled_from(STATES) | state_text.map(str.upper), "state"),
            "city": field(st.sampled_from(CITIES) | odd_text, "city"),
            "value_estimate": field(numbers, "value_estimate"),
            "created_at": field(moments, "created_at", nullable=False),
            "updated_at": field(moments, "updated_at", nullable=False),
            "tags": st.frozensets(st.sampled_from(tag_pool), max_size=3),
            "events": st.lists(event, max_size=5),
        }
    )


@st.composite
def scenarios(draw, pairs=FIELD_OPERATORS):
    """Raw rules, whether all must match, and leads drawn with the rules in mind."""
    raw_rules = draw(st.lists(raw_rule(pairs), min_size=1, max_size=4))
    rules, _ = validate_rules(raw_rules)
    leads = draw(st.lists(lead_strategy(rule_hints(rules)), min_size=15, max_size=20))
    return raw_rules, draw(st.booleans()), leads


# --- The two databases ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_engine():
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Lead.__table__.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def orgs(session):
    return make_org().id, make_org().id


@pytest.fixture
def senders(session, sqlite_engine, orgs):
    """Automations A and B, a run of A, and the messages events name: one sent by that run, one sent
    by hand (of ``orgs[0]``), on PostgreSQL and copied to SQLite. The run's lead is of a third
    organization, whose leads the examples leave alone."""
    org_id, _ = orgs
    bystander = make_lead(make_org(), id=990001)  # clear of the ids the examples give their leads
    for automation_id in (AUTOMATION_A, AUTOMATION_B):
        name = f"A{automation_id}"
        session.add(Automation(id=automation_id, organization_id=org_id, name=name, slug=name, trigger_type="manual"))
    session.flush()
    run = AutomationRun(organization_id=org_id, automation_id=AUTOMATION_A, lead_id=bystander.id, trigger_type="manual", dedupe_key="x")
    session.add(run)
    session.flush()
    for message_id, run_id in ((SENT_BY_A, run.id), (SENT_BY_HAND, None)):
        session.add(OutboxMessage(id=message_id, organization_id=org_id, idempotency_key=f"m{message_id}", automation_run_id=run_id))
    session.commit()
    with sqlite_engine.begin() as connection:
        for model in (OutboxMessage, AutomationRun, Automation):
            connection.execute(delete(model.__table__))
        for model in (Automation, AutomationRun, OutboxMessage):
            rows = session.execute(select(model.__table__)).mappings().all()
            connection.execute(insert(model.__table__), [dict(row) for row in rows])


def lead_rows(leads: list[dict], organization_id: int, id_offset: int) -> tuple[list[dict], list[dict], list[dict]]:
    rows, tag_rows, event_rows = [], [], []
    for number, lead in enumerate(leads, start=1):
        lead_id = number + id_offset
        rows.append({"id": lead_id, "organization_id": organization_id, **{k: v for k, v in lead.items() if k not in ("tags", "events")}})
        tag_rows.extend({"lead_id": lead_id, "tag": tag} for tag in lead["tags"])
        for event in lead["events"]:
            data = {key: event[key] for key in ("template_id", "automation_id", "message_id") if event[key] is not None}
            event_rows.append(
                {
                    "organization_id": organization_id,
                    "lead_id": lead_id,
                    "event_type": event["event_type"],
                    "created_at": event["created_at"],
                    "data": data,
                }
            )
    return rows, tag_rows, event_rows


def replace_leads(connection, leads: list[dict], org_id: int, other_org_id: int) -> None:
    """Empty the two organizations' leads, then insert the leads for ``org_id`` and a copy for
    ``other_org_id`` (the same events too: they must not count for the other organization's leads)."""
    ours = (org_id, other_org_id)
    connection.execute(delete(events_table).where(events_table.c.organization_id.in_(ours)))
    connection.execute(
        delete(tags_table).where(tags_table.c.lead_id.in_(select(leads_table.c.id).where(leads_table.c.organization_id.in_(ours))))
    )
    connection.execute(delete(leads_table).where(leads_table.c.organization_id.in_(ours)))
    for organization_id, offset in ((org_id, 0), (other_org_id, OTHER_ORG_ID_OFFSET)):
        rows, tag_rows, event_rows = lead_rows(leads, organization_id, offset)
        connection.execute(insert(leads_table), rows)
        if tag_rows:
            connection.execute(insert(tags_table), tag_rows)
        if event_rows:
            connection.execute(insert(events_table), event_rows)


def activity_events(lead: dict) -> list[ActivityEvent]:
    """The lead's events as the evaluator reads them (see ``activity.events_query``)."""
    return [
        ActivityEvent(e["event_type"], e["created_at"], e["template_id"], e["automation_id"], MESSAGE_AUTOMATIONS.get(e["message_id"]))
        for e in lead["events"]
    ]


def matching_ids(connection, rules, match_all: bool, org_id: int) -> set[int]:
    return set(connection.scalars(matching_lead_ids_query(rules, match_all, org_id, NOW)))


def rechecked_ids(connection, rules, match_all: bool, org_id: int) -> set[int]:
    """The condition as a re-check plans it (``per_lead``), asked lead by lead as a column."""
    condition = compile_rules(rules, match_all, org_id, NOW, per_lead=True).label("matches")
    return {row.id for row in connection.execute(select(leads_table.c.id, condition)) if row.matches}


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
ACTIVITY_OPERATORS = [(field, operator) for field, operator in FIELD_OPERATORS if field == "activity"]


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_postgresql_sqlite_and_the_python_evaluator_agree(session, sqlite_engine, orgs, senders, scenario):
    assert_all_agree(session, sqlite_engine, orgs, scenario)


@PROPERTY_SETTINGS
@given(scenario=scenarios(ACTIVITY_OPERATORS))
def test_activity_rules_agree_on_postgresql_sqlite_and_in_the_python_evaluator(session, sqlite_engine, orgs, senders, scenario):
    assert_all_agree(session, sqlite_engine, orgs, scenario)


def assert_all_agree(session, sqlite_engine, orgs, scenario) -> None:
    raw_rules, match_all, leads = scenario
    rules, errors = validate_rules(raw_rules)
    assert errors == []
    org_id, other_org_id = orgs
    session.rollback()  # a failed example leaves nothing behind for the next one
    replace_leads(session.connection(), leads, org_id, other_org_id)
    session.commit()
    with sqlite_engine.begin() as connection:
        replace_leads(connection, leads, org_id, other_org_id)

    # Each rule alone, then the whole set: a rule's disagreement must not hide behind the others.
    for rule_set in [[rule] for rule in rules] + [rules]:
        expected = {
            number
            for number, lead in enumerate(leads, start=1)
            if evaluate_rules(rule_set, match_all, lead, set(lead["tags"]), NOW, activity_events(lead))
        }
        assert matching_ids(session.connection(), rule_set, match_all, org_id) == expected, "PostgreSQL"
        assert rechecked_ids(session.connection(), rule_set, match_all, org_id) == expected, "PostgreSQL, per lead"
        with sqlite_engine.connect() as connection:
            assert matching_ids(connection, rule_set, match_all, org_id) == expected, "SQLite"
            assert rechecked_ids(connection, rule_set, match_all, org_id) == expected, "SQLite, per lead"

    # The events as the evaluator's query reads them from either database give the same answers.
    event_types = activity_event_types(rules)
    if event_types:
        ids = list(range(1, len(leads) + 1))
        with sqlite_engine.connect() as connection:
            read_back = {
                "PostgreSQL": events_by_lead(session.execute(events_query(org_id, ids, event_types))),
                "SQLite": events_by_lead(connection.execute(events_query(org_id, ids, event_types))),
            }
        for name, read in read_back.items():
            for number, lead in enumerate(leads, start=1):
                wanted = [event for event in activity_events(lead) if event.event_type in event_types]
                assert Counter(read.get(number, [])) == Counter(wanted), name


def test_leads_are_drawn_on_and_around_the_values_the_rules_name():
    rules, _ = validate_rules(
        [
            {"field": "value_estimate", "operator": "equals", "value": "1000"},
            {"field": "created_at", "operator": "equals", "value": "2024-06-01T12:00:00Z"},
            {"field": "state", "operator": "contains", "value": "x"},
        ]
    )
    hints = rule_hints(rules)

    assert hints["value_estimate"] == [Decimal("999.99"), Decimal("1000.00"), Decimal("1000.01")]
    assert datetime(2024, 6, 2, tzinfo=UTC) in hints["created_at"]
    assert datetime(2024, 6, 1, tzinfo=UTC) - MICROSECOND in hints["created_at"]
    assert all(len(state) <= 2 for state in hints["state"]) and "X" in hints["state"]
    assert as_moment(date(2024, 6, 1)) == datetime(2024, 6, 1, tzinfo=UTC)


def test_events_are_drawn_on_and_around_the_activity_rules_windows():
    rules, _ = validate_rules([{"field": "activity", "operator": "has_done", "value": {"event_type": "email_opened", "within": "7 days"}}])
    since = NOW - timedelta(days=7)

    assert rule_hints(rules)["activity"] == [since - MICROSECOND, since, since + MICROSECOND]
