"""Server-side sessions: idle and absolute expiry, revocation, listing and ending (SESS-01/02/04/05)."""
from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time

from lms.testing import TEST_PASSWORD


def _status(client, path="/account"):
    return client.get(path).status_code


def test_idle_timeout_at_thirty_minutes(app, client, users, post_login):
    assert app.config["SESSION_IDLE_MINUTES"] == 30
    with freeze_time("2026-03-02 01:00:00") as clock:
        post_login(client, users.member.login_id)
        clock.tick(timedelta(minutes=29, seconds=59))
        assert _status(client) == 200
    with freeze_time("2026-03-02 01:00:00") as clock:
        other = app.test_client()
        post_login(other, users.teacher.login_id)
        clock.tick(timedelta(minutes=30, seconds=1))
        resp = other.get("/account")
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]
        page = other.get(resp.headers["Location"]).get_data(as_text=True)
        assert "登录已超时" in page


def test_activity_keeps_the_session_alive_until_the_absolute_limit(app, client, users, post_login):
    assert app.config["SESSION_ABSOLUTE_HOURS"] == 12
    with freeze_time("2026-03-02 00:00:00") as clock:
        post_login(client, users.member.login_id)
        for _ in range(12 * 4 - 1):  # a request every 15 minutes for 11 h 45 min
            clock.tick(timedelta(minutes=15))
            assert _status(client) == 200
        clock.tick(timedelta(minutes=15, seconds=60))  # 12 h 01 min after login
        assert _status(client) == 302


def test_login_issues_a_new_session_id(client, users, post_login, login_as):
    client.get("/login")
    with client.session_transaction() as s:
        s["sid"] = "attacker-chosen-id"
    post_login(client, users.member.login_id)
    with client.session_transaction() as s:
        assert s["sid"] != "attacker-chosen-id"
    first = s["sid"]
    client.post("/logout")
    post_login(client, users.member.login_id)
    with client.session_transaction() as s:
        assert s["sid"] != first


def test_logged_out_cookie_cannot_be_replayed(app, client, users, post_login):
    post_login(client, users.member.login_id)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert _status(client) == 200
    client.post("/logout")
    for _ in range(5):
        replay = app.test_client()
        replay.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
        assert _status(replay) == 302


def test_password_change_ends_the_other_sessions(app, users, post_login, session_count):
    phone, laptop = app.test_client(), app.test_client()
    post_login(phone, users.member.login_id, ip="10.0.0.2")
    post_login(laptop, users.member.login_id, ip="10.0.0.3")
    assert session_count(users.member) == 2
    resp = laptop.post(
        "/account/password",
        data={"current_password": TEST_PASSWORD, "new_password": "Hongqi#Piaopiao7", "confirm": "Hongqi#Piaopiao7"},
    )
    assert resp.status_code == 302
    assert _status(laptop) == 200
    assert _status(phone) == 302
    assert session_count(users.member) == 1


def test_user_lists_and_ends_own_sessions(app, users, post_login, session_count):
    clients = [app.test_client() for _ in range(3)]
    for i, c in enumerate(clients):
        post_login(c, users.member.login_id, ip=f"10.0.1.{i}",
                   headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36"})
    page = clients[0].get("/account").get_data(as_text=True)
    assert page.count("Chrome · Windows") == 3
    for ip in ("10.0.1.0", "10.0.1.1", "10.0.1.2"):
        assert ip in page
    from lms.auth.models import UserSession
    from lms.extensions import db

    ids = [s.id for s in db.session.query(UserSession).order_by(UserSession.id)]
    assert clients[0].post(f"/account/sessions/{ids[1]}/end").status_code == 302
    assert clients[0].post(f"/account/sessions/{ids[2]}/end").status_code == 302
    assert [_status(c) for c in clients] == [200, 302, 302]
    assert session_count(users.member) == 1


def test_user_cannot_end_someone_elses_session(app, users, post_login, session_count):
    mine, theirs = app.test_client(), app.test_client()
    post_login(mine, users.member.login_id)
    post_login(theirs, users.teacher.login_id)
    from lms.auth.models import UserSession
    from lms.extensions import db

    other = db.session.query(UserSession).filter_by(user_id=users.teacher.id).one()
    assert mine.post(f"/account/sessions/{other.id}/end").status_code == 404
    assert _status(theirs) == 200


def test_end_all_other_sessions(app, users, post_login, session_count):
    clients = [app.test_client() for _ in range(3)]
    for c in clients:
        post_login(c, users.member.login_id)
    clients[2].post("/account/sessions/end-others")
    assert [_status(c) for c in clients] == [302, 302, 200]


def test_disabling_an_account_takes_effect_on_the_next_request(app, db, client, users, post_login, session_count):
    post_login(client, users.member.login_id)
    assert _status(client) == 200
    users.member.is_active_account = False
    db.session.commit()
    for path in ("/account", "/", "/account/password"):
        assert _status(client, path) == 302
    assert session_count(users.member) == 0


def test_api_requests_without_a_session_get_json_401(client):
    resp = client.get("/account", headers={"Accept": "application/json"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]
