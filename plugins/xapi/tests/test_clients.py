"""Authentication and scopes of LRS clients; creating and revoking them in the admin pages and the CLI."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from lms.timeutil import utcnow
from plugins.xapi.tests.conftest import LRS, stmt


def test_requests_without_or_with_wrong_credentials_are_401(lrs, client):
    r = lrs.get("statements", auth=False)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    wrong = LRS(client, "nokey", "nosecret")
    assert wrong.get("statements").status_code == 401


def test_session_cookie_does_not_authenticate_the_lrs(app, client, users, login_as):
    login_as(client, users.sysadmin)
    r = client.get("/xapi/statements", headers={"X-Experience-API-Version": "1.0.3"})
    assert r.status_code == 401


def test_read_only_client_cannot_write_and_write_only_cannot_read(make_lrs):
    reader, _ = make_lrs(read=True, write=False)
    writer, _ = make_lrs(read=False, write=True)
    assert reader.post("statements", stmt()).status_code == 403
    assert reader.get("statements").status_code == 200
    assert writer.post("statements", stmt()).status_code == 200
    assert writer.get("statements").status_code == 403
    assert writer.get("activities/state", {"activityId": "http://a.org", "agent": "{}"}).status_code == 403


def test_revoked_client_is_refused_at_once(make_lrs, db):
    from plugins.xapi.clients import revoke_client

    api, row = make_lrs()
    assert api.get("statements").status_code == 200
    revoke_client(row)
    db.session.commit()
    assert api.get("statements").status_code == 401


def test_secret_is_stored_hashed(make_lrs, db):
    from plugins.xapi.clients import create_client

    client, secret = create_client("脚本", read=True, write=False)
    db.session.commit()
    assert len(secret) >= 40  # 256 random bits, URL-safe base64
    assert client.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps({c.name: c.secret_hash for c in [client]})


def test_cli_create_client_prints_json_and_works(app, runner, client):
    res = runner.invoke(args=["xapi", "create-client", "课件包", "--scope", "read,write", "--json"])
    assert res.exit_code == 0, res.output
    creds = json.loads(res.output)
    assert set(creds) == {"key", "secret", "expires_at"}
    expires = datetime.fromisoformat(creds["expires_at"].removesuffix("Z"))
    assert timedelta(days=364) < expires - utcnow() <= timedelta(days=365)
    assert LRS(client, creds["key"], creds["secret"]).post("statements", stmt()).status_code == 200
    bad = runner.invoke(args=["xapi", "create-client", "x", "--scope", "admin"])
    assert bad.exit_code != 0


def test_cli_revoke_client(app, runner, client):
    creds = json.loads(runner.invoke(args=["xapi", "create-client", "临时", "--json"]).output)
    assert runner.invoke(args=["xapi", "revoke-client", creds["key"]]).exit_code == 0
    assert LRS(client, creds["key"], creds["secret"]).get("statements").status_code == 401


def test_sysadmin_creates_client_in_admin_page_secret_shown_once_and_audited(app, client, users, login_as, db):
    from lms.audit.models import AuditLog
    from plugins.xapi.models import XapiClient

    login_as(client, users.sysadmin)
    page = client.get("/admin/xapi/clients")
    assert page.status_code == 200 and "学习记录接口" in page.get_data(as_text=True)
    r = client.post("/admin/xapi/clients", data={"name": "外部平台", "can_read": "y", "can_write": "y"})
    html = r.get_data(as_text=True)
    row = db.session.scalar(select(XapiClient).where(XapiClient.name == "外部平台"))
    assert row is not None and row.key in html
    secret = html.split("密钥（Secret）</dt><dd><code>")[1].split("</code>")[0]
    assert hashlib.sha256(secret.encode()).hexdigest() == row.secret_hash
    assert secret not in client.get("/admin/xapi/clients").get_data(as_text=True)
    actions = [a.action for a in db.session.scalars(select(AuditLog))]
    assert "xapi.client.create" in actions
    r = client.post(f"/admin/xapi/clients/{row.id}/revoke", follow_redirects=True)
    assert "已吊销" in r.get_data(as_text=True)
    db.session.refresh(row)
    assert row.revoked_at is not None
    assert "xapi.client.revoke" in [a.action for a in db.session.scalars(select(AuditLog))]


def test_admin_form_errors_are_shown_beside_fields(app, client, users, login_as):
    login_as(client, users.sysadmin)
    html = client.post("/admin/xapi/clients", data={"name": ""}).get_data(as_text=True)
    assert "请填写名称" in html and "至少选择一种权限" in html


def test_only_sysadmins_reach_the_client_pages(app, client, users, login_as):
    login_as(client, users.org_admin)
    assert client.get("/admin/xapi/clients").status_code == 403
    assert client.post("/admin/xapi/clients", data={"name": "x", "can_read": "y"}).status_code == 403


def test_admin_menu_shows_the_item_to_sysadmins_only(app, client, users, login_as):
    login_as(client, users.sysadmin)
    assert "/admin/xapi/clients" in client.get("/").get_data(as_text=True)
    login_as(client, users.member)
    assert "/admin/xapi/clients" not in client.get("/").get_data(as_text=True)


def test_cli_optimize_refreshes_planner_statistics(app, runner, db, lrs):
    from sqlalchemy import text

    lrs.post("statements", [stmt(), stmt()])
    res = runner.invoke(args=["xapi", "optimize"])
    assert res.exit_code == 0, res.output
    if db.engine.dialect.name == "sqlite":
        assert db.session.execute(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'xapi_statement'")).scalar() > 0


# --- AUTH-08: throttling of bad credentials, key expiry -------------------------------------------------------

def _post_from(api: LRS, ip: str, body=None):
    return api.client.post("/xapi/statements", data=json.dumps(body or stmt()), environ_base={"REMOTE_ADDR": ip},
                           headers=api.headers({"Content-Type": "application/json"}))


def _statements(db) -> int:
    from plugins.xapi.models import XapiStatement

    db.session.expire_all()
    return db.session.scalar(select(func.count(XapiStatement.id)))


def test_eleventh_bad_attempt_in_a_minute_is_429_even_with_good_credentials(make_lrs, client, db, users, app):
    from lms.audit.models import AuditLog
    from lms.testing import TEST_PASSWORD

    good, row = make_lrs()
    bad = LRS(client, row.key, "wrong-secret")
    app.config["LOGIN_IP_LIMIT"] = 5  # if LRS failures counted as web-login attempts, the login below would be 429
    with freeze_time(utcnow()) as clock:
        for _ in range(10):
            r = _post_from(bad, "10.8.0.1")
            assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="xapi"'
        r = _post_from(bad, "10.8.0.1")
        assert r.status_code == 429 and r.json["status"] == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
        r = _post_from(good, "10.8.0.1")
        assert r.status_code == 429 and r.headers["Retry-After"]
        assert _statements(db) == 0
        # another address is not affected, nor a person's web login from the throttled one
        assert _post_from(good, "10.8.0.2").status_code == 200
        r = client.post("/login", data={"login_id": users.member.login_id, "password": TEST_PASSWORD},
                        environ_base={"REMOTE_ADDR": "10.8.0.1"})
        assert r.status_code == 302, r.status_code
        client.post("/logout")
        clock.tick(timedelta(seconds=61))
        assert _post_from(good, "10.8.0.1").status_code == 200
        assert _post_from(bad, "10.8.0.1").status_code == 401
    assert _statements(db) == 2
    throttles = db.session.scalars(select(AuditLog).where(AuditLog.action == "xapi.auth.throttle")).all()
    assert len(throttles) == 1 and throttles[0].outcome == "denied"


def test_throttle_is_per_rolling_minute_and_uses_the_setting(make_lrs, client, app):
    app.config["XAPI_AUTH_FAILURES_PER_MINUTE"] = 3
    good, row = make_lrs()
    bad = LRS(client, "nokey", "nosecret")
    with freeze_time(utcnow()) as clock:
        assert [_post_from(bad, "10.9.0.1").status_code for _ in range(3)] == [401] * 3
        clock.tick(timedelta(seconds=30))
        assert _post_from(good, "10.9.0.1").status_code == 429
        clock.tick(timedelta(seconds=31))  # the first three failures left the window
        assert _post_from(good, "10.9.0.1").status_code == 200


def test_throttle_note_of_another_process_is_checked_against_the_table(make_lrs, client, db):
    """A process that never saw the failures does not refuse; one whose note outlived the failures looks again."""
    from plugins.xapi import clients as c

    good, _row = make_lrs()
    c._OVER_LIMIT["10.7.0.1"] = 1e18  # a stale note: no failures in the table
    assert _post_from(good, "10.7.0.1").status_code == 200
    assert "10.7.0.1" not in c._OVER_LIMIT


def test_expired_key_is_401_with_a_clear_message_and_stores_nothing(make_lrs, db):
    good, row = make_lrs()
    with freeze_time(utcnow() + timedelta(days=365, seconds=1)):
        r = good.post("statements", stmt())
        assert r.status_code == 401 and "expired" in r.json["error"]
        assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert _statements(db) == 0


def test_sysadmin_renews_a_key_on_the_clients_page_and_it_is_audited(app, client, users, login_as, db, make_lrs):
    from lms.audit.models import AuditLog

    api, row = make_lrs()
    row.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    login_as(client, users.sysadmin)
    page = client.get("/admin/xapi/clients").get_data(as_text=True)
    assert "有效期至" in page and "已过期" in page and "续期 365 天" in page
    assert api.post("statements", stmt()).status_code == 401
    r = client.post(f"/admin/xapi/clients/{row.id}/renew", follow_redirects=True)
    assert "已续期至" in r.get_data(as_text=True)
    db.session.refresh(row)
    assert timedelta(days=364) < row.expires_at - utcnow() <= timedelta(days=365)
    renewals = db.session.scalars(select(AuditLog).where(AuditLog.action == "xapi.client.renew")).all()
    assert len(renewals) == 1 and renewals[0].actor_id == users.sysadmin.id
    assert "已过期" not in client.get("/admin/xapi/clients").get_data(as_text=True)
    assert api.post("statements", stmt()).status_code == 200


def test_no_key_lifetime_longer_than_365_days(app_factory):
    with pytest.raises(ValueError, match="XAPI_CLIENT_DAYS"):
        app_factory(XAPI_CLIENT_DAYS=366)


def test_a_successful_request_does_not_read_the_failure_counter(make_lrs, client, db):
    """The hot path (statements POST) costs no query for the throttle, also from an IP with earlier failures."""
    from sqlalchemy import event

    good, row = make_lrs()
    for _ in range(3):
        _post_from(LRS(client, row.key, "wrong"), "10.6.0.1")
    seen = []

    def on_execute(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        assert _post_from(good, "10.6.0.1").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)
    assert seen and not [s for s in seen if "login_attempt" in s]
