"""Open and click tracking (SPEC §16), end to end: a marketing email goes to a real SMTP server with an
open pixel and its links rewritten; fetching them with an HTTP client records opens and clicks on the
outbox row and the lead's timeline; forged tokens record nothing; a click goes only where the email's
link went; suspected bots are kept as events and not counted."""

import re
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from tests.conftest import login_browser
from tests.email.helpers import lead_events, make_template, reloaded, send_now
from tests.factories import make_lead, make_user
from webapp.engagement import tokens
from webapp.engagement.links import MAX_LINKS, add_pixel, find_links, rewrite_links
from webapp.extensions import db
from webapp.models import OutboxMessage, utcnow

LINKS_HTML = """<html><body>
<h1>Hi {{ first_name }},</h1>
<p><a class="cta" href="https://example.com/quote?plan=gold&amp;term=12">See my quote</a></p>
<p><a href="https://example.com/agents/ada">Meet your agent</a> or <a href="mailto:help@example.com">write to us</a></p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""
QUOTE = "https://example.com/quote?plan=gold&term=12"
AGENT = "https://example.com/agents/ada"


@pytest.fixture
def newsletter(org):
    return make_template(org, name="Newsletter", subject="News for {{ first_name }}", body_html=LINKS_HTML, body_text="")


@pytest.fixture
def maria(org):
    return make_lead(org, first_name="Maria", email="maria@example.com")


def send(lead, template, run_jobs, key="run-step:1") -> OutboxMessage:
    """Send the email, then date its sending a minute back (a person opens it later)."""
    message = send_now(lead, template, run_jobs, key)
    message.sent_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    return message


def tracking_paths(mail) -> tuple[str, list[str]]:
    """The pixel's path and the click paths, in order, of a received email's HTML part."""
    html = mail.get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+/t/o/[^"]+)"', html).group(1)
    clicks = re.findall(r'href="([^"]+/t/c/[^"]+)"', html)
    return urlparse(pixel).path, [urlparse(url).path for url in clicks]


def test_a_marketing_email_arrives_with_a_pixel_and_its_links_rewritten_but_not_the_unsubscribe_link(
    smtp, run_jobs, org, newsletter, maria
):
    message = send(maria, newsletter, run_jobs)

    [mail] = smtp.messages
    html = mail.get_body(("html",)).get_content()
    assert mail["X-Leadflow-Message-Id"] == str(message.id)
    pixel, clicks = tracking_paths(mail)
    assert pixel.startswith("/t/o/") and len(clicks) == 2
    assert "https://example.com/quote" not in html and AGENT not in html  # both links go through Leadflow
    assert 'href="mailto:help@example.com"' in html  # only http(s) links are tracked
    unsubscribe = re.search(r'href="([^"]+/u/[^"]+)"', html).group(1)
    assert mail["List-Unsubscribe"] == f"<{unsubscribe}>"  # the unsubscribe link is left alone
    assert message.links == [QUOTE, AGENT] and message.track_opens is True
    # the outbox keeps the message as rendered: reading it there records no open and no click
    assert "/t/o/" not in message.body_html and "/t/c/" not in message.body_html and QUOTE.replace("&", "&amp;") in message.body_html
    text = mail.get_body(("plain",)).get_content()
    assert "https://example.com/quote" in text and "/t/c/" not in text  # the text part is untouched


def test_the_pixel_records_one_unique_open_and_every_open_as_an_event(smtp, run_jobs, client, org, newsletter, maria):
    message = send(maria, newsletter, run_jobs)
    pixel, _ = tracking_paths(smtp.messages[0])

    first = client.get(pixel)
    second = client.get(pixel)

    assert first.status_code == 200 and first.mimetype == "image/gif" and first.data.startswith(b"GIF89a")
    assert "no-store" in first.headers["Cache-Control"] and "no-cache" in first.headers["Cache-Control"]
    assert first.headers["Pragma"] == "no-cache" and first.headers["Expires"] == "0"
    assert second.status_code == 200
    row = reloaded(message)
    assert row.status == "opened" and row.open_count == 2 and row.opened_at is not None
    opened = lead_events("email_opened")
    assert len(opened) == 2 and {event.lead_id for event in opened} == {maria.id}
    assert opened[0].data == {"message_id": message.id, "template_id": newsletter.id, "suspected_bot": False}
    assert row.opened_at < opened[1].created_at  # "opened" is the first open, and counts once


def test_a_click_records_one_unique_click_and_redirects_to_the_recorded_url(smtp, run_jobs, client, org, newsletter, maria):
    message = send(maria, newsletter, run_jobs)
    _, (quote, agent) = tracking_paths(smtp.messages[0])

    response = client.get(quote)
    [first] = lead_events("email_clicked")
    first.created_at = utcnow() - timedelta(seconds=30)  # a person reads on before the next click
    db.session.commit()
    other = client.get(f"{agent}?url=https://evil.example.com/&next=https://evil.example.com/")

    assert response.status_code == 302 and response.headers["Location"] == QUOTE
    assert "no-store" in response.headers["Cache-Control"]
    assert other.status_code == 302 and other.headers["Location"] == AGENT  # never a URL from the request
    row = reloaded(message)
    assert row.status == "clicked" and row.click_count == 2 and row.clicked_at is not None
    clicked = lead_events("email_clicked")
    assert [(event.data["url"], event.data["link_index"], event.data["suspected_bot"]) for event in clicked] == [
        (QUOTE, 0, False),
        (AGENT, 1, False),
    ]
    assert clicked[0].data["message_id"] == message.id and clicked[0].data["template_id"] == newsletter.id


def test_forged_or_altered_tokens_are_404_and_record_nothing(smtp, run_jobs, client, app, org, newsletter, maria):
    message = send(maria, newsletter, run_jobs)
    pixel, (quote, _agent) = tracking_paths(smtp.messages[0])
    signature_changed = pixel[:-1] + ("A" if pixel[-1] != "A" else "B")
    payload_changed = quote.replace(quote.split("/")[-1].split(".")[0], "WzEsMV0", 1)  # [1,1], the signature of [1,0]
    foreign_key = URLSafeSerializer("not-our-secret-key", salt="leadflow.track.open.v1").dumps(message.id)
    with app.test_request_context():
        unknown_message = urlparse(tokens.open_url(message.id + 1000)).path

    for path in (
        signature_changed,
        payload_changed,
        f"/t/o/{foreign_key}",
        quote.replace("/t/c/", "/t/o/"),  # a click token is no open token
        pixel.replace("/t/o/", "/t/c/"),  # nor an open token a click token
        unknown_message,
        "/t/o/not-a-token",
        "/t/c/",
    ):
        assert client.get(path).status_code == 404, path

    row = reloaded(message)
    assert row.status == "sent" and row.open_count == 0 and row.click_count == 0 and row.opened_at is None
    assert lead_events("email_opened") == [] and lead_events("email_clicked") == []


def test_a_signed_click_token_leads_only_to_a_link_recorded_for_that_message(smtp, run_jobs, client, app, org, newsletter, maria):
    tracked = send(maria, newsletter, run_jobs)
    plain = make_template(org, name="Plain", body_html='<p><a href="https://example.com/x">x</a></p>', track_clicks=False)
    untracked = send(make_lead(org, email="lee@example.com"), plain, run_jobs, key="run-step:2")
    with app.test_request_context():
        beyond_the_links = urlparse(tokens.click_url(tracked.id, 2)).path  # the email has links 0 and 1
        no_links_recorded = urlparse(tokens.click_url(untracked.id, 0)).path

    assert client.get(beyond_the_links).status_code == 404
    assert client.get(no_links_recorded).status_code == 404
    assert untracked.links is None
    assert lead_events("email_clicked") == []


def test_head_requests_of_link_checkers_are_answered_and_record_nothing(smtp, run_jobs, client, org, newsletter, maria):
    message = send(maria, newsletter, run_jobs)
    pixel, (quote, _agent) = tracking_paths(smtp.messages[0])

    assert client.head(pixel).status_code == 200
    head = client.head(quote)

    assert head.status_code == 302 and head.headers["Location"] == QUOTE
    row = reloaded(message)
    assert row.open_count == 0 and row.click_count == 0 and lead_events("email_opened") == [] and lead_events("email_clicked") == []


def test_an_open_within_two_seconds_of_sending_is_a_suspected_bot_kept_as_an_event_not_counted(
    smtp, run_jobs, client, org, newsletter, maria
):
    message = send(maria, newsletter, run_jobs)
    message.sent_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    pixel, _ = tracking_paths(smtp.messages[0])

    assert client.get(pixel).status_code == 200

    row = reloaded(message)
    assert row.status == "sent" and row.open_count == 0 and row.opened_at is None
    [opened] = lead_events("email_opened")
    assert opened.data["suspected_bot"] is True


def test_clicks_on_every_link_within_two_seconds_are_all_suspected_bots(smtp, run_jobs, client, org, newsletter, maria):
    message = send(maria, newsletter, run_jobs)
    _, (quote, agent) = tracking_paths(smtp.messages[0])

    client.get(quote)
    assert reloaded(message).click_count == 1  # one link clicked: a person, so far
    assert client.get(agent).headers["Location"] == AGENT  # the scanner still gets where it asked

    row = reloaded(message)
    assert row.status == "sent" and row.click_count == 0 and row.clicked_at is None
    assert [event.data["suspected_bot"] for event in lead_events("email_clicked")] == [True, True]


def test_clicks_on_every_link_spread_over_more_than_two_seconds_are_a_person(smtp, run_jobs, client, org, newsletter, maria):
    message = send(maria, newsletter, run_jobs)
    _, (quote, agent) = tracking_paths(smtp.messages[0])
    client.get(quote)
    [first] = lead_events("email_clicked")
    first.created_at = utcnow() - timedelta(seconds=30)
    db.session.commit()

    client.get(agent)

    row = reloaded(message)
    assert row.status == "clicked" and row.click_count == 2
    assert [event.data["suspected_bot"] for event in lead_events("email_clicked")] == [False, False]


def test_a_click_within_two_seconds_of_sending_is_a_suspected_bot(smtp, run_jobs, client, org, newsletter, maria):
    message = send(maria, newsletter, run_jobs)
    message.sent_at = utcnow()
    db.session.commit()
    _, (quote, _agent) = tracking_paths(smtp.messages[0])

    assert client.get(quote).headers["Location"] == QUOTE

    assert reloaded(message).click_count == 0
    assert lead_events("email_clicked")[0].data["suspected_bot"] is True


@pytest.mark.parametrize(
    ("settings", "pixel", "links"),
    [
        ({"track_opens": False}, False, True),
        ({"track_clicks": False}, True, False),
        ({"track_opens": False, "track_clicks": False}, False, False),
    ],
)
def test_a_template_can_turn_off_the_pixel_or_the_links(smtp, run_jobs, org, maria, settings, pixel, links):
    template = make_template(org, name="Quiet", body_html=LINKS_HTML, **settings)

    send(maria, template, run_jobs)

    html = smtp.messages[0].get_body(("html",)).get_content()
    assert ("/t/o/" in html) is pixel and ("/t/c/" in html) is links
    assert (AGENT in html) is not links


def test_transactional_email_is_not_tracked(smtp, run_jobs, org, maria):
    template = make_template(org, name="Documents received", template_type="transactional", body_html=LINKS_HTML)

    message = send(maria, template, run_jobs)

    html = smtp.messages[0].get_body(("html",)).get_content()
    assert "/t/o/" not in html and "/t/c/" not in html and AGENT in html
    assert message.track_opens is False and message.links is None


def test_an_automation_steps_email_events_name_the_automation_run_and_step(smtp, run_jobs, api, client, org, newsletter):
    from tests.automations.helpers import make_automation, runs_of, step

    automation = make_automation(api, actions=[step("send_email", template_id=newsletter.id)])
    api.post("/api/v1/leads", json={"first_name": "Lee", "email": "lee@example.com"})
    run_jobs()
    [run] = runs_of(automation["id"])
    message = db.session.scalar(select(OutboxMessage))
    message.sent_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    _, (quote, _agent) = tracking_paths(smtp.messages[0])

    client.get(quote)

    [clicked] = lead_events("email_clicked")
    assert clicked.data["automation_id"] == automation["id"] and clicked.data["automation_run_id"] == run.id
    assert clicked.data["step_id"] == run.steps[0].id and clicked.data["action_id"] == automation["actions"][0]["id"]
    assert clicked.lead_id == run.lead_id


def test_the_lead_timeline_shows_opens_and_clicks(smtp, run_jobs, client, org, admin, newsletter, maria):
    send(maria, newsletter, run_jobs)
    pixel, (quote, _agent) = tracking_paths(smtp.messages[0])
    client.get(pixel)
    client.get(quote)

    login_browser(client, admin.email)
    page = client.get(f"/leads/{maria.id}").get_data(as_text=True)

    assert "Opened an email" in page and "Clicked" in page and "https://example.com/quote?plan=gold&amp;term=12" in page


def test_the_templates_api_takes_and_shows_the_tracking_settings(api, org):
    created = api.post(
        "/api/v1/automations/email-templates", json={"name": "Receipt", "subject": "Hi", "body_text": "Hi", "track_opens": False}
    )
    assert created.status_code == 201
    assert created.json["track_opens"] is False and created.json["track_clicks"] is True  # clicks by default

    changed = api.put(f"/api/v1/automations/email-templates/{created.json['id']}", json={"track_clicks": False})
    assert changed.status_code == 200 and changed.json["track_clicks"] is False and changed.json["track_opens"] is False
    assert changed.json["version"] == 1  # not a change of content

    bad = api.put(f"/api/v1/automations/email-templates/{created.json['id']}", json={"track_opens": "sometimes"})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "track_opens"
    null = api.put(f"/api/v1/automations/email-templates/{created.json['id']}", json={"track_opens": None})
    assert null.status_code == 422 and null.json["errors"][0]["field"] == "track_opens"


def test_the_template_editor_turns_tracking_on_and_off(client, org):
    user = make_user(org, email="mia@acme.example.com", role="marketer")
    login_browser(client, user.email)
    template = make_template(org, name="Newsletter", body_html="<p>Hi</p>")
    form = {
        "name": template.name,
        "slug": template.slug,
        "template_type": "marketing",
        "subject": template.subject,
        "body_html": "<p>Hi</p>",
    }

    page = client.get(f"/email-templates/{template.id}").get_data(as_text=True)
    assert re.search(r'<input [^>]*checked id="track_opens" name="track_opens" type="checkbox"', page)
    assert re.search(r'<input [^>]*checked id="track_clicks" name="track_clicks" type="checkbox"', page)

    client.post(f"/email-templates/{template.id}", data={**form, "track_clicks": "y"})
    db.session.refresh(template)
    assert template.track_opens is False and template.track_clicks is True


# --- finding links (pure) ------------------------------------------------------------------------------


def test_links_are_found_as_a_browser_reads_the_html():
    html = """<!-- <a href="https://commented.example/">x</a> -->
<A title='say href="https://inside-a-value.example/" >' HREF="https://example.com/a?x=1&amp;y=2" href="https://second.example/">a</A>
<a href='https://example.com/b'>b</a> <a href=https://example.com/c>c</a> <abbr href="https://not-a-link.example/">n</abbr>
<script>var s = '<a href="https://in-a-script.example/">';</script><style>a[href="https://in-a-style.example/"] {}</style>
<a href="mailto:help@example.com">m</a> <a href="javascript:void(0)">j</a> <a href="/relative">r</a> <a href="https://unsubscribe.example/u/1">u</a>
<area href=" https://example.com/d "><a href="https://example.com/e" """

    links = find_links(html, untracked=("https://unsubscribe.example/u/1",))

    assert [link.url for link in links] == [
        "https://example.com/a?x=1&y=2",
        "https://example.com/b",
        "https://example.com/c",
        "https://example.com/d",
    ]
    rewritten = rewrite_links(html, links, lambda index, link: f"https://t.example/{index}?k=1&n=2" if index != 1 else None)
    assert 'HREF="https://t.example/0?k=1&amp;n=2" href="https://second.example/"' in rewritten
    assert "href='https://example.com/b'" in rewritten  # None: left as it was
    assert 'href="https://t.example/2?k=1&amp;n=2">c</a>' in rewritten and '<area href="https://t.example/3?k=1&amp;n=2">' in rewritten
    assert rewritten.count("https://t.example/") == 3 and rewritten.replace("\n", "").startswith("<!-- <a href=")


def test_a_tag_or_comment_that_never_ends_holds_no_link_and_costs_one_reading():
    assert find_links('<a href="https://example.com/" title="never closed') == []
    assert find_links('<!-- <a href="https://example.com/">') == []
    # one start tag to the very end (quotes and "<a" are attribute names there, as browsers read them): read once
    assert [link.url for link in find_links('<a "' * 50_000 + '<a href="https://example.com/">')] == ["https://example.com/"]


def test_at_most_a_hundred_links_are_tracked():
    html = "".join(f'<a href="https://example.com/{n}">{n}</a>' for n in range(150))

    assert [link.url for link in find_links(html)] == [f"https://example.com/{n}" for n in range(MAX_LINKS)]


def test_the_pixel_goes_at_the_end_of_the_body():
    html = add_pixel("<html><body><p>Hi</p></BODY></html>", "https://t.example/o/1?a&b")

    assert html.startswith('<html><body><p>Hi</p><img src="https://t.example/o/1?a&amp;b" width="1" height="1" alt=""')
    assert html.endswith("></BODY></html>")
    assert add_pixel("<p>Hi</p>", "https://t.example/o/1").startswith('<p>Hi</p><img src="https://t.example/o/1"')
