"""Membership data as sensitive personal information (PI-02): the privacy notice at first login, consent and
lawful-basis records for every person, and a dated impact assessment (docs/pia.md) kept at least 3 years.
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text

from lms.accounts.models import PrivacyRecord, User
from lms.audit.models import AuditLog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notice_on(app):
    app.config["PRIVACY_NOTICE_REQUIRED"] = True
    return app


def _records(db, user, kind=None):
    q = select(PrivacyRecord).where(PrivacyRecord.user_id == user.id).order_by(PrivacyRecord.id)
    if kind:
        q = q.where(PrivacyRecord.kind == kind)
    return list(db.session.scalars(q))


def test_first_login_leads_to_the_notice_until_it_is_agreed_to(notice_on, db, client, users, post_login):
    member = users.member
    r = post_login(client, member.login_id, ip="10.1.2.3")
    assert r.status_code == 302
    r = client.get("/")
    assert r.status_code == 302 and "/privacy/notice" in r.headers["Location"]
    page = client.get(r.headers["Location"])
    assert page.status_code == 200 and "敏感个人信息" in page.text and "2026-11-29" in page.text
    # Every other page, and JSON APIs, wait for it too.
    assert client.get("/account").status_code == 302
    api = client.get("/account", headers={"Accept": "application/json"})
    assert api.status_code == 403 and "个人信息保护告知" in api.get_json()["error"]

    r = client.post("/privacy/notice", data={"decision": "agree", "next": "/account"},
                    environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/account")
    assert client.get("/account").status_code == 200
    (row,) = _records(db, member, "consent")
    assert (row.notice_version, row.source, row.ip, row.by_id) == ("2026-11-29", "login", "10.1.2.3", member.id)
    assert row.at is not None
    audit_row = db.session.scalar(select(AuditLog).where(AuditLog.action == "privacy.consent"))
    assert audit_row.actor_id == member.id and audit_row.details == {"notice_version": "2026-11-29"}


def test_the_notice_is_shown_once_per_version(notice_on, app, db, users, post_login):
    first = app.test_client()
    post_login(first, users.member.login_id)
    first.post("/privacy/notice", data={"decision": "agree"})
    again = app.test_client()  # another device, a later login: no notice
    post_login(again, users.member.login_id)
    assert again.get("/account").status_code == 200
    app.config["PRIVACY_NOTICE_VERSION"] = "2027-03-01"  # the notice changed: everyone agrees again
    assert again.get("/account").status_code == 302
    again.post("/privacy/notice", data={"decision": "agree"})
    assert [r.notice_version for r in _records(db, users.member, "consent")] == ["2026-11-29", "2027-03-01"]


def test_declining_logs_out_and_is_recorded(notice_on, db, client, users, post_login):
    post_login(client, users.member_b.login_id)
    r = client.post("/privacy/notice", data={"decision": "decline"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert client.get("/account").status_code == 302  # logged out: back to the login form
    assert "/login" in client.get("/account").headers["Location"]
    (row,) = _records(db, users.member_b, "decline")
    assert row.notice_version == "2026-11-29"
    assert _records(db, users.member_b, "consent") == []
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "privacy.decline")).outcome == "failure"


def test_the_notice_needs_the_csrf_token(app_factory, users, db, post_login):
    app = app_factory(WTF_CSRF_ENABLED=True, PRIVACY_NOTICE_REQUIRED=True)
    client = app.test_client()
    client.get("/login")
    login_page = client.get("/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    r = client.post("/login", data={"login_id": users.member.login_id, "password": "Dangxiao#2026",
                                    "csrf_token": token})
    assert r.status_code == 302 and "/privacy/notice" in client.get("/account").headers["Location"]
    r = client.post("/privacy/notice", data={"decision": "agree"})
    assert r.status_code == 400
    assert "/privacy/notice" in client.get("/account").headers["Location"]
    assert _records(db, users.member, "consent") == []


def _xlsx(rows) -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "学号/工号", "所属党组织", "党员类别", "入党时间", "手机号"])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_people_the_organization_enters_carry_its_recorded_basis(app, db, users, org, runner):
    from lms.accounts import importing, services
    from lms.auth.services import hash_password

    branch = "计算机学院党委/计算机学院教工党支部"
    plan = importing.plan(_xlsx([["王一", "2024001", branch, "正式党员", date(2018, 6, 1), "13800000001"],
                                 ["王二", "2024002", branch, "入党积极分子", None, None]]), users.org_admin)
    importing.apply(plan, users.org_admin, "Chushi#2026pw", source="web")
    form_person = services.create_person(users.secretary, name="李四", login_id="2024009", unit=org.a1,
                                         category="full", joined_on=date(2020, 7, 1), phone=None,
                                         password_hash=hash_password("Chushi#2026pw"), source="form")
    db.session.commit()
    result = runner.invoke(args=["lms", "create-admin", "--login-id", "root9", "--name", "管理员",
                                 "--password", "Chushi#2026pw"])
    assert result.exit_code == 0, result.output
    people = {u.login_id: u for u in db.session.scalars(select(User).where(User.login_id.in_(
        ["2024001", "2024002", "2024009", "root9"])))}
    expected = {"2024001": ("import", users.org_admin.id), "2024002": ("import", users.org_admin.id),
                "2024009": ("form", users.secretary.id), "root9": ("cli", None)}
    for login_id, (source, by) in expected.items():
        (row,) = _records(db, people[login_id], "basis")
        assert (row.basis, row.source, row.by_id) == ("hr_management", source, by), login_id
    assert form_person.id == people["2024009"].id


def test_coverage_check_finds_people_with_neither_consent_nor_basis(notice_on, app, db, users, runner, post_login):
    # The fixture people were made directly in the database: nobody recorded a basis for them.
    result = runner.invoke(args=["lms", "privacy-coverage"])
    assert result.exit_code == 1 and "with neither: 11" in result.output
    assert users.member.login_id in result.output
    client = app.test_client()
    post_login(client, users.member.login_id)
    client.post("/privacy/notice", data={"decision": "agree"})
    assert "with neither: 10" in runner.invoke(args=["lms", "privacy-coverage"]).output
    result = runner.invoke(args=["lms", "privacy-coverage", "--record-basis", "hr_management"])
    assert result.exit_code == 0 and "with neither: 0" in result.output, result.output
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "privacy.basis")).details["people"] == 10
    from lms.accounts.privacy import coverage

    assert coverage().complete and coverage().people == 11


def test_the_migration_records_the_basis_of_people_already_there(tmp_path):
    from flask_migrate import upgrade

    from lms import create_app
    from lms.extensions import db
    from lms.testing import _base_config

    app = create_app(_base_config(tmp_path, f"sqlite:///{tmp_path / 'pi.sqlite3'}"))
    with app.app_context():
        upgrade(revision="core_0003")
        with db.engine.begin() as conn:
            conn.execute(text(
                'INSERT INTO "user" (id, login_id, name, category, must_change_password, is_active_account, '
                "failed_logins, totp_failures, created_at, updated_at) VALUES "
                "(1, 'A1', '甲', 'full', 0, 1, 0, 0, '2026-01-01', '2026-01-01')"))
        upgrade(revision="heads")
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT user_id, kind, basis, source FROM privacy_record")).all()
        assert rows == [(1, "basis", "hr_management", "migration")]
        db.engine.dispose()


# --- the impact assessment ------------------------------------------------------------------------------
def _pia() -> str:
    path = ROOT / "docs" / "pia.md"
    assert path.is_file(), "docs/pia.md (personal-information impact assessment, PIPL art. 55/56) is missing"
    return path.read_text(encoding="utf-8")


def _date(label: str, body: str) -> date:
    m = re.search(label + r"[^：:\n]*[：:]\s*(\d{4})-(\d{2})-(\d{2})", body)
    assert m, f"docs/pia.md has no dated line “{label}”"
    return date(*map(int, m.groups()))


def test_the_impact_assessment_is_dated_kept_three_years_and_covers_the_current_notice(app):
    body = _pia()
    done = _date("评估日期", body)
    kept = _date("保存至", body)
    review = _date("下次复核", body)
    assert done <= date.today()
    assert kept >= done.replace(year=done.year + 3)  # PIPL art. 56: at least three years
    assert done < review <= done.replace(year=done.year + 1)
    # The assessment names the notice in force: changing the notice means assessing it again.
    assert f"隐私告知版本 {app.config['PRIVACY_NOTICE_VERSION']}" in body
    for needed in ("特定身份", "第二十八条", "单独同意", "保护措施", "剩余风险"):
        assert needed in body


def test_the_notice_reads_in_english(notice_on, client, users, post_login):
    from test_i18n import chinese_left

    post_login(client, users.member.login_id)
    client.set_cookie("lang", "en")
    page = client.get("/privacy/notice")
    assert page.status_code == 200 and "Sensitive personal information" in page.text
    assert chinese_left(page.text, users.member.name) == []


def test_the_password_change_comes_before_the_notice(notice_on, db, client, make_user, org, post_login):
    newbie = make_user("新同志", org.a1, must_change=True)
    post_login(client, newbie.login_id)
    r = client.get("/privacy/notice")
    assert r.status_code == 302 and "/account/password" in r.headers["Location"]
    r = client.post("/privacy/notice", data={"decision": "agree"})
    assert r.status_code == 302 and "/account/password" in r.headers["Location"]
    assert _records(db, newbie, "consent") == []


def test_withdrawing_consent_asks_for_the_notice_again_and_tells_the_secretary(notice_on, app, db, client, users,
                                                                                post_login):
    """PIPL art. 15: the person withdraws their consent on 我的数据; it is recorded and audited, their secretary is
    told, every page leads to the notice again, and agreeing anew restores access."""
    from lms.accounts.privacy import coverage
    from lms.notifications.models import Notification

    member = users.member
    post_login(client, member.login_id)
    client.post("/privacy/notice", data={"decision": "agree"})
    page = client.get("/account/data")
    assert page.status_code == 200 and "撤回对隐私声明的同意" in page.text
    assert member.id not in coverage().missing

    r = client.post("/account/data/withdraw-consent")
    assert r.status_code == 302 and r.headers["Location"].endswith("/privacy/notice")
    assert client.get("/account").status_code == 302  # no page until the notice is agreed to again
    assert [r.kind for r in _records(db, member)][-2:] == ["consent", "withdraw"]
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "privacy.withdraw")).actor_id == member.id
    told = db.session.scalars(select(Notification).where(Notification.user_id == users.secretary.id)).all()
    assert any(member.name in n.title and "撤回" in n.title for n in told)
    # the consent is gone for the coverage check; the organization's recorded basis (if any) still counts
    has_basis = bool(_records(db, member, "basis"))
    assert (member.id in coverage().missing) is not has_basis

    client.post("/privacy/notice", data={"decision": "agree"})
    assert client.get("/account").status_code == 200
    assert [r.kind for r in _records(db, member)][-1] == "consent"
