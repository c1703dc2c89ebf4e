"""``flask users create`` and ``flask demo seed`` (SPEC §2)."""

import random
from datetime import timedelta
from decimal import Decimal

import click
from flask.cli import AppGroup
from sqlalchemy import func, select, update

from .extensions import db
from .features import wiring
from .leads.services import create_leads
from .models import Campaign, Lead, LeadEvent, Organization, User, utcnow
from .models.org import ROLES
from .text import slugify
from .validation import user_email_problem

users_cli = AppGroup("users", help="Manage users.")
demo_cli = AppGroup("demo", help="Demo data.")


def get_or_create_org(name: str) -> Organization:
    org = db.session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        org = Organization(name=name, slug=slugify(name, "org"))
        db.session.add(org)
        db.session.flush()
    return org


def create_user(email: str, password: str, org_name: str, role: str = "admin", superuser: bool = False, name: str = "") -> User:
    if problem := user_email_problem(email.strip()):
        raise click.ClickException(f"{email} is not an email address: {problem}")
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email.strip().lower())):
        raise click.ClickException(f"a user with the email {email} already exists")
    org = get_or_create_org(org_name)
    user = User(
        email=email.strip(),
        organization_id=org.id,
        role=role,
        is_superuser=superuser,
        name=name or email.split("@")[0].replace(".", " ").title(),
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


@users_cli.command("create")
@click.argument("email")
@click.option("--password", required=True)
@click.option("--org", "org_name", required=True, help="Organization name (created if missing).")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
@click.option("--superuser", is_flag=True)
@click.option("--name", default="")
def create_user_command(email, password, org_name, role, superuser, name):
    """Create a user (and the organization if it does not exist); prints the user's id."""
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    user = create_user(email, password, org_name, role, superuser, name)
    db.session.commit()
    click.echo(user.id)


FIRST = "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth Maria Jose Wei Aisha Carlos Priya".split()
LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Nguyen Patel Kim Lopez".split()
CITIES = [
    ("TX", "Austin"),
    ("TX", "Houston"),
    ("CA", "San Diego"),
    ("CA", "Los Angeles"),
    ("FL", "Miami"),
    ("FL", "Orlando"),
    ("NY", "Buffalo"),
    ("IL", "Chicago"),
    ("GA", "Atlanta"),
    ("AZ", "Phoenix"),
]
TAGS = ["vip", "spanish", "bundle", "homeowner", "multi-car", "referral-bonus", "webinar"]
WEIGHTED = {
    "status": (["new", "contacted", "qualified", "quoted", "converted", "lost"], [40, 20, 15, 10, 8, 7]),
    "priority": (["low", "medium", "high", "urgent"], [25, 45, 22, 8]),
    "source": (
        ["website", "referral", "facebook", "google_ads", "email", "phone", "partner", "event", "other"],
        [30, 12, 15, 18, 6, 5, 6, 4, 4],
    ),
    "insurance_type": (["auto", "home", "life", "health", "business", "renters", "umbrella", "other"], [35, 22, 12, 10, 8, 7, 4, 2]),
}
DEMO_PASSWORD = "demo-pass-123"


def demo_leads(rng: random.Random, count: int, campaign_id: int, agents: list[int]) -> list[dict]:
    rows = []
    for _ in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        state, city = rng.choice(CITIES)
        row = {name: rng.choices(values, weights)[0] for name, (values, weights) in WEIGHTED.items()}
        row.update(
            first_name=first,
            last_name=last,
            state=state,
            city=city,
            email=f"{first}.{last}{rng.randint(1, 9999)}@example.com".lower(),
            phone=f"+1 512 555 {rng.randint(1000, 9999)}",
            value_estimate=Decimal(round(rng.lognormvariate(7, 0.8), 2)).quantize(Decimal("0.01")),
            tags=sorted(set(rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2])))),
            campaign_id=campaign_id if rng.random() < 0.4 else None,
            assigned_to_id=rng.choice(agents) if agents and rng.random() < 0.5 else None,
        )
        rows.append(row)
    return rows


@demo_cli.command("seed")
@click.option("--org", "org_name", default="Acme Insurance", show_default=True)
@click.option("--leads", "lead_count", default=500, show_default=True, type=click.IntRange(0, 200_000))
def seed_command(org_name, lead_count):
    """Realistic demo data for one organization; running it again changes nothing."""
    org = get_or_create_org(org_name)
    if db.session.scalar(select(func.count()).select_from(Lead).where(Lead.organization_id == org.id)):
        click.echo(f"{org_name} already has demo data; nothing to do.")
        return
    slug = org.slug
    people = {}
    for role, name in (
        ("admin", "Ada Admin"),
        ("marketer", "Mia Marketer"),
        ("agent", "Alex Agent"),
        ("agent", "Sam Agent"),
        ("viewer", "Val Viewer"),
    ):
        email = f"{name.split()[0].lower()}@{slug}.example.com"
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        people[name] = user or create_user(email, DEMO_PASSWORD, org_name, role, name=name)
    campaign = Campaign(
        organization_id=org.id,
        name="Spring Auto Push",
        status="active",
        channel="google_ads",
        description="Auto insurance leads from paid search",
        budget=Decimal("25000"),
        starts_at=utcnow() - timedelta(days=30),
        ends_at=utcnow() + timedelta(days=60),
    )
    db.session.add(campaign)
    db.session.flush()
    rng = random.Random(42)
    agents = [u.id for u in people.values() if u.role == "agent"]
    for start in range(0, lead_count, 1000):
        create_leads(org.id, demo_leads(rng, min(1000, lead_count - start), campaign.id, agents), people["Ada Admin"].id)
    _spread_creation_dates(org.id, rng)
    for seeder in wiring().demo_seeders:
        seeder(org, people, rng)
    db.session.commit()
    click.echo(f"Seeded {org_name}: {lead_count} leads. Sign in as ada@{slug}.example.com / {DEMO_PASSWORD}")


def _spread_creation_dates(organization_id: int, rng: random.Random) -> None:
    """Demo leads arrived over the last 60 days, not all this second."""
    ids = db.session.scalars(select(Lead.id).where(Lead.organization_id == organization_id)).all()
    now = utcnow()
    for lead_id in ids:
        created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        db.session.execute(update(Lead).where(Lead.id == lead_id).values(created_at=created, updated_at=created))
        db.session.execute(update(LeadEvent).where(LeadEvent.lead_id == lead_id).values(created_at=created))
