"""Steps that contact a lead obey the contactability check (SPEC §17).

A ``send_email`` step to the lead is checked on the email channel (a marketing template for every
reason; a transactional one only for a suppressed or hard-bounced address; notifications are not
contacts of the lead), a ``create_task`` step of a ``call`` on the phone channel. A blocked step is
deferred to ``next_allowed_at`` (the engine parks its run, and the step is checked again when it
resumes) or skipped, as the step's ``when_blocked`` says, else the organization's policy; a block
that does not pass with time (an opt-out, a suppression, no consent) is always a skip.

In a batch of runs the facts are read once for all the batch's leads (``read_ahead`` names them;
the first check of a channel reads that channel's facts for all of them).
"""

from ..batching import in_batch, memo, remember
from ..contactability.facts import contactability_of_leads
from ..contactability.policy import organization_policy
from ..models import Lead, utcnow

WHEN_BLOCKED = ("defer", "skip")
TRANSACTIONAL_CODES = ("suppressed", "hard_bounced")  # what still stops a transactional email
CHECKED_TEMPLATE_TYPES = ("marketing", "transactional")


def read_ahead(leads) -> None:
    """In a batch, the leads whose facts the batch's first check of a channel reads (per organization)."""
    if not in_batch():
        return
    by_organization: dict[int, list[Lead]] = {}
    for lead in leads:
        by_organization.setdefault(lead.organization_id, []).append(lead)
    for organization_id, members in by_organization.items():
        remember(("contact_leads", organization_id), members)


def verdict_for(lead: Lead, channel: str) -> dict:
    """``check_contactability``'s verdict for the lead on the channel now (in a batch: read with the batch's leads)."""
    organization_id = lead.organization_id
    policy = step_policy(organization_id)

    def read():
        leads = memo(("contact_leads", organization_id), lambda: [lead])
        return contactability_of_leads(organization_id, leads, (channel,), utcnow(), policy)

    verdicts = memo(("contactability", organization_id, channel), read)
    if (lead.id, channel) not in verdicts:  # a lead the batch did not name
        verdicts.update(contactability_of_leads(organization_id, [lead], (channel,), utcnow(), policy))
    return verdicts[(lead.id, channel)]


def step_policy(organization_id: int):
    return memo(("contact_policy", organization_id), lambda: organization_policy(organization_id))


def for_template(verdict: dict, template_type: str) -> dict:
    """The verdict as it applies to an email of this template type: a transactional email is stopped only
    by a suppressed or hard-bounced address (reasons that do not pass with time)."""
    if template_type != "transactional":
        return verdict
    reasons = [reason for reason in verdict["reasons"] if reason["code"] in TRANSACTIONAL_CODES]
    return {**verdict, "allowed": not reasons, "next_allowed_at": None, "reasons": reasons}


def blocked_output(verdict: dict, config: dict, organization_id: int) -> dict | None:
    """None when the verdict allows the contact; else the step's output: ``deferred`` (with
    ``next_allowed_at``, the engine parks the run until then) or ``skipped``, with the reasons."""
    if verdict["allowed"]:
        return None
    when_blocked = config.get("when_blocked") or step_policy(organization_id).when_blocked
    reasons = verdict["reasons"]
    output = {
        "blocked": verdict["channel"],
        "reasons": reasons,
        "reason": " ".join(reason["message"] for reason in reasons),
        "when_blocked": when_blocked,
    }
    next_allowed_at = verdict["next_allowed_at"]
    if when_blocked == "defer" and next_allowed_at is not None:
        return {**output, "deferred": True, "next_allowed_at": next_allowed_at.isoformat()}
    if when_blocked == "defer":
        output["not_deferred"] = "the block does not pass with time"
    return {**output, "skipped": True}


def check_email_step(config: dict, lead: Lead, template_type: str) -> dict | None:
    """``blocked_output`` of a send_email step (None: send it). Only emails to the lead are checked."""
    if config.get("to", "lead") != "lead" or template_type not in CHECKED_TEMPLATE_TYPES:
        return None
    return blocked_output(for_template(verdict_for(lead, "email"), template_type), config, lead.organization_id)


def check_task_step(config: dict, lead: Lead) -> dict | None:
    """``blocked_output`` of a create_task step (None: create it). Only a call contacts the lead."""
    if config.get("task_type", "follow_up") != "call":
        return None
    return blocked_output(verdict_for(lead, "phone"), config, lead.organization_id)


def check_when_blocked(config: dict) -> dict:
    """The configuration error of a step's ``when_blocked``, if any."""
    if config.get("when_blocked") in (None, "") or config["when_blocked"] in WHEN_BLOCKED:
        return {}
    return {"when_blocked": "must be 'defer' or 'skip' (or left out: the contact policy's choice)"}
