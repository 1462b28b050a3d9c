"""With the xAPI plugin on, reading a material and attending a session are stored as `read` and `attended`
statements in the same transaction as the credit (the plugins talk only through lms.events)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from lms.timeutil import utcnow


@pytest.fixture
def app(app_factory):
    a = app_factory(PLUGINS=["xapi", "article", "party_school"])
    with a.app_context():
        yield a


def test_read_and_attended_statements_are_stored(app, db, users, org):
    from plugins.party_school import services

    with freeze_time(utcnow()) as clock, app.test_request_context():
        m = services.create_material(users.org_admin, title="学习资料", unit=org.a, body="学习内容。" * 20,
                                     required_minutes=0.5)
        s = services.create_session(users.org_admin, kind="training", subtype="training", title="专题培训",
                                    unit=org.a, starts_at=utcnow(), ends_at=utcnow() + timedelta(hours=2),
                                    duration_kind="hours", hours=2)
        services.heartbeat(users.member, m, seconds=0)
        clock.tick(40)
        assert services.heartbeat(users.member, m, seconds=40, reached_end=True)["completed"]
        services.check_in(users.member, s, code=s.checkin_code)
        db.session.commit()
    verbs = {v for (v,) in db.session.execute(text("SELECT verb_id FROM xapi_statement"))}
    assert "http://activitystrea.ms/schema/1.0/read" in verbs
    assert "http://adlnet.gov/expapi/verbs/attended" in verbs
