"""One-click reminders: exactly the members behind in scope are notified; audited; cooldown and rate limit."""
from __future__ import annotations


def _notified(db, user_ids=None):
    from lms.notifications.models import Notification

    return {n.user_id for n in db.session.query(Notification).filter_by(kind="system")}


def test_reminders_notify_exactly_the_members_behind(client, db, users, org, login_as, make_course, learn, year):
    from lms.audit.models import AuditLog
    from lms.notifications.models import Notification

    c = make_course(hours="32")
    learn.complete(users.member, c)  # met: 32 of 32
    learn.lesson(users.teacher, c)  # behind
    login_as(client, users.secretary)
    resp = client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year})
    assert resp.status_code == 303
    assert _notified(db) == {users.teacher.id, users.secretary.id}
    note = db.session.query(Notification).filter_by(user_id=users.teacher.id).one()
    assert "还差 32 学时" in note.title and note.url == f"/credits/my?year={year}"
    row = db.session.query(AuditLog).filter_by(action="stats.remind").one()
    assert row.details["sent"] == 2 and sorted(row.details["people"]) == sorted([users.teacher.id, users.secretary.id])
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已提醒 2 名" in page


def test_a_second_click_does_not_remind_the_same_people_again(client, db, users, org, login_as, year):
    from lms.notifications.models import Notification

    login_as(client, users.org_admin)
    client.post(f"/stats/units/{org.a2.id}/remind", data={"year": year})
    assert db.session.query(Notification).filter_by(user_id=users.member_a2.id).count() == 1
    resp = client.post(f"/stats/units/{org.a2.id}/remind", data={"year": year}, follow_redirects=True)
    assert db.session.query(Notification).filter_by(user_id=users.member_a2.id).count() == 1
    assert "都已提醒过" in resp.get_data(as_text=True)


def test_reminders_are_rate_limited_per_person(app, client, db, users, org, login_as, year):
    app.config["STATS_REMINDS_PER_HOUR"] = 2
    login_as(client, users.org_admin)
    for _ in range(2):
        client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year})
    resp = client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year}, follow_redirects=True)
    assert "一小时内最多发送 2 次提醒" in resp.get_data(as_text=True)


def test_nobody_outside_the_scope_is_reminded_and_foreign_units_are_refused(client, db, users, org, login_as, year):
    login_as(client, users.secretary_b)
    assert client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year}).status_code == 403
    assert _notified(db) == set()
    client.post(f"/stats/units/{org.b1.id}/remind", data={"year": year})
    assert _notified(db) == {users.member_b.id, users.secretary_b.id}


def test_a_bad_year_is_a_friendly_error(client, db, users, org, login_as):
    login_as(client, users.secretary)
    resp = client.post(f"/stats/units/{org.a1.id}/remind", data={"year": "abc"}, follow_redirects=True)
    assert resp.status_code == 200 and _notified(db) == set()
    assert "年度" in resp.get_data(as_text=True)


def test_reminders_are_written_when_another_request_wrote_while_the_figures_were_read(
        client, db, users, org, login_as, year, monkeypatch):
    """The figures are read in one transaction; another request committing meanwhile must not make the
    reminders fail ("database is locked" on SQLite when a write follows an outdated read snapshot)."""
    from sqlalchemy import text

    from plugins.stats import services

    real = services.person_figures

    def figures_then_someone_writes(*args, **kwargs):
        out = real(*args, **kwargs)
        with db.engine.connect() as other:  # another request of the server commits meanwhile
            other.execute(text("UPDATE org_unit SET sort_order = sort_order + 1 WHERE id = :id"), {"id": org.b.id})
            other.commit()
        return out

    monkeypatch.setattr(services, "person_figures", figures_then_someone_writes)
    login_as(client, users.secretary)
    resp = client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year})
    assert resp.status_code == 303
    assert _notified(db) == {users.member.id, users.teacher.id, users.secretary.id}
