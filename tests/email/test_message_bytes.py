"""The bytes sent are those of the ``EmailMessage`` build, serialised for SMTP, but for the Date and the
MIME boundary: headers (tracked links, List-Unsubscribe, Message-ID), parts and their encoding."""

import re
from email import policy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.email.helpers import make_template
from tests.factories import make_lead
from webapp.email_templates.delivery import queue_email
from webapp.email_templates.mime import build_mime, message_bytes
from webapp.extensions import db
from webapp.models import OutboxMessage

SENDER = "Acme Insurance <hello@acme.example.com>"
HTML = """<html><body><h1>Hi {{ first_name }},</h1>
<p><a href="https://example.com/quote?id=7&amp;x=1">See my quote</a> or <a href="https://example.com/call">call us</a>.</p>
<p>{{ company_name }} &middot; <a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""


def without_date_and_boundary(data: bytes) -> bytes:
    data = re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: -\r\n", data)
    return re.sub(rb"={15}\d{19}==", b"BOUNDARY", data)


def built(message: OutboxMessage, sender: str = SENDER):
    """``(message_bytes, the EmailMessage build's bytes)``, or the errors each raised."""
    results = []
    for build in (lambda: message_bytes(message, sender), lambda: build_mime(message, sender).as_bytes(policy=policy.SMTP)):
        try:
            results.append(without_date_and_boundary(build()))
        except (ValueError, TypeError, IndexError) as error:  # IndexError: the library's parser on a Message-ID like "<"
            results.append(type(error))
    return results


def test_a_tracked_marketing_email_is_written_as_the_email_message_build_writes_it(mail_config, org):
    mail_config(MAIL_SERVER="127.0.0.1", MAIL_DEFAULT_SENDER=SENDER, PUBLIC_BASE_URL="https://leadflow.example.com")
    template = make_template(org, name="Quote", subject="{{ first_name }}, your quote", body_html=HTML, body_text="")
    lead = make_lead(org, first_name="Maria", last_name="Lopez", email="maria@example.com")
    result = queue_email(organization_id=org.id, template_id=template.id, lead_id=lead.id, idempotency_key="run-step:9")
    db.session.commit()
    message = db.session.get(OutboxMessage, result["message_id"])
    assert message.links and message.track_opens and message.unsubscribe_url

    ours, library = built(message)

    assert ours == library
    assert b"/t/c/" in ours and b"/t/o/" in ours and b"\r\nMessage-ID: " + message.message_id_header.encode() + b"\r\n" in ours
    assert b"\r\nList-Unsubscribe: <" + message.unsubscribe_url.encode() + b">\r\n" in ours  # longer than 78, on one line
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in ours


def test_a_long_unsubscribe_link_is_written_on_one_line_not_as_encoded_words(app):
    url = "https://leadflow.example.com/u/" + "WzEsMjNd." + "a" * 300
    message = OutboxMessage(
        id=1, to_address="a@example.com", to_name="", subject="Hi", body_text="x", template_type="marketing", unsubscribe_url=url
    )
    with app.app_context():
        ours, library = built(message)
    assert ours == library
    assert f"\r\nList-Unsubscribe: <{url}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n".encode() in ours
    assert b"=?utf-8?" not in ours


headers_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=90)
ascii_words = st.from_regex(r"[ -~]{0,100}", fullmatch=True)
names = st.sampled_from(["", "Maria Lopez", "O'Brien", "Lopez, Maria", 'J. "Bob" Smith', "Zoë Ünal"])
local_parts = st.sampled_from(["maria", "first.last", "a+tag", "o'neil", "x..y", '"quoted"'])
unsubscribe_urls = st.sampled_from([None, "https://leadflow.example.com/u/WzEsMjNd.abc"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    subject=st.one_of(ascii_words, headers_text),
    to_name=st.one_of(names, ascii_words, headers_text),
    local=st.one_of(local_parts, st.from_regex(r"[a-z.+-]{1,20}", fullmatch=True)),
    body_text=st.text(max_size=300),
    body_html=st.one_of(st.just(""), st.text(max_size=300)),
    unsubscribe_url=st.one_of(
        unsubscribe_urls,
        st.from_regex(r"https://[a-z./]{1,120}", fullmatch=True),
        st.from_regex(r"https://[!-~]{900,1000}", fullmatch=True),
        headers_text,
    ),
    template_type=st.sampled_from(["marketing", "transactional"]),
    message_id_header=st.one_of(st.just("<0123abcd.leadflow@acme.example.com>"), ascii_words),
    message_id=st.integers(1, 10**12),
)
def test_any_message_is_written_as_the_email_message_build_writes_it(
    app, subject, to_name, local, body_text, body_html, unsubscribe_url, template_type, message_id_header, message_id
):
    message = OutboxMessage(
        id=message_id,
        to_address=f"{local}@example.com",
        to_name=to_name,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        unsubscribe_url=unsubscribe_url,
        template_type=template_type,
        message_id_header=message_id_header,
        track_opens=False,
        links=None,
    )
    with app.app_context():
        ours, library = built(message)
    assert ours == library


def test_a_header_that_cannot_be_written_is_refused_as_before(app):
    message = OutboxMessage(id=1, to_address="a@example.com", to_name="", subject="two\nlines", body_text="x", template_type="marketing")
    with app.app_context():
        assert built(message) == [ValueError, ValueError]
