"""Email templates (SPEC §6): templates with versions, the outbox, delivery over SMTP, unsubscribe.

- ``rendering``: the sandboxed renderer (pure): sandbox and budget, HTML checks, CSS inlining, the
  text part (inscriptis), the pipeline that caches each version's compiled parts.
- ``services``: template validation, saving with versions, restore, diff, preview.
- ``delivery``: ``queue_email()`` (an outbox row, inside the caller's transaction), the sending job
  ``send_outbox_messages()`` and the sweeper ``requeue_stalled_messages()``.
- ``unsubscribe``: signed one-click links and the public ``/u/<token>`` page.
- ``views`` (the editor), ``outbox_views`` (the outbox), ``panels`` (lead and campaign pages), ``demo``.
"""
