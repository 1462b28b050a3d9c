"""Authentication and scopes of LRS clients; creating and revoking them in the admin pages and the CLI."""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

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
    assert set(creds) == {"key", "secret"}
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
