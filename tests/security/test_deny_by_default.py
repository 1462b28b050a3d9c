"""AC-01 deny by default: every endpoint of the app is either on the public list or closed to anonymous visitors."""
from __future__ import annotations

from flask import url_for
from werkzeug.routing import IntegerConverter

# Endpoints an anonymous visitor may use, each with its reason. Anything else must send them to the login page
# (302) or answer 401: a new route that forgets its permission check fails this test.
PUBLIC_ENDPOINTS = {
    "auth.login": "the login form",
    "main.set_language": "the language switch on the login page (a cookie, no data)",
    "xapi.about": "xAPI 1.0.3 requires /about without credentials",
    "party_school.verify": "certificate verification by its unguessable token (a third party checks a certificate)",
    "plugin_static": "static files of plugins",
    "static": "static files",
}
# The LRS authenticates every request with HTTP Basic credentials of a client (never with a session);
# /xapi/browser/… is the same-origin endpoint of the site's own pages (session + CSRF), answering JSON 401.
LRS_PREFIX = "/xapi/"
SESSION_APIS = {"xapi.browser_statements"}


def _url(app, rule) -> str:
    args = {a: 1 if isinstance(rule._converters.get(a), IntegerConverter) else "x" for a in rule.arguments}
    with app.test_request_context():
        return url_for(rule.endpoint, **args)


def _rules(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.endswith(".static"):
            continue
        yield rule


def test_every_non_public_endpoint_refuses_anonymous_visitors(app):
    client = app.test_client()
    login_path = "/login"
    checked, wrong = 0, []
    for rule in _rules(app):
        url = _url(app, rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if url.startswith(LRS_PREFIX) and rule.endpoint not in SESSION_APIS:
                resp = client.open(url, method=method, headers={"X-Experience-API-Version": "1.0.3"})
                ok = resp.status_code == 401 and resp.headers.get("WWW-Authenticate", "").startswith("Basic")
            else:
                resp = client.open(url, method=method)
                ok = (resp.status_code == 302 and resp.headers["Location"].split("?")[0].endswith(login_path)) \
                    or resp.status_code == 401
            checked += 1
            if not ok:
                wrong.append(f"{method} {url} ({rule.endpoint}) -> {resp.status_code}")
    assert wrong == []
    assert checked > 200  # the whole app with its plugins, not a handful of routes


def test_public_list_names_only_existing_endpoints(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert set(PUBLIC_ENDPOINTS) <= endpoints


def test_api_paths_answer_anonymous_visitors_with_json_401(app):
    client = app.test_client()
    resp = client.get("/account", headers={"Accept": "application/json"})
    assert resp.status_code == 401 and resp.is_json
