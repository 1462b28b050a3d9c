"""PI-06 data-subject requests: every table that references a person is in their copy and is emptied of
their data by the erasure (audit rows kept and flagged); the 我的数据 page, the download, correction
requests, who may erase, and the CLI."""
from __future__ import annotations

import io
import json
import secrets
import zipfile
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, LargeBinary, Numeric, insert, select

# Columns that hold a person without a foreign key to user.id (listed by hand: the coverage test cannot find them).
NON_FK_PERSON_COLUMNS = {
    ("xapi_statement", "person_id"): "kept: de-identified (an account id only, no name; statements are immutable)",
    ("xapi_document", "agent_key"): "deleted",
    ("login_attempt", "login_id"): "deleted",
    ("audit_log", "actor_id"): "kept and flagged (retention duty ≥180 days)",
}
# Rows kept after erasure, pointing at the anonymised user row, with the person's words replaced.
KEPT_DEIDENTIFIED = {("discussion_post", "author_id"): "body", ("discussion_thread", "author_id"): "title"}


def _user_fk_columns(db):
    return sorted((t.name, c.name) for t in db.metadata.sorted_tables for c in t.columns
                  for fk in c.foreign_keys if fk.column.table.name == "user")


class _Filler:
    """Inserts one row into a table, filling required columns; parents are made the same way."""

    def __init__(self, db, person_id: int, base_url: str):
        self.db, self.person_id, self.base_url, self.made = db, person_id, base_url, {}

    def value(self, col):
        if col.name == "person_id" and col.table.name == "xapi_statement":
            return self.person_id
        if col.name == "agent_key" and col.table.name == "xapi_document":
            return f"account:{self.base_url}|{self.person_id}"
        for fk in col.foreign_keys:
            target = fk.column.table
            if target.name == "user":
                return self.person_id
            return None if col.nullable else self.row(target)[fk.column.name]
        if col.primary_key and isinstance(col.type, Integer):
            return None
        if col.nullable or col.default is not None or col.server_default is not None:
            return None
        t = col.type
        if isinstance(t, Boolean):
            return False
        if isinstance(t, DateTime):
            return datetime.now(UTC).replace(tzinfo=None)
        if isinstance(t, Date):
            return date(2026, 1, 1)
        if isinstance(t, JSON):
            return {}
        if isinstance(t, (Integer, Float, Numeric)):
            return 1
        if isinstance(t, LargeBinary):
            return b"{}"
        length = getattr(t, "length", None) or 13
        return ("x" + secrets.token_hex(6))[:length]

    def row(self, table) -> dict:
        if table.name in self.made:
            return self.made[table.name]
        values = {c.name: v for c in table.columns if (v := self.value(c)) is not None}
        result = self.db.session.execute(insert(table).values(**values).returning(*table.primary_key.columns))
        values.update(result.mappings().one())
        self.made[table.name] = values
        return values


@pytest.fixture
def full_person(app, db, users, login_as):
    """A member with a row in every table that references a person (and one login attempt, audit row …)."""
    from lms import audit
    from lms.auth.models import LoginAttempt

    person = users.member
    person.phone = "13800138000"
    filler = _Filler(db, person.id, app.config["BASE_URL"].rstrip("/"))
    for table, _col in _user_fk_columns(db):
        filler.row(db.metadata.tables[table])
    filler.row(db.metadata.tables["xapi_statement"])
    filler.row(db.metadata.tables["xapi_document"])
    db.session.add(LoginAttempt(ip="10.0.0.1", login_id=person.login_id, outcome="success"))
    audit.log("auth.login", person, actor=person)
    db.session.commit()
    return person


def test_export_covers_every_table_that_references_a_person(db, full_person):
    from lms.accounts import dsar

    sections = {s.table: s for s in dsar.gather(full_person)}
    linked = {t for t, _c in _user_fk_columns(db)} | {t for t, _c in NON_FK_PERSON_COLUMNS} | {"user"}
    assert linked - set(sections) == set()
    empty = sorted(t for t in linked if sections[t].count == 0)
    assert empty == []
    assert sections["user"].rows[0]["phone"] == "13800138000"  # decrypted in the person's own copy


def test_erasure_leaves_no_personal_data_except_flagged_audit_rows(db, full_person):
    from lms.accounts import dsar
    from lms.accounts.models import PersonErasure, User
    from lms.audit.models import AuditLog
    from lms.auth.models import LoginAttempt

    pid, login = full_person.id, full_person.login_id
    full_person.is_active_account = False
    db.session.commit()
    dsar.erase(None, full_person)
    db.session.commit()
    db.session.expire_all()
    left = {}
    for table, col in _user_fk_columns(db):
        t = db.metadata.tables[table]
        rows = db.session.execute(select(t).where(t.c[col] == pid)).mappings().all()
        if (table, col) in KEPT_DEIDENTIFIED:
            text_col = KEPT_DEIDENTIFIED[(table, col)]
            assert all(r[text_col] == "（该用户的信息已删除）" for r in rows), table
        elif rows:
            left[f"{table}.{col}"] = len(rows)
    assert left == {}
    assert db.session.scalar(select(LoginAttempt.id).where(LoginAttempt.login_id == login)) is None
    doc = db.metadata.tables["xapi_document"]
    assert db.session.execute(select(doc).where(doc.c.agent_key.like(f"%|{pid}"))).first() is None
    user = db.session.get(User, pid)
    assert (user.name, user.login_id, user.phone, user.password_hash, user.totp_secret, user.org_unit_id) == (
        f"已删除用户 #{pid}", f"erased-{pid}", None, None, None, None)
    assert not user.is_active
    kept = db.session.scalar(select(db.func.count(AuditLog.id)).where(AuditLog.actor_id == pid))
    flag = db.session.scalar(select(PersonErasure).where(PersonErasure.person_id == pid))
    assert kept >= 1 and flag.audit_rows_kept >= kept and flag.audit_kept_until is not None
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "privacy.erase")).target_id == str(pid)
    from lms.audit import verify_chain

    assert verify_chain() == []


def _zip(resp) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(resp.data))


def test_my_data_page_and_download(client, db, users, login_as, app):
    from lms.notifications.services import notify

    users.member.phone = "13900001111"
    notify(users.member, title="给李党员的通知")
    notify(users.member_b, title="给王同学的通知")
    db.session.commit()
    login_as(client, users.member)
    assert "我的数据" in client.get("/account").get_data(as_text=True)
    html = client.get("/account/data").get_data(as_text=True)
    assert "基本信息" in html and "notification" in html and "下载我的数据" in html
    resp = client.post("/account/data/export")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    zf = _zip(resp)
    assert "README.txt" in zf.namelist() and "个人信息副本" in zf.read("README.txt").decode()
    profile = json.loads(zf.read("user.json"))
    assert profile["rows"][0]["phone"] == "13900001111" and "password_hash" not in profile["rows"][0]
    titles = [r["title"] for r in json.loads(zf.read("notification.json"))["rows"]]
    assert titles == ["给李党员的通知"]  # no one else's data
    from lms.audit.models import AuditLog

    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "privacy.dsar.export")).actor_id == users.member.id


def test_download_is_rate_limited_with_a_clear_message(client, users, login_as, app):
    app.config["DSAR_EXPORTS_PER_HOUR"] = 2
    login_as(client, users.member)
    assert client.post("/account/data/export").status_code == 200
    assert client.post("/account/data/export").status_code == 200
    resp = client.post("/account/data/export")
    assert resp.status_code == 429 and "一小时内最多下载 2 次" in resp.get_data(as_text=True)


def test_own_discussion_posts_only(db, users):
    """A reply by someone else in the person's thread is not in their copy."""
    from lms.accounts import dsar
    from lms.courses.models import Course
    from plugins.discussion.models import DiscussionPost, DiscussionThread

    course = Course(title="课程", summary="", category="theory", audience="", status="published")
    db.session.add(course)
    db.session.flush()
    thread = DiscussionThread(course_id=course.id, author_id=users.member.id, title="我的提问")
    db.session.add(thread)
    db.session.flush()
    db.session.add_all([
        DiscussionPost(thread_id=thread.id, author_id=users.member.id, is_first=True, body="我的问题", body_html=""),
        DiscussionPost(thread_id=thread.id, author_id=users.member_b.id, body="别人的回答", body_html=""),
    ])
    db.session.commit()
    posts = next(s for s in dsar.gather(users.member) if s.table == "discussion_post")
    assert [r["body"] for r in posts.rows] == ["我的问题"]


def test_correction_request_notifies_the_secretary_who_closes_it(client, db, users, login_as):
    from lms.accounts.models import PrivacyRequest
    from lms.notifications.models import Notification

    login_as(client, users.member)
    resp = client.post("/account/data/correction", data={"field": "joined_on", "detail": "入党时间应为 2016-07-01"})
    assert resp.status_code == 302
    req = db.session.scalar(select(PrivacyRequest))
    assert (req.user_id, req.field, req.status) == (users.member.id, "joined_on", "open")
    told = db.session.scalars(select(Notification.user_id).where(Notification.url == "/people/data-requests")).all()
    assert told == [users.secretary.id]
    assert client.post("/account/data/correction", data={"field": "name", "detail": " "}).status_code == 400

    login_as(client, users.secretary_b)
    assert "入党时间应为" not in client.get("/people/data-requests").get_data(as_text=True)
    assert client.post(f"/people/data-requests/{req.id}/done").status_code == 404

    login_as(client, users.secretary)
    assert "入党时间应为 2016-07-01" in client.get("/people/data-requests").get_data(as_text=True)
    assert client.post(f"/people/data-requests/{req.id}/done", data={"reply": "已更正"}).status_code == 302
    db.session.refresh(req)
    assert (req.status, req.handled_by_id, req.reply) == ("done", users.secretary.id, "已更正")
    assert db.session.scalar(select(Notification).where(Notification.user_id == users.member.id,
                                                        Notification.url == "/account/data")) is not None


def test_who_may_erase(client, db, users, login_as):
    from lms.accounts.models import User

    users.member.is_active_account = False
    db.session.commit()
    url = f"/people/{users.member.id}/erase"
    login_as(client, users.member_a2)
    assert client.get(url).status_code == 403
    login_as(client, users.secretary_b)  # another branch
    assert client.post(url, data={"login_id": users.member.login_id}).status_code == 403
    login_as(client, users.secretary)  # the person's own branch secretary: refused, org admins erase
    assert client.post(url, data={"login_id": users.member.login_id}).status_code == 403
    login_as(client, users.org_admin)
    assert "再次输入此人的学号/工号" in client.get(url).get_data(as_text=True)
    resp = client.post(url, data={"login_id": "wrong"})
    assert resp.status_code == 400 and "不符" in resp.get_data(as_text=True)
    assert client.post(url, data={"login_id": users.member.login_id}).status_code == 302
    assert db.session.get(User, users.member.id).name == f"已删除用户 #{users.member.id}"


def test_active_account_must_be_deactivated_first(client, users, login_as):
    login_as(client, users.org_admin)
    resp = client.get(f"/people/{users.member.id}/erase")
    assert "请先停用此人的账号" in resp.get_data(as_text=True)
    assert client.post(f"/people/{users.member.id}/erase", data={"login_id": users.member.login_id}).status_code == 403


def test_cli_person_erase(runner, db, users):
    from lms.accounts.models import User

    login = users.member.login_id
    result = runner.invoke(args=["lms", "person-erase", login])
    assert result.exit_code == 1 and "--yes" in result.output
    result = runner.invoke(args=["lms", "person-erase", login, "--yes"])
    assert result.exit_code != 0 and "请先停用" in result.output
    users.member.is_active_account = False
    db.session.commit()
    result = runner.invoke(args=["lms", "person-erase", login, "--yes"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(User, users.member.id).login_id == f"erased-{users.member.id}"
    assert runner.invoke(args=["lms", "person-erase", login, "--yes"]).exit_code != 0  # the login id is gone
