"""LOG-01: every security-relevant and personal-data event, done once through its real route, leaves exactly one
audit row of its action with the checklist's six fields: time, actor, source IP, event type, object, outcome.

The six fields map to AuditLog columns: time `at` (naive UTC, written by lms.timeutil.utcnow), actor
`actor_id` + `actor_login`, source IP `ip` (the request's REMOTE_ADDR), event type `action`, object
`target_type` + `target_id`, outcome `outcome`. Each case sends its request from its own address, so the test
also shows the IP is the request's and not a constant. CLI-only events (the backup) have no network source: their
row names the command in `note` instead of an IP.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lms.audit.models import AuditLog
from lms.extensions import db
from lms.testing import TEST_PASSWORD
from lms.timeutil import utcnow

NEW_PASSWORD = "Hongqi#Piao7"


@dataclass
class Case:
    action: str
    outcome: str
    role: str | None  # who is logged in (a `users` attribute), None for an anonymous client
    act: Callable  # act(client, ctx): the one request (or CLI call) that is audited
    setup: Callable | None = None  # setup(ctx) -> anything the act needs, stored in ctx.data
    actor: str | None = None  # the `users` attribute expected as actor (defaults to role)
    target_type: str | None = None  # expected object type
    cli: bool = False


class Ctx:
    def __init__(self, app, users, org, login_as, tmp_path, monkeypatch):
        self.app, self.users, self.org, self.login_as, self.tmp_path = app, users, org, login_as, tmp_path
        self.monkeypatch = monkeypatch
        self.data = None


def _login(c, login_id, password=TEST_PASSWORD):
    return c.post("/login", data={"login_id": login_id, "password": password})


def _deactivated(ctx):
    ctx.users.member.is_active_account = False
    db.session.commit()


def _lockout_setup(ctx):
    c = ctx.app.test_client()
    for _ in range(ctx.app.config["LOGIN_MAX_FAILURES"] - 1):
        _login(c, ctx.users.teacher.login_id, "Wrong#Pass1")


def _totp_enable(c, ctx):
    page = c.get("/account/totp").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    import pyotp

    return c.post("/account/totp", data={"code": pyotp.TOTP(secret).now()})


def _role_assignment(ctx):
    from lms.accounts import services

    ra = services.grant_role(ctx.users.org_admin, ctx.users.member_a2, "secretary", ctx.org.a2)
    db.session.commit()
    return ra.id


def _thread(ctx):
    from lms.courses.models import Course
    from plugins.discussion import services

    course = Course(title="党史学习教育", status="published", owner_unit_id=ctx.org.a.id)
    course.teachers.append(ctx.users.teacher)
    db.session.add(course)
    db.session.flush()
    t = services.create_thread(ctx.users.member, course, title="讨论", body="正文")
    reply = services.create_reply(ctx.users.member_b, t, body="一条回复")
    db.session.commit()
    return reply.id


def _lecture(ctx):
    from decimal import Decimal

    from lms.courses.models import Course
    from plugins.microlecture import services

    course = Course(title="新时代党的创新理论", summary="", category="theory", credit_hours=Decimal("2"),
                    status="published", owner_unit_id=ctx.org.a.id, created_by_id=ctx.users.teacher.id, settings={})
    course.teachers.append(ctx.users.teacher)
    db.session.add(course)
    db.session.commit()
    video = services.create_lecture(course, "党的二十大精神解读", "theory", "十分钟讲清楚", ctx.users.teacher)
    db.session.commit()
    return video


def _lecture_for_review(ctx):
    from plugins.microlecture.tests.conftest import publish_fake

    video = _lecture(ctx)
    publish_fake(video, live=False)
    return video.id


# The EICAR test string, assembled at run time (so this file is not itself flagged by a scanner).
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class _EicarScanner:
    """A scanner plugin that finds EICAR (no ClamAV signatures offline): enough to quarantine one upload."""

    @staticmethod
    def scanner_type():
        from lms import scanning

        class Fake(scanning.Scanner):
            name = "fake"

            def _judge(self, data: bytes) -> scanning.ScanResult:
                return self.result(scanning.INFECTED if EICAR in data else scanning.CLEAN, signature="Eicar-Test")

            def scan_path(self, path: str) -> scanning.ScanResult:
                from pathlib import Path

                return self._judge(Path(path).read_bytes())

            def scan_bytes(self, data: bytes) -> scanning.ScanResult:
                return self._judge(data)

        return Fake


def _video_upload_setup(ctx, payload: bytes):
    from lms.plugins import hookimpl
    from plugins.microlecture import services

    ctx.monkeypatch.setattr(services, "dispatch", lambda job_id, delay=None: None)  # no transcode here
    if EICAR in payload:
        class Plugin:
            @hookimpl
            def lms_gather_scanners(self):
                return [_EicarScanner.scanner_type()]

        ctx.app.extensions["lms_plugins"].pm.register(Plugin(), name="test.eicar_scanner")
        ctx.monkeypatch.setitem(ctx.app.config, "UPLOAD_SCANNER", "fake")
        ctx.monkeypatch.setitem(ctx.app.config, "UPLOAD_QUARANTINE_ROOT", str(ctx.tmp_path / "quarantine"))
    return _lecture(ctx).lesson_id, payload


def _clip_upload_setup(ctx):
    from plugins.microlecture.tests.conftest import make_clip

    clip = make_clip(ctx.tmp_path / "lecture.mp4", seconds=2, size="320x180")
    return _video_upload_setup(ctx, clip.read_bytes())


def _upload(c, ctx):
    """The resumable upload API as the browser drives it: open, send the chunks, finish (the audited step)."""
    lesson_id, payload = ctx.data
    up = c.post(f"/microlecture/api/lessons/{lesson_id}/uploads", json={"filename": "讲座.mp4", "size": len(payload)})
    assert up.status_code == 201, up.get_json()
    up = up.get_json()
    while up["received"] < len(payload):
        chunk = payload[up["received"]: up["received"] + up["chunk_size"]]
        r = c.put(up["url"], data=chunk, headers={"Upload-Offset": str(up["received"]),
                                                  "Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.get_json()
        up = r.get_json()
    return c.post(up["finish_url"])


def _xapi_client(ctx):
    from plugins.xapi.clients import create_client

    row, _secret = create_client("外部平台", read=True, write=True, actor=ctx.users.sysadmin)
    db.session.commit()
    return row.id


def _backup(c, ctx):
    result = ctx.app.test_cli_runner().invoke(args=["lms", "backup", "--to", str(ctx.tmp_path / "bk")])
    assert result.exit_code == 0, result.output
    return result


CASES = [
    # --- authentication ---------------------------------------------------------------------------------------
    Case("auth.login", "success", None, lambda c, x: _login(c, x.users.member.login_id), actor="member",
         target_type="user"),
    Case("auth.login", "failure", None, lambda c, x: _login(c, x.users.member.login_id, "Wrong#Pass1"),
         actor="member", target_type="user"),
    Case("auth.lockout", "denied", None, lambda c, x: _login(c, x.users.teacher.login_id, "Wrong#Pass1"),
         setup=_lockout_setup, actor="teacher", target_type="user"),
    Case("auth.logout", "success", "member", lambda c, x: c.post("/logout"), target_type="user"),
    Case("auth.password_change", "success", "member", lambda c, x: c.post("/account/password", data={
        "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}),
         target_type="user"),
    Case("auth.totp_enable", "success", "auditor", _totp_enable, target_type="user"),
    Case("auth.admin_unlock", "success", "secretary", lambda c, x: c.post(f"/admin/people/{x.users.member.id}/unlock"),
         target_type="user"),
    # --- access control -----------------------------------------------------------------------------------
    Case("authz.denied", "denied", "member", lambda c, x: c.get("/admin/audit"), target_type="endpoint"),
    Case("role.grant", "success", "org_admin", lambda c, x: c.post(
        f"/people/{x.users.member_a2.id}/roles", data={"role-role": "secretary", "role-org_unit_id": x.org.a2.id}),
         target_type="user"),
    Case("role.revoke", "success", "org_admin", lambda c, x: c.post(
        f"/people/{x.users.member_a2.id}/roles/{x.data}/revoke"), setup=_role_assignment, target_type="user"),
    # --- people (personal information) --------------------------------------------------------------------
    Case("people.create", "success", "secretary", lambda c, x: c.post("/people/new", data={
        "name": "新党员", "login_id": "N2024001", "category": "full", "org_unit_id": x.org.a1.id,
        "joined_on": "2021-07-01", "phone": "13812345678", "password": "Xinmima#2026"}), target_type="user"),
    Case("people.update", "success", "secretary", lambda c, x: c.post(f"/people/{x.users.member.id}/edit", data={
        "name": x.users.member.name, "login_id": x.users.member.login_id, "category": "full",
        "joined_on": "2015-07-01", "phone": "13700001111"}), target_type="user"),
    Case("people.view", "success", "secretary", lambda c, x: c.get(f"/people/{x.users.member.id}"),
         target_type="user"),
    Case("people.deactivate", "success", "secretary", lambda c, x: c.post(f"/people/{x.users.member.id}/deactivate"),
         target_type="user"),
    Case("people.transfer", "success", "org_admin", lambda c, x: c.post(
        f"/people/{x.users.member.id}/transfer", data={"transfer-org_unit_id": x.org.a2.id}), target_type="user"),
    Case("privacy.erase", "success", "org_admin", lambda c, x: c.post(
        f"/people/{x.users.member.id}/erase", data={"login_id": x.users.member.login_id}), setup=_deactivated,
         target_type="user"),
    Case("privacy.dsar.export", "success", "member", lambda c, x: c.post("/account/data/export"), target_type="user"),
    # --- exports ----------------------------------------------------------------------------------------------
    Case("people.export", "success", "secretary", lambda c, x: c.get("/people/export.xlsx"), target_type="org_unit"),
    Case("stats.export", "success", "reviewer", lambda c, x: c.get(f"/stats/units/{x.org.a.id}/ledger.xlsx"),
         target_type="org_unit"),
    # --- credit hours ---------------------------------------------------------------------------------------
    Case("credits.recompute", "success", "org_admin", lambda c, x: c.post(
        f"/credits/admin/units/{x.org.a1.id}/recompute"), target_type="org_unit"),
    Case("credits.exemption", "success", "org_admin", lambda c, x: c.post(
        f"/credits/admin/units/{x.org.a1.id}/exemptions", data={
            "login_id": x.users.member.login_id, "reduced_hours": "8", "reason": "年老体弱，行动不便"}),
         target_type="credit_exemption"),
    # --- discussion moderation --------------------------------------------------------------------------------
    Case("discussion.delete", "success", "teacher", lambda c, x: c.post(f"/discussion/posts/{x.data}/delete"),
         setup=_thread, target_type="discussion_post"),
    Case("discussion.hide", "success", "teacher", lambda c, x: c.post(
        f"/discussion/posts/{x.data}/moderate", data={"action": "hide", "reason": "人身攻击"}), setup=_thread,
         target_type="discussion_post"),
    # --- uploads ---------------------------------------------------------------------------------------------
    Case("microlecture.upload.accept", "success", "teacher", _upload, setup=_clip_upload_setup,
         target_type="microlecture_video"),
    Case("upload.quarantine", "denied", "teacher", _upload, setup=lambda x: _video_upload_setup(
        x, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 5000 + EICAR), target_type="quarantined_file"),
    # --- video review (the approval that publishes a teacher's upload) ---------------------------------------
    Case("microlecture.review.approve", "success", "reviewer", lambda c, x: c.post(
        f"/microlecture/review/{x.data}", data={"decision": "approve", "note": "内容准确"}),
         setup=_lecture_for_review, target_type="microlecture_video"),
    # --- xAPI clients (system configuration) ------------------------------------------------------------------
    Case("xapi.client.create", "success", "sysadmin", lambda c, x: c.post(
        "/admin/xapi/clients", data={"name": "外部平台", "can_read": "y", "can_write": "y"}),
         target_type="xapi_client"),
    Case("xapi.client.revoke", "success", "sysadmin", lambda c, x: c.post(f"/admin/xapi/clients/{x.data}/revoke"),
         setup=_xapi_client, target_type="xapi_client"),
    Case("xapi.client.renew", "success", "sysadmin", lambda c, x: c.post(f"/admin/xapi/clients/{x.data}/renew"),
         setup=_xapi_client, target_type="xapi_client"),
    # --- the audit log and backups ------------------------------------------------------------------------------
    Case("audit.view", "success", "auditor", lambda c, x: c.get("/admin/audit"), target_type="audit_log"),
    Case("backup.create", "success", None, _backup, target_type="backup", cli=True),
]


def _case_id(case: Case) -> str:
    return f"{case.action}/{case.outcome}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_each_event_writes_exactly_one_row_with_the_six_fields(case, app, users, org, login_as, tmp_path,
                                                              monkeypatch):
    ctx = Ctx(app, users, org, login_as, tmp_path, monkeypatch)
    if case.setup is not None:
        ctx.data = case.setup(ctx)
    client = app.test_client()
    if case.role is not None:
        login_as(client, getattr(users, case.role))
    ip = f"10.{CASES.index(case) + 1}.0.7"
    client.environ_base["REMOTE_ADDR"] = ip
    before = db.session.scalar(select(func.max(AuditLog.id))) or 0
    started = utcnow()
    resp = case.act(client, ctx)
    if hasattr(resp, "status_code"):
        assert resp.status_code < 400 or case.outcome != "success", (resp.status_code, resp.get_data(as_text=True)[:300])
    db.session.expire_all()
    rows = list(db.session.scalars(select(AuditLog).where(AuditLog.id > before, AuditLog.action == case.action)))
    assert len(rows) == 1, [(r.action, r.outcome, r.details) for r in rows]
    row = rows[0]
    # time: written now, in UTC
    assert started - timedelta(seconds=1) <= row.at <= utcnow() + timedelta(seconds=1)
    # actor: the logged-in person (or the account a login attempt names)
    actor_name = case.actor or case.role
    if actor_name is not None:
        actor = getattr(users, actor_name)
        assert (row.actor_id, row.actor_login) == (actor.id, actor.login_id)
    else:
        assert case.cli and row.note  # no one logged in: the row names the command that ran
    # source IP: the request's own address
    if case.cli:
        assert row.ip is None and row.note
    else:
        assert row.ip == ip
    # event type and outcome
    assert (row.action, row.outcome) == (case.action, case.outcome)
    # object
    assert row.target_type == case.target_type and row.target_id
