"""Security headers, production cookie/HSTS/HTTPS settings and CSRF refusal (AUTH-07, SESS-03)."""
from __future__ import annotations

import re

from lms.testing import TEST_PASSWORD

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _check_headers(resp):
    for k, v in EXPECTED.items():
        assert resp.headers.get(k) == v, k
    csp = resp.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["Cache-Control"] == "no-store"


def test_security_headers_on_html_pages(client, users, login_as):
    _check_headers(client.get("/login"))
    login_as(client, users.member)
    resp = client.get("/account")
    assert resp.mimetype == "text/html" and "charset=utf-8" in resp.content_type
    _check_headers(resp)


def test_security_headers_on_json_responses(client, users, login_as):
    resp = client.get("/api/no-such-thing")
    assert resp.status_code == 404 and resp.is_json
    _check_headers(resp)
    login_as(client, users.sysadmin)
    resp = client.post(f"/admin/people/{users.member.id}/unlock", headers={"Accept": "application/json"})
    assert resp.status_code == 200 and resp.get_json()["ok"]
    _check_headers(resp)


def test_error_pages_show_no_internals(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    assert "页面不存在" in html and "Traceback" not in html
    _check_headers(resp)


def test_development_has_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_production_config_secures_cookies_and_transport(app_factory, make_user):
    app = app_factory(ENV="production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert app.config["HSTS_SECONDS"] >= 31536000
    assert app.config["DEBUG"] is False
    with app.app_context():
        user = make_user("生产用户")
        c = app.test_client()
        # Plain HTTP: GET is redirected to HTTPS, a credential POST is refused (never 200).
        r = c.get("/login", base_url="http://lms.test")
        assert r.status_code == 301 and r.headers["Location"].startswith("https://")
        r = c.post("/login", data={"login_id": user.login_id, "password": TEST_PASSWORD}, base_url="http://lms.test")
        assert r.status_code == 403
        # HTTPS: the session cookie is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/ and has no Domain.
        r = c.post("/login", data={"login_id": user.login_id, "password": TEST_PASSWORD}, base_url="https://lms.test")
        assert r.status_code == 302
        hsts = r.headers["Strict-Transport-Security"]
        assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000
        cookies = r.headers.getlist("Set-Cookie")
        session_cookie = [h for h in cookies if h.startswith("__Host-lms_session=")]
        assert len(session_cookie) == 1
        attrs = [a.strip().lower() for a in session_cookie[0].split(";")[1:]]
        assert "secure" in attrs and "httponly" in attrs and "samesite=lax" in attrs and "path=/" in attrs
        assert not any(a.startswith("domain=") for a in attrs)
        assert c.get("/account", base_url="https://lms.test").status_code == 200


def test_proxy_headers_are_trusted_only_when_configured(app_factory, make_user):
    app = app_factory(ENV="production", PROXY_COUNT=1)
    with app.app_context():
        user = make_user("代理用户")
        c = app.test_client()
        r = c.post(
            "/login",
            data={"login_id": user.login_id, "password": TEST_PASSWORD},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
            base_url="http://lms.test",
        )
        assert r.status_code == 302
        from lms.auth.models import LoginAttempt
        from lms.extensions import db

        assert db.session.query(LoginAttempt).one().ip == "203.0.113.9"


def test_post_without_csrf_token_is_refused_and_changes_nothing(app_factory, make_user, login_as):
    from lms.auth.models import LoginAttempt, UserSession
    from lms.extensions import db

    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        user = make_user("表单用户")
        c = app.test_client()
        r = c.post("/login", data={"login_id": user.login_id, "password": TEST_PASSWORD})
        assert r.status_code == 400
        assert "页面已过期" in r.get_data(as_text=True)
        assert db.session.query(LoginAttempt).count() == 0
        assert db.session.query(UserSession).count() == 0

        login_as(c, user)
        login_as(app.test_client(), user)
        r = c.post("/account/sessions/end-others")
        assert r.status_code == 400
        assert db.session.query(UserSession).count() == 2
        # With the token from the page the same POST works.
        page = c.get("/account").get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        r = c.post("/account/sessions/end-others", data={"csrf_token": token})
        assert r.status_code == 302
        assert db.session.query(UserSession).count() == 1


def test_unexpected_errors_show_a_reference_and_no_internals(app_factory, caplog):
    app = app_factory()

    @app.route("/_test/boom")
    def boom():
        raise RuntimeError("SELECT secret FROM /srv/lms/config.py")

    with app.app_context():
        c = app.test_client()
        resp = c.get("/_test/boom")
        assert resp.status_code == 500
        html = resp.get_data(as_text=True)
        ref = re.search(r"<code>([0-9a-f]{12})</code>", html).group(1)
        for leak in ("Traceback", "SELECT", "/srv/lms", "RuntimeError"):
            assert leak not in html
        assert any(ref in r.getMessage() for r in caplog.records)  # the log has the details under that ref
        _check_headers(resp)
        resp = c.get("/_test/boom", headers={"Accept": "application/json"})
        assert resp.status_code == 500 and resp.get_json()["ref"]


def test_nul_characters_in_form_or_query_are_refused_with_a_clear_400(client, users, login_as, db, org):
    login_as(client, users.root_admin)
    resp = client.post(f"/org/{org.a1.id}/rename", data={"name": "\x00"})
    assert resp.status_code == 400
    assert "无效字符" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert org.a1.name == "计算机学院教工党支部"
    assert client.get("/people?q=%00").status_code == 400
