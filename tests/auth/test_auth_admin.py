"""An administrator acting on a person: end sessions, reset password, unlock, reset TOTP (SESS-05, LOG-01)."""
from __future__ import annotations

import re

import pytest

from lms.testing import TEST_PASSWORD


def test_secretary_ends_sessions_of_own_branch_member(app, users, login_as, post_login, session_count, audit_rows):
    member_browser = app.test_client()
    post_login(member_browser, users.member.login_id)
    post_login(app.test_client(), users.member.login_id)
    assert session_count(users.member) == 2
    admin = login_as(app.test_client(), users.secretary)
    resp = admin.post(f"/admin/people/{users.member.id}/sessions/end", data={"next": "/account"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/account"
    assert session_count(users.member) == 0
    assert member_browser.get("/account").status_code == 302
    row = audit_rows("auth.admin_end_sessions")[-1]
    assert row.actor_login == users.secretary.login_id and row.target_id == str(users.member.id)
    assert row.details == {"count": 2}


@pytest.mark.parametrize(
    "endpoint", ["sessions/end", "password/reset", "unlock", "totp/reset"]
)
def test_secretary_of_another_branch_gets_403(app, db, users, login_as, post_login, session_count, audit_rows, endpoint):
    post_login(app.test_client(), users.member.login_id)
    before = users.member.password_hash
    other = login_as(app.test_client(), users.secretary_b)
    resp = other.post(f"/admin/people/{users.member.id}/{endpoint}")
    assert resp.status_code == 403
    assert "您没有权限" in resp.get_data(as_text=True)
    db.session.refresh(users.member)
    assert session_count(users.member) == 1
    assert users.member.password_hash == before
    denied = audit_rows("authz.denied")
    assert len(denied) == 1 and denied[0].actor_login == users.secretary_b.login_id
    assert denied[0].details["path"] == f"/admin/people/{users.member.id}/{endpoint}"


def test_member_cannot_use_admin_actions(app, users, login_as):
    c = login_as(app.test_client(), users.member)
    assert c.post(f"/admin/people/{users.member_a2.id}/unlock").status_code == 403
    assert c.post("/admin/people/999999/unlock").status_code in (403, 404)


def test_secretary_cannot_reset_an_administrator_filed_in_the_branch(app, make_user, org, users, login_as):
    admin_in_branch = make_user("兼职管理员", org.a1, roles=["sysadmin"])
    c = login_as(app.test_client(), users.secretary)
    assert c.post(f"/admin/people/{admin_in_branch.id}/password/reset").status_code == 403


def test_reset_password_shows_a_temporary_password_once(app, db, users, login_as, post_login, audit_rows):
    post_login(app.test_client(), users.member.login_id)
    admin = login_as(app.test_client(), users.secretary)
    resp = admin.post(f"/admin/people/{users.member.id}/password/reset", data={"next": "/"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    temp = re.search(r'<code class="temp-password">([^<]+)</code>', html).group(1)
    assert resp.headers["Cache-Control"] == "no-store"
    db.session.refresh(users.member)
    assert users.member.must_change_password
    row = audit_rows("auth.admin_reset_password")[-1]
    assert temp not in str(row.details) and row.target_id == str(users.member.id)
    # The old password no longer works; the temporary one leads straight to the change form.
    c = app.test_client()
    assert post_login(c, users.member.login_id, TEST_PASSWORD, ip="10.8.0.1").status_code == 200
    assert post_login(c, users.member.login_id, temp, ip="10.8.0.1").status_code == 302
    assert "/account/password" in c.get("/").headers["Location"]


def test_reset_password_json_for_the_people_pages(app, users, login_as):
    admin = login_as(app.test_client(), users.sysadmin)
    resp = admin.post(f"/admin/people/{users.member.id}/password/reset", headers={"Accept": "application/json"})
    body = resp.get_json()
    assert body["ok"] and len(body["temporary_password"]) >= 12


def test_admin_cannot_reset_own_password_this_way(app, users, login_as):
    admin = login_as(app.test_client(), users.sysadmin)
    resp = admin.post(f"/admin/people/{users.sysadmin.id}/password/reset")
    assert resp.status_code == 400
    assert "我的账号" in resp.get_data(as_text=True)


def test_unlock_lets_the_owner_in_before_the_lock_expires(app, users, login_as, post_login, audit_rows):
    c = app.test_client()
    for _ in range(5):
        post_login(c, users.member.login_id, "Wrong#Pass2026")
    assert post_login(c, users.member.login_id).status_code == 423
    admin = login_as(app.test_client(), users.secretary)
    assert admin.post(f"/admin/people/{users.member.id}/unlock").status_code == 302
    assert post_login(c, users.member.login_id).status_code == 302
    assert len(audit_rows("auth.admin_unlock")) == 1


def test_only_a_sysadmin_resets_totp(app, db, users, login_as, audit_rows, session_count):
    users.member.totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    db.session.commit()
    secretary = login_as(app.test_client(), users.secretary)
    assert secretary.post(f"/admin/people/{users.member.id}/totp/reset").status_code == 403
    login_as(app.test_client(), users.member)
    sysadmin = login_as(app.test_client(), users.sysadmin)
    resp = sysadmin.post(f"/admin/people/{users.member.id}/totp/reset", headers={"Accept": "application/json"})
    assert resp.status_code == 200 and resp.get_json()["ok"]
    db.session.refresh(users.member)
    assert users.member.totp_secret is None and users.member.totp_last_step is None
    assert session_count(users.member) == 0
    row = audit_rows("auth.admin_reset_totp")[-1]
    assert row.actor_login == users.sysadmin.login_id and row.target_id == str(users.member.id)


def test_admin_actions_macro_renders_only_for_managers(app, db, users, login_as):
    from flask import render_template_string
    from flask_login import login_user

    users.member.totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    db.session.commit()
    tpl = '{% from "auth/_admin_actions.html" import account_actions %}{{ account_actions(p, next="/people/1") }}'

    def render(viewer):
        with app.test_request_context("/people/1"):
            login_user(viewer)
            return render_template_string(tpl, p=users.member)

    html = render(users.sysadmin)
    assert f"/admin/people/{users.member.id}/password/reset" in html
    assert f"/admin/people/{users.member.id}/totp/reset" in html
    assert 'name="next" value="/people/1"' in html
    html = render(users.secretary)
    assert "password/reset" in html and "totp/reset" not in html
    assert render(users.secretary_b).strip() == ""
