from webapp.models import Organization


def test_database_is_postgresql(session):
    assert session.get_bind().dialect.name == "postgresql"
    session.add(Organization(name="Acme", slug="acme"))
    session.commit()
    assert session.query(Organization).count() == 1
