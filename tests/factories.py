"""Factories for test data: each returns a committed object with plausible defaults."""

import itertools
from decimal import Decimal

from webapp.extensions import db
from webapp.models import Campaign, Lead, LeadTag, Organization, User

_seq = itertools.count(1)


def make_org(name: str | None = None) -> Organization:
    n = next(_seq)
    name = name or f"Org {n}"
    org = Organization(name=name, slug=f"{name.lower().replace(' ', '-')}-{n}")
    db.session.add(org)
    db.session.commit()
    return org


def make_user(
    org: Organization | None = None,
    *,
    email: str | None = None,
    role: str = "admin",
    password: str = "secret-pass-1",
    is_superuser: bool = False,
    name: str = "",
) -> User:
    org = org or make_org()
    user = User(
        email=email or f"user{next(_seq)}@example.com",
        organization_id=org.id,
        role=role,
        is_superuser=is_superuser,
        name=name or f"User {next(_seq)}",
    )
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def make_lead(org: Organization, *, tags: tuple[str, ...] = (), **fields) -> Lead:
    values = {
        "first_name": "Jane",
        "last_name": "Doe",
        "email": f"lead{next(_seq)}@example.com",
        "status": "new",
        "priority": "medium",
        "source": "website",
        "insurance_type": "auto",
        "state": "TX",
        "city": "Austin",
        "value_estimate": Decimal("1500"),
    }
    values.update(fields)
    lead = Lead(organization_id=org.id, **values)
    lead.tag_rows = [LeadTag(tag=t) for t in tags]
    db.session.add(lead)
    db.session.commit()
    return lead


def make_campaign(org: Organization, **fields) -> Campaign:
    campaign = Campaign(organization_id=org.id, name=fields.pop("name", f"Campaign {next(_seq)}"), **fields)
    db.session.add(campaign)
    db.session.commit()
    return campaign
