"""The embedded default (SQLite): the same set-based refresh, re-check and static edits work there too."""

from decimal import Decimal

import pytest
from sqlalchemy import select, text

from tests.segments.helpers import SEED_SEGMENT, active_member_ids, segment_events
from webapp import create_app
from webapp.extensions import db
from webapp.leads.services import create_leads, update_lead
from webapp.models import Lead, Organization, Segment
from webapp.segments import membership, services


@pytest.fixture
def sqlite_org(tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/leadflow.db", "REDIS_URL": None})
    with app.app_context():
        db.create_all()
        org = Organization(name="Acme Insurance", slug="acme")
        db.session.add(org)
        db.session.commit()
        yield org
        db.session.remove()
        db.engine.dispose()


def test_refresh_recheck_and_static_edits_on_sqlite(sqlite_org):
    org = sqlite_org
    assert db.engine.dialect.name == "sqlite"
    ids = create_leads(
        org.id,
        [
            {"insurance_type": "auto", "value_estimate": Decimal("1500"), "status": "new", "city": "San Antonio", "tags": ["vip"]},
            {"insurance_type": "auto", "value_estimate": Decimal("900"), "status": "new", "city": "Austin"},
            {"insurance_type": "home", "value_estimate": Decimal("3000"), "status": "new", "tags": ["vip"]},
        ],
    )
    seed, _ = services.create_segment(org.id, SEED_SEGMENT)
    vip, _ = services.create_segment(
        org.id,
        {
            "name": "VIP or Austin",
            "match_all_rules": False,
            "rules": [
                {"field": "tags", "operator": "contains", "value": "vip"},
                {"field": "city", "operator": "contains", "value": "AUST"},
            ],
        },
    )
    db.session.commit()
    assert active_member_ids(seed.id) == {ids[0]}
    assert active_member_ids(vip.id) == set(ids)
    assert services.preview_rules(org.id, True, SEED_SEGMENT["rules"]) == {"count": 1, "lead_ids": [ids[0]]}

    lead = db.session.get(Lead, ids[1])
    update_lead(lead, {"value_estimate": Decimal("1000.01"), "city": "Dallas"})
    db.session.commit()
    assert active_member_ids(seed.id) == {ids[0], ids[1]}
    assert active_member_ids(vip.id) == {ids[0], ids[2]}
    assert ("segment_exited", ids[1]) in segment_events(vip.id)

    db.session.execute(text("UPDATE leads SET status = 'lost' WHERE id = :id"), {"id": ids[0]})
    assert membership.refresh_membership(org.id, seed.id) == {"entered": 0, "exited": 1, "member_count": 1}
    db.session.commit()
    assert db.session.scalar(select(Segment.member_count).where(Segment.id == seed.id)) == 1

    static, _ = services.create_segment(org.id, {"name": "Picked", "is_dynamic": False})
    assert services.add_leads(static, ids, None) == {"added": 3, "already_members": 0}
    assert services.remove_leads(static, [ids[2]], None) == {"removed": 1}
    db.session.commit()
    assert active_member_ids(static.id) == {ids[0], ids[1]}
