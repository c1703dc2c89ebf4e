"""Every route of the app, walked with another organization's ids (SPEC §3, §13).

For each rule of ``app.url_map`` and each of its methods, path arguments are filled with the id of
an object that belongs to organization B, and the request is made as a user of organization A
(a browser session for pages, a bearer token for /api). B's object must be indistinguishable from
a missing one: the same 404 (or 403/405 where the role forbids) as for an id that does not exist,
never a 2xx, and never B's data in the body. Anonymous requests get 401 problem+json under /api
and a redirect to the login page elsewhere.

Objects of organization B are created for every table of the metadata (factories for the known
ones, a generic row for the tables other features add), so new routes are walked without changing
this file. Argument names that match no table fall back to an id that does not exist; they are
printed, so that a reader sees which routes were only checked against missing objects.
"""

import itertools
import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Numeric, String, Text, select, text
from sqlalchemy.types import Enum as SAEnum

from tests.conftest import ApiClient, login_browser, token_for
from tests.factories import make_campaign, make_lead, make_org, make_user
from webapp.extensions import db

MARKER = "zzbetamarker"  # in every text column of organization B's rows: must never be shown to A
MISSING_ID = 987654321
BEYOND_ID = 2**40  # beyond 32-bit keys: must be the same 404 as a missing id, not a database error
B_ID_BASE = 700_000  # B's rows get ids far from A's (and from each other's tables): no accidental match
SKIPPED_ENDPOINTS = {  # public by design
    "static",
    "auth.login",
    "api_docs.api_docs",
    "api.openapi_document",
    "api.issue_access_token",
    "unsubscribe.unsubscribe",  # the signed link in marketing emails (SPEC §6): the token is the credential
    "tracking.open_pixel",  # the open pixel and the links of tracked emails (SPEC §16): signed tokens too
    "tracking.click",
    "favicon",  # the site icon, the same file as /static/favicon.svg
}
PLACEHOLDER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


# --- organization B: one object of every model ----------------------------------------------------


def _bump_id_sequence(table, start: int) -> None:
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n)"), {"t": table.name, "n": start})


def _generic_value(column, made: dict):
    """A value for a column of a generic row of B; ``...`` when the column can be left to its default."""
    if column.foreign_keys:
        target = next(iter(column.foreign_keys)).column.table.name
        if target in made:
            return made[target]
        return None if column.nullable else ...
    if column.default is not None or column.server_default is not None:
        return ...
    kind = column.type
    if isinstance(kind, SAEnum):
        return kind.enums[0]
    if isinstance(kind, (String, Text)):
        length = getattr(kind, "length", None) or 200
        return (MARKER + "-" + column.name)[:length]
    if column.nullable:
        return None
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, (Integer, Numeric)):
        return 1 if isinstance(kind, Integer) else Decimal("1")
    if isinstance(kind, DateTime):
        return datetime.now(timezone.utc)
    if isinstance(kind, Date):
        return date.today()
    if isinstance(kind, JSON) or "JSON" in type(kind).__name__:
        return {}
    return ...


def create_organization_b() -> dict:
    """B's objects: ``{table name: id}``, plus ``skipped`` (tables no generic row could be made for)."""
    org = make_org(f"{MARKER} brokers")
    made = {"organizations": org.id}
    for offset, table in enumerate(db.metadata.sorted_tables):
        if "id" in table.c and table.name != "organizations":
            _bump_id_sequence(table, B_ID_BASE + 1000 * offset)
    db.session.commit()
    user = make_user(org, email=f"{MARKER}@beta.example.com", name=f"{MARKER} user")
    campaign = make_campaign(org, name=f"{MARKER} campaign", description=MARKER, channel=MARKER)
    lead = make_lead(
        org,
        first_name=MARKER,
        last_name=MARKER,
        email=f"{MARKER}@lead.example.com",
        city=MARKER,
        campaign_id=campaign.id,
        assigned_to_id=user.id,
        tags=(MARKER,),
    )
    made.update(users=user.id, campaigns=campaign.id, leads=lead.id)
    skipped = {}
    for table in db.metadata.sorted_tables:
        if table.name in made or "id" not in table.c or list(table.primary_key.columns) != [table.c.id]:
            continue
        linked = "organization_id" in table.c or any(fk.column.table.name in made for column in table.c for fk in column.foreign_keys)
        if not linked:
            continue
        values = {}
        for column in table.c:
            if column.name == "id":
                continue
            value = org.id if column.name == "organization_id" else _generic_value(column, made)
            if value is not ...:
                values[column.name] = value
        try:
            with db.session.begin_nested():
                made[table.name] = db.session.scalar(table.insert().values(**values).returning(table.c.id))
        except Exception as exc:  # a constraint the generic row does not satisfy: say so, go on
            skipped[table.name] = str(exc).splitlines()[0][:160]
    db.session.commit()
    made["skipped"] = skipped
    return made


def snapshot(made: dict) -> dict:
    """B's rows as stored, to prove that no request of A changed them."""
    rows = {}
    for table in db.metadata.sorted_tables:
        if table.name in made and table.name != "skipped":
            row = db.session.execute(select(table).where(table.c.id == made[table.name])).mappings().first()
            rows[table.name] = dict(row) if row else None
    return rows


# --- filling path arguments ------------------------------------------------------------------------


def _singular(table_name: str) -> str:
    return table_name[:-1] if table_name.endswith("s") else table_name


def candidate_values(argument: str, converter: str | None, made: dict) -> list:
    """B's ids (or values) an argument of this name may stand for; [] when nothing matches."""
    if argument.endswith("_id"):
        stem = argument[:-3]
        tables = [t for t in made if t != "skipped"]
        exact = [t for t in tables if _singular(t) == stem]
        related = [t for t in tables if t not in exact and (_singular(t).endswith("_" + stem) or _singular(t).startswith(stem + "_"))]
        return [made[t] for t in exact + related]
    if argument == "id":
        return []
    values = []
    for table in db.metadata.sorted_tables:
        if table.name in made and table.name != "skipped" and argument in table.c:
            value = db.session.scalar(select(table.c[argument]).where(table.c.id == made[table.name]))
            if value is not None:
                values.append(value)
    return values


def missing_value(converter: str | None):
    return MISSING_ID if converter in ("int", None) else f"{MARKER}-missing"


def walked_routes(app, made: dict):
    """(rule, method, url with B's values, url with missing values, has arguments) for every non-public route."""
    fallbacks = set()
    walks = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        placeholders = PLACEHOLDER.findall(rule.rule)
        choices = []
        for converter, argument in placeholders:
            values = candidate_values(argument, converter or None, made)
            if converter in ("int", "") and values:
                values = [v for v in values if isinstance(v, int)]
            if not values:
                fallbacks.add(argument)
                values = [missing_value(converter or None)]
            choices.append(values)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for combination in itertools.product(*choices) if choices else [()]:
                url = missing = rule.rule
                for (converter, argument), value in zip(placeholders, combination, strict=True):
                    pattern = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?" + argument + ">")
                    url = pattern.sub(str(value), url, count=1)
                    missing = pattern.sub(str(missing_value(converter or None)), missing, count=1)
                walks.append((rule, method, url, missing, bool(placeholders)))
    return walks, fallbacks


def is_api(rule) -> bool:
    return rule.rule.startswith("/api/")


# --- the walk ----------------------------------------------------------------------------------------


@pytest.fixture
def two_organizations(app):
    with app.app_context():
        made = create_organization_b()
        org_a = make_org("Acme Insurance")
        people = {role: make_user(org_a, email=f"{role}@acme.example.com", role=role, name=f"Acme {role}") for role in ("admin", "viewer")}
        own = [make_lead(org_a, first_name="Alice"), make_lead(org_a, first_name="Arnold")]
        make_campaign(org_a, name="Acme campaign")
        state = {
            "made": made,
            "org_a": org_a.id,
            "users": {r: (u.id, u.email) for r, u in people.items()},
            "own_leads": [lead.id for lead in own],
            "before": snapshot(made),
        }
        tokens = {role: token_for(app, user) for role, user in people.items()}
        db.session.remove()
    state["tokens"] = tokens
    return state


def signed_in(app, email: str):
    client = app.test_client()
    response = login_browser(client, email)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def send(rule, method, url, browser, api):
    if is_api(rule):
        return api.request(method, url, json={} if method in ("POST", "PUT", "PATCH", "DELETE") else None)
    return browser.open(url, method=method, data={} if method != "GET" else None)


def _normalised(response, value) -> str:
    return response.get_data(as_text=True).replace(str(value), "<id>")


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_another_organizations_objects_are_not_found_on_any_route(app, two_organizations, role, capsys):
    made = two_organizations["made"]
    _, email = two_organizations["users"][role]
    browser = signed_in(app, email)
    api = ApiClient(app.test_client(), two_organizations["tokens"][role])
    with app.app_context():
        walks, fallbacks = walked_routes(app, made)
    allowed = {404, 405} if role == "admin" else {403, 404, 405}
    failures, checked = [], 0
    for rule, method, url, missing_url, has_arguments in walks:
        if rule.endpoint == "auth.logout":  # would end the session the rest of the walk needs
            continue
        response = send(rule, method, url, browser, api)
        body = response.get_data(as_text=True)
        if response.headers.get("Location", "").split("?")[0].endswith("/login"):
            failures.append(f"{method} {url}: sent a signed-in user to the login page")
            continue
        if MARKER in body:
            failures.append(f"{method} {url}: organization B's data in the body ({response.status_code})")
            continue
        if response.status_code >= 500:
            failures.append(f"{method} {url}: {response.status_code}")
            continue
        if not has_arguments:
            continue
        checked += 1
        if response.status_code not in allowed:
            failures.append(f"{method} {url}: {response.status_code}, expected one of {sorted(allowed)}")
            continue
        if is_api(rule) and response.mimetype != "application/problem+json":
            failures.append(f"{method} {url}: {response.mimetype} instead of problem+json")
        if url != missing_url:
            control = send(rule, method, missing_url, browser, api)
            same_body = _normalised(response, url.rsplit("/", 1)[-1]) == _normalised(control, missing_url.rsplit("/", 1)[-1])
            if control.status_code != response.status_code or (is_api(rule) and not same_body):
                failures.append(f"{method} {url}: {response.status_code} differs from a missing object's {control.status_code}")
            beyond_url = missing_url.replace(str(MISSING_ID), str(BEYOND_ID))
            if beyond_url != missing_url and send(rule, method, beyond_url, browser, api).status_code != control.status_code:
                failures.append(f"{method} {beyond_url}: differs from a missing object's {control.status_code}")
    with capsys.disabled():
        print(
            f"\n[tenancy walk as {role}] {checked} requests with organization B's ids; "
            f"B has rows in {sorted(t for t in made if t != 'skipped')}; "
            f"argument names with no model (walked with a missing id): {sorted(fallbacks) or 'none'}; "
            f"tables without a generic row: {made['skipped'] or 'none'}"
        )
    assert checked, "no route with path arguments was walked"
    assert not failures, "\n".join(failures)
    with app.app_context():
        assert snapshot(made) == two_organizations["before"], "a request of organization A changed B's rows"


def test_anonymous_requests_are_401_under_api_and_sent_to_login_elsewhere(app, two_organizations):
    client = app.test_client()
    with app.app_context():
        walks, _ = walked_routes(app, two_organizations["made"])
    failures = []
    for rule, method, url, _missing, _ in walks:
        if is_api(rule):
            response = client.open(url, method=method, json={} if method != "GET" else None)
            if response.status_code != 401 or response.mimetype != "application/problem+json":
                failures.append(f"{method} {url}: {response.status_code} {response.mimetype}")
        else:
            response = client.open(url, method=method, data={} if method != "GET" else None)
            location = response.headers.get("Location", "")
            if response.status_code not in (302, 303) or not location.split("?")[0].endswith("/login"):
                failures.append(f"{method} {url}: {response.status_code} → {location!r}")
        if MARKER in response.get_data(as_text=True):
            failures.append(f"{method} {url}: organization B's data shown to an anonymous user")
    assert not failures, "\n".join(failures)
    with app.app_context():
        assert snapshot(two_organizations["made"]) == two_organizations["before"]


def test_public_pages_are_the_ones_listed(app):
    """The skip list is explicit: a new public route must be added to it on purpose."""
    client = app.test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/api/docs").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.post("/api/v1/auth/token", json={"email": "x@example.com", "password": "y"}).status_code == 401
    assert client.get("/u/not-a-valid-token").status_code == 404
    assert client.get("/t/o/not-a-valid-token").status_code == 404
    assert client.get("/t/c/not-a-valid-token").status_code == 404
    assert client.get("/favicon.ico").status_code == 200
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert SKIPPED_ENDPOINTS <= endpoints


# --- lists, counts and search never show B ----------------------------------------------------------


def test_lists_of_organization_a_never_show_organization_b(app, two_organizations):
    api = ApiClient(app.test_client(), two_organizations["tokens"]["admin"])
    browser = signed_in(app, two_organizations["users"]["admin"][1])
    own_leads = two_organizations["own_leads"]

    leads = api.get("/api/v1/leads?per_page=200").get_json()
    assert leads["total"] == 2 and [item["id"] for item in leads["items"]] == own_leads
    assert api.get("/api/v1/campaigns").get_json()["total"] == 1
    assert api.get("/api/v1/users").get_json()["total"] == 2
    assert api.get(f"/api/v1/leads?q={MARKER}").get_json()["total"] == 0
    assert api.get(f"/api/v1/leads?tag={MARKER}").get_json()["total"] == 0

    page = browser.get(f"/leads/?q={MARKER}").get_data(as_text=True)
    assert "0 leads" in page and page.count(MARKER) == 1  # only the search box, echoing the query
    assert "2 leads" in browser.get("/leads/").get_data(as_text=True)
    for url in ("/", "/leads/", "/campaigns/", "/admin/users", "/admin/audit", "/notifications", "/leads/import"):
        response = browser.get(url)
        assert response.status_code == 200, url
        assert MARKER not in response.get_data(as_text=True), url


def test_lead_ids_of_organization_b_are_refused_in_bodies(app, two_organizations):
    api = ApiClient(app.test_client(), two_organizations["tokens"]["admin"])
    made = two_organizations["made"]

    response = api.post("/api/v1/leads", json={"campaign_id": made["campaigns"], "assigned_to_id": made["users"]})

    assert response.status_code == 422
    assert MARKER not in response.get_data(as_text=True)
