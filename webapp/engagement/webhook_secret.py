"""The secret with which a sender of delivery events signs them: one per organization (SPEC §16).

A request to ``/api/v1/email-events`` carries ``X-Leadflow-Signature: sha256=<hex>``, the HMAC-SHA256
of its raw body under the secret (as GitHub and Stripe sign their webhooks). The secret is a random
string made when the organization is (``models.org.new_webhook_secret``); admins read it and rotate
it, after which the old one signs nothing.
"""

import hashlib
import hmac
import re

from ..models import Organization
from ..models.org import new_webhook_secret

SIGNATURE_HEADER = "X-Leadflow-Signature"
SIGNATURE_PATTERN = "^sha256=[0-9a-fA-F]{64}$"


def webhook_secret(organization: Organization) -> str:
    """The organization's secret; one is made if it has none (the caller commits)."""
    if not organization.webhook_secret:
        organization.webhook_secret = new_webhook_secret()
    return organization.webhook_secret


def rotate_webhook_secret(organization: Organization) -> str:
    """A new secret replaces the old one (the caller commits)."""
    organization.webhook_secret = new_webhook_secret()
    return organization.webhook_secret


def signature_in(header: str | None) -> str | None:
    """The hex digest of a well-formed signature header (lower-case), or None."""
    header = (header or "").strip()
    return header[len("sha256=") :].lower() if re.fullmatch(SIGNATURE_PATTERN, header) else None


def signature_of(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_with(secret: str | None, body: bytes, signature: str) -> bool:
    """Does ``signature`` (hex) sign ``body`` under ``secret``? Compared in constant time."""
    return bool(secret) and hmac.compare_digest(signature_of(secret, body), signature)
