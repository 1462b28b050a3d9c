"""The audit viewer at /admin/audit: who may see it, filters, paging; every security event leaves a row."""
from __future__ import annotations

from datetime import datetime

from freezegun import freeze_time

from lms import audit
from lms.audit.models import AuditLog


def test_only_sysadmin_and_auditor_see_the_audit_log(app, users, login_as, audit_rows):
    for who in (users.sysadmin, users.auditor):
        assert login_as(app.test_client(), who).get("/admin/audit").status_code == 200
    for who in (users.member, users.secretary, users.org_admin, users.teacher, users.reviewer):
        resp = login_as(app.test_client(), who).get("/admin/audit")
        assert resp.status_code == 403, who.name
    denied = audit_rows("authz.denied")
    assert len(denied) == 5 and {r.details["endpoint"] for r in denied} == {"audit.index"}
    assert app.test_client().get("/admin/audit").status_code == 302  # anonymous: to the login page


def test_auditor_sees_nothing_else(app, users, login_as):
    from lms.authz import can

    auditor = users.auditor
    assert not can(auditor, "manage", users.member)
    assert not can(auditor, "view", users.member)
    assert not can(auditor, "view", "admin:plugins")
    assert not can(auditor, "view", "people")


def test_filters_by_action_actor_outcome_and_dates(app, db, users, login_as):
    with freeze_time("2026-02-10 03:00:00"):  # 11:00 in Beijing
        audit.log("auth.login", actor=users.member)
        audit.log("auth.login", actor=users.teacher, outcome="failure", details={"login_id": users.teacher.login_id})
    with freeze_time("2026-02-12 03:00:00"):
        audit.log("auth.logout", actor=users.member)
    with freeze_time("2026-02-12 17:00:00"):  # 01:00 on 13 Feb in Beijing
        audit.log("auth.login", actor=users.teacher)
    db.session.commit()
    c = login_as(app.test_client(), users.auditor)

    def listed(**params):
        html = c.get("/admin/audit", query_string=params).get_data(as_text=True)
        return html.count('data-label="时间"')

    assert listed(action="auth.login") == 3
    assert listed(actor=users.teacher.login_id) == 2
    assert listed(outcome="failure") == 1
    assert listed(date_from="2026-02-11", date_to="2026-02-12", action="auth.logout") == 1
    assert listed(date_from="2026-02-13", actor=users.teacher.login_id) == 1  # local date, not UTC
    assert listed(date_from="2026-02-10", date_to="2026-02-10", actor=users.member.login_id) == 1


def test_bad_filters_are_shown_beside_the_field(app, users, login_as):
    c = login_as(app.test_client(), users.auditor)
    resp = c.get("/admin/audit", query_string={"date_from": "2026-03-01", "date_to": "2026-02-01"})
    assert resp.status_code == 200
    assert "截止日期不能早于起始日期" in resp.get_data(as_text=True)
    resp = c.get("/admin/audit", query_string={"date_from": "yesterday", "outcome": "bogus", "page": "x"})
    assert resp.status_code == 200
    assert "请选择列表中的结果" in resp.get_data(as_text=True)
    # An unfiltered first visit shows no errors at all.
    assert "has-error" not in c.get("/admin/audit").get_data(as_text=True)


def test_paging(app, db, users, login_as):
    for i in range(95):
        audit.log("test.bulk", details={"i": i})
    db.session.commit()
    c = login_as(app.test_client(), users.sysadmin)
    first = c.get("/admin/audit?action=test.bulk").get_data(as_text=True)
    assert first.count('data-label="时间"') == 40
    assert "第 1 / 3 页" in first
    last = c.get("/admin/audit?action=test.bulk&page=3").get_data(as_text=True)
    assert last.count('data-label="时间"') == 15
    assert c.get("/admin/audit?action=test.bulk&page=99").status_code == 200


def test_viewing_the_audit_log_is_audited(app, users, login_as, audit_rows):
    c = login_as(app.test_client(), users.auditor)
    c.get("/admin/audit?outcome=failure")
    rows = audit_rows("audit.view")
    assert len(rows) == 1 and rows[0].details == {"outcome": "failure"}
    assert rows[0].actor_login == users.auditor.login_id


def test_every_security_event_writes_exactly_one_row_with_the_six_fields(app, db, users, post_login, login_as):
    """LOG-01 for this area: login ok/fail, lockout, logout, password change, 403, admin actions."""
    c = app.test_client()

    def new_rows(fn):
        before = db.session.query(AuditLog.id).count()
        fn()
        return db.session.query(AuditLog).order_by(AuditLog.id).offset(before).all()

    cases = {
        "auth.login/success": lambda: post_login(c, users.member.login_id),
        "auth.password_change/success": lambda: c.post(
            "/account/password",
            data={"current_password": "Dangxiao#2026", "new_password": "Hongqi#Piao7", "confirm": "Hongqi#Piao7"},
        ),
        "auth.logout/success": lambda: c.post("/logout"),
        "auth.login/failure": lambda: post_login(c, users.teacher.login_id, "Wrong#Pass1"),
        "authz.denied/denied": lambda: login_as(app.test_client(), users.member).get("/admin/audit"),
        "auth.admin_unlock/success": lambda: login_as(app.test_client(), users.secretary).post(
            f"/admin/people/{users.member.id}/unlock"
        ),
    }
    for key, fn in cases.items():
        rows = new_rows(fn)
        assert [f"{r.action}/{r.outcome}" for r in rows] == [key], key
        row = rows[0]
        assert isinstance(row.at, datetime) and row.ip and row.action and row.outcome
        assert row.actor_login or row.details.get("login_id")
        assert row.target_id or row.details
    for _ in range(3):
        post_login(c, users.teacher.login_id, "Wrong#Pass1")
    rows = new_rows(lambda: post_login(c, users.teacher.login_id, "Wrong#Pass1"))
    assert sorted(r.action for r in rows) == ["auth.lockout", "auth.login"]
    # TOTP events are covered in tests/auth/test_auth_totp.py.


def test_rows_about_an_erased_person_are_kept_and_flagged(app, db, users, login_as):
    """PI-06: the erasure keeps the audit rows (retention duty) and the viewer marks them as an erased person's."""
    from lms.accounts import dsar

    audit.log("auth.login", actor=users.member)
    audit.log("auth.login", actor=users.teacher)
    users.member.is_active_account = False
    db.session.commit()
    dsar.erase(users.sysadmin, users.member)
    db.session.commit()
    html = login_as(app.test_client(), users.auditor).get("/admin/audit").get_data(as_text=True)
    rows = [r for r in html.split("<tr")[1:] if 'data-label="时间"' in r]
    flagged = [r for r in rows if "data-erased" in r]
    # the member's login and the erasure itself (its target is the member); not the teacher's login
    assert len(flagged) == 2 and all("已删除用户，依法保留" in r for r in flagged)
    assert any("privacy.erase" in r for r in flagged)
    assert not any(users.teacher.login_id in r for r in flagged)
