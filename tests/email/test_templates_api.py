"""The email template endpoints of SPEC §9 with the rules of §6 and §12: the seed's example, versions,
syntax errors with their line, duplicate slugs, preview for a lead, given variables or sample data."""

from sqlalchemy import select

from tests.api.helpers import assert_problem, row_counts
from tests.email.helpers import WELCOME, make_template
from tests.factories import make_lead, make_org, make_user
from webapp.extensions import db
from webapp.models import Automation, AutomationAction, EmailTemplate, EmailTemplateVersion

BASE = "/api/v1/automations/email-templates"


def test_the_seeds_example_creates_a_template_at_version_1(api, org):
    response = api.post(BASE, json=WELCOME)

    assert response.status_code == 201, response.json
    body = response.json
    assert response.headers["Location"].endswith(f"{BASE}/{body['id']}")
    assert {k: body[k] for k in WELCOME} == WELCOME
    assert body["version"] == 1 and body["organization_id"] == org.id
    assert body["created_at"].endswith(("Z", "+00:00")) and body["updated_at"]
    assert api.get(f"{BASE}/{body['id']}").json == body
    assert api.get(BASE).json["total"] == 1


def test_the_slug_is_derived_from_the_name_when_omitted(api, org):
    body = api.post(BASE, json={"name": "Quote Follow-up (Auto)", "subject": "Hi", "body_text": "Hello"}).json
    assert body["slug"] == "quote-follow-up-auto"
    assert body["template_type"] == "marketing" and body["is_active"] is True and body["body_html"] == ""


def test_a_duplicate_slug_is_a_409_and_creates_nothing(api, org):
    api.post(BASE, json=WELCOME)
    before = row_counts()

    response = api.post(BASE, json={**WELCOME, "name": "Another"})

    assert_problem(response, 409)
    assert "welcome-email" in response.json["detail"]
    assert row_counts() == before


def test_the_same_slug_in_another_organization_is_fine(api, org):
    make_template(make_org("Other Brokers"))
    assert api.post(BASE, json=WELCOME).status_code == 201


def test_a_syntax_error_is_a_422_naming_the_part_and_the_line(api, org):
    before = row_counts()
    body_html = "<html>\n<body>\n<p>Hi {{ first_name }</p>\n</body></html>"

    response = api.post(BASE, json={**WELCOME, "body_html": body_html})

    problem = assert_problem(response, 422, "body_html")
    assert problem["errors"] == [{"field": "body_html", "message": "line 3: unexpected '}'"}]
    assert "line 3: unexpected '}'" in problem["detail"]
    assert row_counts() == before


def test_a_syntax_error_in_an_update_changes_nothing(api, org):
    template = api.post(BASE, json=WELCOME).json

    response = api.put(f"{BASE}/{template['id']}", json={"subject": "Hi {% if first_name %}"})

    assert_problem(response, 422, "subject")
    assert api.get(f"{BASE}/{template['id']}").json == template


def test_the_version_grows_by_one_when_the_subject_or_a_body_changes(api, org):
    template = api.post(BASE, json=WELCOME).json
    url = f"{BASE}/{template['id']}"

    assert api.put(url, json={"subject": "Welcome aboard, {{ first_name }}"}).json["version"] == 2
    assert api.put(url, json={"body_text": "Hello {{ first_name }}"}).json["version"] == 3
    assert api.put(url, json={"body_html": "<p>Hello</p>", "body_text": ""}).json["version"] == 4


def test_a_save_that_changes_neither_subject_nor_bodies_keeps_the_number(api, org):
    template = api.post(BASE, json=WELCOME).json
    url = f"{BASE}/{template['id']}"

    renamed = api.put(url, json={"name": "Welcome (v2 copy)", "is_active": False, "template_type": "transactional"}).json
    same_content = api.put(url, json={"subject": WELCOME["subject"], "body_html": WELCOME["body_html"]}).json

    assert renamed["version"] == same_content["version"] == 1
    assert renamed["name"] == "Welcome (v2 copy)" and renamed["is_active"] is False
    assert api.get(f"{url}/versions").json["items"] == []


def test_versions_lists_earlier_versions_newest_first_and_restore_brings_one_back(api, org, admin):
    template = api.post(BASE, json=WELCOME).json
    url = f"{BASE}/{template['id']}"
    api.put(url, json={"subject": "Second"})
    api.put(url, json={"subject": "Third"})

    versions = api.get(f"{url}/versions").json
    assert versions["total"] == 2
    assert [(v["version"], v["subject"]) for v in versions["items"]] == [(2, "Second"), (1, WELCOME["subject"])]
    assert versions["items"][0]["saved_by_id"] == admin.id and versions["items"][0]["organization_id"] == org.id

    restored = api.post(f"{url}/versions/1/restore").json
    assert restored["version"] == 4 and restored["subject"] == WELCOME["subject"]
    assert [v["version"] for v in api.get(f"{url}/versions").json["items"]] == [3, 2, 1]
    assert db.session.scalar(select(EmailTemplateVersion.restored_from).where(EmailTemplateVersion.version == 4)) == 1
    assert_problem(api.post(f"{url}/versions/4/restore"), 404)  # the current version is not an earlier one
    assert_problem(api.post(f"{url}/versions/99/restore"), 404)


def test_put_replaces_only_the_given_fields(api, org):
    template = api.post(BASE, json=WELCOME).json
    changed = api.put(f"{BASE}/{template['id']}", json={"name": "Renamed"}).json
    assert changed["name"] == "Renamed"
    assert {k: changed[k] for k in ("slug", "subject", "body_html", "body_text")} == {
        k: WELCOME[k] for k in ("slug", "subject", "body_html", "body_text")
    }


def test_bad_bodies_are_422s_naming_the_field(api, org):
    assert_problem(api.post(BASE, json={**WELCOME, "colour": "blue"}), 422, "colour")
    assert_problem(api.post(BASE, json={**WELCOME, "template_type": "newsletter"}), 422, "template_type")
    assert_problem(api.post(BASE, json={**WELCOME, "slug": "Not A Slug"}), 422, "slug")
    assert_problem(api.post(BASE, json={k: v for k, v in WELCOME.items() if k != "subject"}), 422, "subject")
    assert_problem(api.post(BASE, json={**WELCOME, "body_html": "", "body_text": ""}), 422, "body_html")
    assert_problem(api.post(BASE, json={**WELCOME, "name": None}), 422, "name")
    assert_problem(api.post(BASE, data="{not json", headers={"Content-Type": "application/json"}), 400)


def test_unsafe_markup_placement_is_refused_on_save(api, org):
    response = api.post(BASE, json={**WELCOME, "body_html": "<p>\n<a href={{ unsubscribe_url }}>x</a></p>"})
    assert assert_problem(response, 422, "body_html")["errors"][0]["message"].startswith("line 2:")


def test_preview_for_a_lead_renders_its_variables_and_lists_the_missing_ones(api, org, admin):
    lead = make_lead(org, first_name="Maria", last_name="Lopez", assigned_to_id=admin.id)
    template = api.post(BASE, json={**WELCOME, "body_text": "Hi {{ first_name }}, I am {{ agent_name }}. {{ favourite_colour }}"}).json

    response = api.post(f"{BASE}/{template['id']}/preview", json={"lead_id": lead.id})

    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"subject", "html", "text", "missing_variables"}
    assert body["subject"] == "Welcome to Acme Insurance Insurance"
    assert "<h1>Welcome Maria!</h1>" in body["html"]
    assert body["text"].startswith("Hi Maria, I am Ada Admin.")
    assert body["missing_variables"] == ["favourite_colour"]


def test_preview_escapes_lead_data_in_the_html(api, org):
    lead = make_lead(org, first_name="<script>alert(1)</script>")
    template = api.post(BASE, json=WELCOME).json
    html = api.post(f"{BASE}/{template['id']}/preview", json={"lead_id": lead.id}).json["html"]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_preview_with_given_variables_or_sample_data(api, org):
    template = api.post(BASE, json=WELCOME).json
    url = f"{BASE}/{template['id']}/preview"

    given = api.post(url, json={"context": {"first_name": "Zoe"}}).json
    assert "Welcome Zoe!" in given["html"] and given["missing_variables"] == ["company_name"]
    sample = api.post(url, json={}).json
    assert "Welcome Jamie!" in sample["html"] and sample["subject"] == "Welcome to Acme Insurance Insurance"
    assert sample["missing_variables"] == []


def test_a_marketing_email_without_an_unsubscribe_link_gets_one_in_the_preview(api, org):
    template = api.post(BASE, json=WELCOME).json
    body = api.post(f"{BASE}/{template['id']}/preview", json={}).json
    assert "Unsubscribe</a>" in body["html"] and "/u/preview" in body["html"]
    assert "Unsubscribe: http" in body["text"]
    transactional = api.post(BASE, json={**WELCOME, "slug": "t", "template_type": "transactional"}).json
    assert "/u/preview" not in api.post(f"{BASE}/{transactional['id']}/preview", json={}).json["html"]


def test_preview_refuses_another_organizations_lead_and_both_inputs(api, org):
    foreign = make_lead(make_org("Other Brokers"), first_name="Secret")
    template = api.post(BASE, json=WELCOME).json
    url = f"{BASE}/{template['id']}/preview"

    problem = assert_problem(api.post(url, json={"lead_id": foreign.id}), 422, "lead_id")
    assert "Secret" not in str(problem)
    assert_problem(api.post(url, json={"lead_id": 1, "context": {}}), 422, "context")
    assert_problem(api.post(url, json={"lead_id": "1"}), 422, "lead_id")


def test_a_template_that_fails_to_render_is_a_422_in_preview(api, org):
    template = api.post(BASE, json={**WELCOME, "body_text": "{{ 'A' * 10**9 }}"}).json
    problem = assert_problem(api.post(f"{BASE}/{template['id']}/preview", json={}), 422, "body_text")
    assert "larger than" in problem["errors"][0]["message"]


def test_list_filters_and_pagination(api, org):
    for name, kind in (("A", "marketing"), ("B", "transactional"), ("C", "notification")):
        api.post(BASE, json={**WELCOME, "name": name, "slug": name.lower(), "template_type": kind})
    api.put(f"{BASE}/{api.get(BASE).json['items'][0]['id']}", json={"is_active": False})

    assert [t["name"] for t in api.get(f"{BASE}?template_type=transactional").json["items"]] == ["B"]
    assert [t["name"] for t in api.get(f"{BASE}?is_active=false").json["items"]] == ["A"]
    page = api.get(f"{BASE}?per_page=2&page=2").json
    assert page["total"] == 3 and len(page["items"]) == 1 and page["per_page"] == 2
    assert_problem(api.get(f"{BASE}?template_type=newsletter"), 422, "template_type")


def test_delete_is_204_and_a_template_used_by_an_automation_is_a_409(api, org):
    unused = api.post(BASE, json=WELCOME).json
    used = api.post(BASE, json={**WELCOME, "slug": "used"}).json
    automation = Automation(organization_id=org.id, name="Welcome", slug="welcome", trigger_type="lead_created")
    automation.actions = [AutomationAction(action_type="send_email", configuration={"template_id": used["id"]})]
    db.session.add(automation)
    db.session.commit()

    assert api.delete(f"{BASE}/{unused['id']}").status_code == 204
    assert_problem(api.get(f"{BASE}/{unused['id']}"), 404)
    problem = assert_problem(api.delete(f"{BASE}/{used['id']}"), 409)
    assert "Welcome" in problem["detail"]
    assert db.session.get(EmailTemplate, used["id"]) is not None


def test_roles_and_tenancy(api, api_as, org):
    template = api.post(BASE, json=WELCOME).json
    viewer = api_as(make_user(org, role="viewer"))
    assert viewer.get(f"{BASE}/{template['id']}").status_code == 200
    assert viewer.post(f"{BASE}/{template['id']}/preview", json={}).status_code == 200
    assert_problem(viewer.post(BASE, json={**WELCOME, "slug": "x"}), 403)
    assert_problem(viewer.put(f"{BASE}/{template['id']}", json={"name": "x"}), 403)

    stranger = api_as(make_user(make_org("Other Brokers"), role="admin"))
    for method, url in (
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("GET", "/versions"),
        ("POST", "/preview"),
        ("POST", "/versions/1/restore"),
    ):
        response = stranger.request(method, f"{BASE}/{template['id']}{url}", json={} if method != "GET" else None)
        assert_problem(response, 404)
    assert stranger.get(BASE).json["total"] == 0
