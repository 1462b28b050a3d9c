"""TOTP second factor: set-up with a QR code, login verification, replay refusal, lock (AUTH-05)."""
from __future__ import annotations

import base64
import re
from datetime import timedelta

from freezegun import freeze_time


def _secret_from_page(html: str) -> str:
    m = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', html)
    assert m, "secret shown as text"
    return m.group(1).replace(" ", "")


def _enroll(client, secret_holder: dict, totp_code):
    page = client.get("/account/totp").get_data(as_text=True)
    secret = _secret_from_page(page)
    secret_holder["secret"] = secret
    return client.post("/account/totp", data={"code": totp_code(secret)})


def test_privileged_role_must_set_up_totp_before_anything_else(client, users, post_login):
    post_login(client, users.sysadmin.login_id)
    resp = client.get("/admin/audit")
    assert resp.status_code == 302 and "/account/totp" in resp.headers["Location"]
    page = client.get("/account/totp").get_data(as_text=True)
    m = re.search(r'<img class="qr-img" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)
    assert m, "QR code as an SVG data URI"
    assert base64.b64decode(m.group(1)).lstrip().startswith((b"<?xml", b"<svg"))
    assert "style=" not in page
    _secret_from_page(page)


def test_setup_confirms_with_a_code_then_login_requires_it(app, client, users, post_login, audit_rows, totp_code):
    with freeze_time("2026-03-02 01:00:00") as clock:
        post_login(client, users.auditor.login_id)
        holder = {}
        resp = client.post("/account/totp", data={"code": "000000"})
        assert "动态口令不正确" in resp.get_data(as_text=True)
        resp = _enroll(client, holder, totp_code)
        assert resp.status_code == 302
        assert client.get("/admin/audit").status_code == 200
        assert len(audit_rows("auth.totp_enable", outcome="success")) == 1
        client.post("/logout")

        clock.tick(timedelta(seconds=60))
        resp = post_login(client, users.auditor.login_id, next_url="/admin/audit")
        assert "/login/totp" in resp.headers["Location"]
        # The password alone opens nothing.
        assert "/login/totp" in client.get("/admin/audit").headers["Location"]
        resp = client.post("/login/totp?next=/admin/audit", data={"code": totp_code(holder["secret"])})
        assert resp.status_code == 302 and resp.headers["Location"] == "/admin/audit"
        assert client.get("/admin/audit").status_code == 200
        assert len(audit_rows("auth.totp_verify", outcome="success")) == 1


def test_a_code_cannot_be_used_twice(app, client, users, post_login, audit_rows, totp_code):
    with freeze_time("2026-03-02 01:00:00") as clock:
        post_login(client, users.sysadmin.login_id)
        holder = {}
        _enroll(client, holder, totp_code)
        client.post("/logout")
        clock.tick(timedelta(seconds=31))
        code = totp_code(holder["secret"])
        post_login(client, users.sysadmin.login_id)
        assert client.post("/login/totp", data={"code": code}).status_code == 302
        client.post("/logout")
        clock.tick(timedelta(seconds=5))  # same 30-second step
        post_login(client, users.sysadmin.login_id)
        resp = client.post("/login/totp", data={"code": code})
        assert resp.status_code == 200
        assert "已经用过" in resp.get_data(as_text=True)
        assert "/login/totp" in client.get("/account").headers["Location"]
        assert audit_rows("auth.totp_verify", outcome="failure")[-1].details == {"reason": "replay"}


def test_five_wrong_codes_lock_the_factor_for_fifteen_minutes(app, client, users, post_login, audit_rows, totp_code):
    with freeze_time("2026-03-02 01:00:00") as clock:
        post_login(client, users.org_admin.login_id)
        holder = {}
        _enroll(client, holder, totp_code)
        client.post("/logout")
        clock.tick(timedelta(minutes=1))
        post_login(client, users.org_admin.login_id)
        good = totp_code(holder["secret"])
        wrong = f"{(int(good) + 1) % 1000000:06d}"
        codes = [client.post("/login/totp", data={"code": wrong}).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 200, 423]
        assert len(audit_rows("auth.totp_lockout")) == 1
        resp = client.post("/login/totp", data={"code": totp_code(holder["secret"])})
        assert resp.status_code == 423
        clock.tick(timedelta(minutes=14))
        post_login(client, users.org_admin.login_id)
        assert client.post("/login/totp", data={"code": totp_code(holder["secret"])}).status_code == 423
        clock.tick(timedelta(minutes=1, seconds=5))
        post_login(client, users.org_admin.login_id)
        assert client.post("/login/totp", data={"code": totp_code(holder["secret"])}).status_code == 302
        assert client.get("/account").status_code == 200


def test_members_may_turn_totp_on_and_off(app, client, users, post_login, audit_rows, totp_code):
    from lms.testing import TEST_PASSWORD

    with freeze_time("2026-03-02 01:00:00") as clock:
        post_login(client, users.member.login_id)
        holder = {}
        assert _enroll(client, holder, totp_code).status_code == 302
        client.post("/logout")
        clock.tick(timedelta(seconds=31))
        post_login(client, users.member.login_id)
        assert "/login/totp" in client.get("/").headers["Location"]
        client.post("/login/totp", data={"code": totp_code(holder["secret"])})
        clock.tick(timedelta(seconds=31))
        resp = client.post(
            "/account/totp/disable",
            data={"off-password": TEST_PASSWORD, "off-code": totp_code(holder["secret"])},
        )
        assert resp.status_code == 302
    assert len(audit_rows("auth.totp_disable", outcome="success")) == 1


def test_required_roles_cannot_turn_totp_off(client, users, post_login, login_as, db):
    users.sysadmin.totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    db.session.commit()
    login_as(client, users.sysadmin)
    resp = client.post("/account/totp/disable", data={"off-password": "x", "off-code": "123456"})
    assert resp.status_code == 403
