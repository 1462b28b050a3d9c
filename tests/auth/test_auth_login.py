"""Login by login id + password: lockout, throttling, no account enumeration, audit rows (AUTH-01/02/04/06)."""
from __future__ import annotations

import re
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from lms.testing import TEST_PASSWORD

WRONG = "Wrong#Pass2026"
DEFAULT_IP_LIMIT = __import__("lms.config", fromlist=["DefaultConfig"]).DefaultConfig.LOGIN_IP_LIMIT


def _logged_in(client) -> bool:
    resp = client.get("/account")
    return resp.status_code == 200


def test_login_with_correct_password_opens_a_session(client, users, post_login, audit_rows):
    resp = post_login(client, users.member.login_id)
    assert resp.status_code == 302
    assert _logged_in(client)
    rows = audit_rows("auth.login", outcome="success")
    assert len(rows) == 1
    row = rows[0]
    assert (row.actor_login, row.ip, row.target_type, row.target_id) == (
        users.member.login_id, "10.0.0.1", "user", str(users.member.id)
    )


def test_wrong_password_and_unknown_id_give_the_same_answer(client, users, post_login, audit_rows):
    a = post_login(client, users.member.login_id, WRONG)
    b = post_login(client, "NO-SUCH-ID", WRONG)
    assert a.status_code == b.status_code == 200
    text_a, text_b = a.get_data(as_text=True), b.get_data(as_text=True)
    assert "学号/工号或密码错误" in text_a and "学号/工号或密码错误" in text_b
    # The echoed login id and the time-stamped CSRF token differ; nothing else may.
    strip = lambda t: re.sub(r'(value|content)="[^"]*"', "", t)  # noqa: E731
    assert strip(text_a) == strip(text_b)
    fails = audit_rows("auth.login", outcome="failure")
    assert [r.details["reason"] for r in fails] == ["bad_password", "unknown_id"]
    assert all(TEST_PASSWORD not in str(r.details) and WRONG not in str(r.details) for r in fails)


def test_five_failures_lock_for_fifteen_minutes_even_with_the_right_password(
    app, client, users, post_login, audit_rows
):
    login_id = users.member.login_id
    assert app.config["LOGIN_MAX_FAILURES"] == 5 and app.config["LOGIN_LOCKOUT_MINUTES"] == 15
    with freeze_time("2026-03-02 01:00:00") as clock:
        for _ in range(4):
            assert post_login(client, login_id, WRONG).status_code == 200
            clock.tick(timedelta(seconds=10))
        fifth = post_login(client, login_id, WRONG)
        assert fifth.status_code == 423
        locked_at = clock()
        assert len(audit_rows("auth.lockout")) == 1

        sixth = post_login(client, login_id, TEST_PASSWORD)
        assert sixth.status_code == 423
        assert "暂时锁定" in sixth.get_data(as_text=True)
        assert not _logged_in(client)

        clock.move_to(locked_at + timedelta(minutes=14, seconds=59))
        assert post_login(client, login_id, TEST_PASSWORD).status_code == 423
        assert not _logged_in(client)

        clock.move_to(locked_at + timedelta(minutes=15, seconds=1))
        ok = post_login(client, login_id, TEST_PASSWORD, ip="10.9.9.9")
        assert ok.status_code == 302
        assert _logged_in(client)
    assert len(audit_rows("auth.lockout")) == 1


def test_unknown_id_locks_like_a_real_account(client, post_login):
    with freeze_time("2026-03-02 01:00:00"):
        codes = [post_login(client, "GHOST-001", WRONG).status_code for _ in range(6)]
    assert codes == [200, 200, 200, 200, 423, 423]


def test_failures_spread_out_do_not_lock(client, users, post_login):
    with freeze_time("2026-03-02 01:00:00") as clock:
        for _ in range(6):
            assert post_login(client, users.member.login_id, WRONG).status_code == 200
            clock.tick(timedelta(minutes=16))
        assert post_login(client, users.member.login_id).status_code == 302


def test_per_ip_throttle_answers_429(app, make_user, post_login, audit_rows):
    assert app.config["LOGIN_IP_LIMIT"] > 0 and app.config["LOGIN_IP_WINDOW_MINUTES"] == 5
    assert DEFAULT_IP_LIMIT == 100
    limit = 12  # the mechanism with a small limit (each probe costs a scrypt hash)
    app.config["LOGIN_IP_LIMIT"] = limit
    client = app.test_client()
    with freeze_time("2026-03-02 01:00:00") as clock:
        codes = []
        for i in range(limit + 1):
            codes.append(post_login(client, f"probe{i:03d}", WRONG, ip="10.6.6.6").status_code)
            clock.tick(timedelta(seconds=2))
        assert 429 not in codes[:limit]
        assert codes[limit] == 429
        resp = post_login(client, "probe999", WRONG, ip="10.6.6.6")
        assert resp.status_code == 429 and resp.headers["Retry-After"]
        assert "过于频繁" in resp.get_data(as_text=True)
        # Even the right password of a real account is refused from that IP during the window …
        user = make_user("许同学")
        assert post_login(client, user.login_id, ip="10.6.6.6").status_code == 429
        # … while another IP is not affected.
        assert post_login(app.test_client(), user.login_id, ip="10.7.7.7").status_code == 302
        # After the window the same IP may try again.
        clock.tick(timedelta(minutes=5, seconds=1))
        assert post_login(app.test_client(), user.login_id, ip="10.6.6.6").status_code == 302
    assert len(audit_rows("auth.throttle")) == 1


def test_per_account_throttle_and_owner_gets_back_in_after_the_lock(client, users, post_login):
    login_id = users.teacher.login_id
    with freeze_time("2026-03-02 01:00:00") as clock:
        codes = []
        for _ in range(40):
            codes.append(post_login(client, login_id, WRONG, ip="10.2.2.2").status_code)
            clock.tick(timedelta(seconds=3))
        assert codes[:4] == [200] * 4
        assert set(codes[4:30]) == {423}  # locked after the fifth failure
        assert codes[30:] == [429] * 10  # 31st attempt on the account in 5 minutes
        clock.tick(timedelta(minutes=16))
        owner = client.application.test_client()
        assert post_login(owner, login_id, ip="10.3.3.3").status_code == 302


def test_inactive_account_cannot_log_in(client, make_user, post_login, audit_rows):
    user = make_user("停用者", is_active_account=False)
    resp = post_login(client, user.login_id)
    assert resp.status_code == 200 and "学号/工号或密码错误" in resp.get_data(as_text=True)
    assert audit_rows("auth.login", outcome="failure")[-1].details["reason"] == "inactive"


def test_login_rejects_offsite_next(client, users, post_login):
    resp = post_login(client, users.member.login_id, next_url="https://evil.example/")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"


def test_login_follows_local_next(client, users, post_login):
    resp = post_login(client, users.member.login_id, next_url="/account")
    assert resp.headers["Location"] == "/account"


def test_password_hashes_are_scrypt_and_salted(app, db, users):
    from lms.accounts.models import User
    from lms.auth import services

    services.set_password(users.member, "Same#Passw0rd")
    services.set_password(users.teacher, "Same#Passw0rd")
    db.session.commit()
    hashes = list(db.session.scalars(select(User.password_hash)))
    assert all(h.startswith("scrypt:") for h in hashes)
    assert users.member.password_hash != users.teacher.password_hash


def test_long_passwords_are_not_truncated(app, db, users):
    from lms.auth import services

    base = "长" * 40  # 120 bytes in UTF-8: past bcrypt's 72-byte cut-off
    services.set_password(users.member, base + "A")
    assert services.verify_password(users.member, base + "A")
    assert not services.verify_password(users.member, base + "B")


def test_no_default_accounts_accept_common_passwords(client, users, post_login):
    pairs = [("admin", "admin"), ("admin", "123456"), ("root", "root"), ("sysadmin", "password"),
             ("test", "test"), ("admin", "admin123")]
    for login_id, pw in pairs:
        assert post_login(client, login_id, pw, ip="10.4.4.4").status_code in (200, 423)
    assert not _logged_in(client)


def test_logout_writes_audit_and_ends_session(client, users, post_login, audit_rows):
    post_login(client, users.member.login_id)
    resp = client.post("/logout")
    assert resp.status_code == 302
    assert not _logged_in(client)
    assert len(audit_rows("auth.logout")) == 1


def test_a_locked_real_account_and_a_locked_unknown_id_look_the_same(client, users, post_login):
    with freeze_time("2026-03-02 01:00:00") as clock:
        for login_id in (users.member.login_id, "GHOST-002"):
            for _ in range(5):
                post_login(client, login_id, WRONG)
        clock.tick(timedelta(minutes=7))
        real = post_login(client, users.member.login_id, WRONG)
        ghost = post_login(client, "GHOST-002", WRONG)
        assert real.status_code == ghost.status_code == 423
        msg = lambda r: re.search(r'class="form-error"[^>]*>([^<]+)<', r.get_data(as_text=True)).group(1)  # noqa: E731
        assert msg(real) == msg(ghost)
        clock.tick(timedelta(minutes=8, seconds=5))  # both unlock 15 minutes after their fifth failure
        assert post_login(client, "GHOST-002", WRONG).status_code == 200
        assert post_login(client, users.member.login_id).status_code == 302
