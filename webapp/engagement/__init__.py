"""Email engagement (SPEC §16): what became of the emails sent, and who must get no more.

- ``tokens``: the signed tokens of the tracking URLs (``/t/o/<token>``, ``/t/c/<token>``);
- ``links``: the http(s) links of an email's HTML found and rewritten, the pixel added (pure);
- ``tracking``: what is tracked in a message, decided when it is queued (``tracking_columns``) and
  applied when it is sent (``tracked_html``);
- ``recording``: an open, a click or a delivery event moves the outbox row on and becomes a lead
  event; suspected bots are flagged;
- ``delivery_events``: the events a mail provider posts to ``/api/v1/email-events`` (``api.email_events``),
  their organization found from the signature (``webhook_secret``);
- ``suppression``: the suppression list as email reads it (an address's row or its domain's; an
  unsubscribe stops marketing only), which ``queue_email`` and the send job obey; bounces and complaints land in it;
- ``views`` (the public tracking URLs) and ``admin_views`` (the webhook's admin page).
"""
