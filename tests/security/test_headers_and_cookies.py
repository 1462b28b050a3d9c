"""INP-06 and SESS-03: the suite-wide header check (lms.testing.security_header_log) really catches a bare
response, and every cookie the app sets in production is Secure, HttpOnly and SameSite=Lax."""
from __future__ import annotations

from flask import request_finished

from lms.testing import TEST_PASSWORD, security_header_problems


def test_the_suite_wide_check_names_a_response_without_headers(app_factory, security_header_log):
    app = app_factory()

    @app.route("/_test/page")
    def page():
        return "<p>页面</p>"

    with app.app_context():
        resp = app.test_client().get("/_test/page")
        assert security_header_problems(resp) == [] and security_header_log == []
        for k in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
            del resp.headers[k]
        resp.content_type = "text/html"
        assert set(security_header_problems(resp)) == {
            "X-Content-Type-Options: nosniff missing", "Content-Security-Policy missing",
            "neither frame-ancestors 'none' nor X-Frame-Options: DENY", "Referrer-Policy missing",
            "HTML without charset=utf-8"}
        # The autouse fixture hears Flask's request_finished signal, as for every real response.
        with app.test_request_context("/_test/page"):
            request_finished.send(app, response=resp)
    assert len(security_header_log) == 5 and all(e.startswith("GET /_test/page (200)") for e in security_header_log)
    security_header_log.clear()  # this test's deliberately stripped response must not fail it


def test_every_cookie_set_in_production_is_secure_httponly_and_samesite(app_factory, make_user):
    app = app_factory(ENV="production")
    seen: list[str] = []
    with app.app_context():
        user = make_user("生产用户")
        c = app.test_client()
        base = "https://lms.test"

        def keep(resp):
            seen.extend(resp.headers.getlist("Set-Cookie"))
            return resp

        keep(c.get("/login", base_url=base))
        keep(c.post("/language", data={"lang": "en", "next": "/login"}, base_url=base))
        keep(c.post("/login", data={"login_id": user.login_id, "password": TEST_PASSWORD}, base_url=base))
        keep(c.get("/account", base_url=base))
        keep(c.post("/language", data={"lang": "zh", "next": "/account"}, base_url=base))
        keep(c.post("/logout", base_url=base))
    names = {h.split("=", 1)[0] for h in seen}
    assert {"__Host-lms_session", "lang"} <= names
    for header in seen:
        attrs = [a.strip().lower() for a in header.split(";")[1:]]
        assert "secure" in attrs and "httponly" in attrs and "samesite=lax" in attrs, header
        assert not any(a.startswith("domain=") for a in attrs), header
        if header.startswith("__Host-"):
            assert "path=/" in attrs, header
