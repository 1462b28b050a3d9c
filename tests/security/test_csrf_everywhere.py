"""AC-06: every state-changing browser route refuses a request without the CSRF token (400, nothing changed);
the LRS ignores session cookies (a logged-in browser alone gets 401 and stores nothing)."""
from __future__ import annotations

import hashlib
import json

from flask import url_for
from sqlalchemy import MetaData, func, select
from werkzeug.routing import IntegerConverter

from plugins.xapi.tests.conftest import stmt

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# The LRS (Basic auth of a client, never a session) is exempt from CSRF; the browser endpoint is not.
LRS_BLUEPRINT = "xapi"
LRS_SESSION_ENDPOINTS = {"xapi.browser_statements"}


def _url(app, rule) -> str:
    args = {a: 1 if isinstance(rule._converters.get(a), IntegerConverter) else "x" for a in rule.arguments}
    with app.test_request_context():
        return url_for(rule.endpoint, **args)


def _is_lrs(rule) -> bool:
    return rule.endpoint.startswith(LRS_BLUEPRINT + ".") and rule.endpoint not in LRS_SESSION_ENDPOINTS \
        and rule.rule.startswith("/xapi/")


def _database_checksum(db, skip=()) -> str:
    """SHA-256 over every row of every table (sessions aside: reading a page may refresh last_seen)."""
    meta = MetaData()
    meta.reflect(bind=db.engine)
    h = hashlib.sha256()
    with db.engine.connect() as conn:
        for name in sorted(meta.tables):
            if name in ("user_session", "alembic_version", *skip):
                continue
            table = meta.tables[name]
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            h.update(name.encode())
            h.update(json.dumps([list(map(str, r)) for r in rows]).encode())
    return h.hexdigest()


def test_every_state_changing_route_without_a_token_is_400_and_changes_nothing(app_factory, make_user, login_as):
    from lms.extensions import db

    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        admin = make_user("管理员", roles=["sysadmin"])
        member = make_user("党员")
        admin_client = login_as(app.test_client(), admin)
        member_client = login_as(app.test_client(), member)
        before = _database_checksum(db)
        checked, wrong = 0, []
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
            methods = rule.methods & STATE_CHANGING
            if not methods or _is_lrs(rule):
                continue
            url = _url(app, rule)
            for method in sorted(methods):
                for who, c in (("sysadmin", admin_client), ("member", member_client)):
                    resp = c.open(url, method=method, data={"name": "x", "title": "x"})
                    checked += 1
                    if resp.status_code != 400:
                        wrong.append(f"{who} {method} {url} ({rule.endpoint}) -> {resp.status_code}")
        assert wrong == [], "\n".join(wrong)
        assert checked > 150
        # JSON posts need the token too (window.LMS.postJSON sends it in a header).
        assert member_client.post("/xapi/browser/statements", json=stmt()).status_code == 400
        db.session.expire_all()
        assert _database_checksum(db) == before


def test_lrs_ignores_a_session_cookie(app, client, users, login_as, db):
    from plugins.xapi.models import XapiStatement

    login_as(client, users.sysadmin)
    headers = {"X-Experience-API-Version": "1.0.3"}
    for method, kwargs in (("GET", {}), ("POST", {"json": stmt()}),
                           ("PUT", {"json": stmt(), "query_string": {"statementId": "a3f9e6a2-1c52-4b2c-9f3d-2d2f2b5d6a11"}})):
        resp = client.open("/xapi/statements", method=method, headers=headers, **kwargs)
        assert resp.status_code == 401, method
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
    assert db.session.scalar(select(func.count()).select_from(XapiStatement)) == 0
