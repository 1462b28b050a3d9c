"""PI-05 export controls, as the exporter and the approver see them: who may export (403), masked identifiers,
the watermark, the audit row with the row count, the hourly limit (429) and the second approver above the
row threshold (held, no self-approval, one download)."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

ID_NUMBER = "1101199001011234"  # an ID-number-like login id


def _audit(action):
    from lms.audit.models import AuditLog
    from lms.extensions import db

    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _ledger(client, unit):
    return client.get(f"/stats/units/{unit.id}/ledger.xlsx")


def _member_ids(wb) -> dict[str, str]:
    rows = list(wb["按党员"].iter_rows(values_only=True))[3:-1]
    return {r[1]: r[2] for r in rows}


@pytest.fixture
def id_person(org, make_user):
    return make_user("身份证号党员", org.a2, login_id=ID_NUMBER)


# --- permission ------------------------------------------------------------------------------------------------
def test_teacher_gets_403_for_people_and_ledger_exports(client, users, org, login_as):
    login_as(client, users.teacher)
    assert client.get("/people/export.xlsx").status_code == 403
    for unit in (org.a1, org.a, org.root):
        assert _ledger(client, unit).status_code == 403
    assert _audit("people.export") == [] and _audit("stats.export") == []
    assert len(_audit("authz.denied")) == 4


def test_reviewer_exports_only_the_ledgers_of_the_units_they_review(client, users, org, login_as):
    login_as(client, users.reviewer)  # reviewer of 计算机学院党委 (A)
    assert client.get("/people/export.xlsx").status_code == 403
    assert _ledger(client, org.b).status_code == 403
    assert _ledger(client, org.root).status_code == 403
    assert _ledger(client, org.a1).status_code == 200
    page = client.get("/exports/").get_data(as_text=True)  # reviewers have no statistics pages: listed here
    assert f"/stats/units/{org.a.id}/ledger.xlsx" in page


# --- masking, watermark, audit -------------------------------------------------------------------------------
def test_reviewer_ledger_has_masked_ids_a_watermark_and_an_audit_row(client, users, org, login_as, id_person):
    login_as(client, users.reviewer)
    resp = _ledger(client, org.a)
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    ids = _member_ids(wb)
    assert ids[id_person.name] == "1101********1234"
    assert ids[users.member.name] == "T" + "*" * 4 + users.member.login_id[-1]  # 6 characters: 1 + 4 + 1
    assert users.member.login_id not in ids.values()
    mark = f"导出人：{users.reviewer.name}（{users.reviewer.login_id}）"
    for ws in wb.worksheets:
        assert mark in ws.oddHeader.right.text and mark in ws.oddFooter.left.text
        assert ws.oddFooter.center.text == "第 &P 页，共 &N 页"  # the page numbers stay
        assert mark in ws["A2"].value  # the line under the title
        # the A4 print set-up of the ledgers is kept
        assert int(ws.page_setup.paperSize) == 9 and ws.page_setup.orientation == "landscape"
        assert ws.print_title_rows == "$3:$3" and ws.page_setup.fitToWidth == 1
    assert wb.properties.creator == f"{users.reviewer.name}（{users.reviewer.login_id}）"
    assert mark in wb.properties.description and "导出时间" in wb.properties.description
    row = _audit("stats.export")[-1]
    assert row.actor_id == users.reviewer.id and row.target_type == "org_unit" and row.target_id == str(org.a.id)
    assert row.details["rows"] == len(ids) == 7 and row.details["kind"] == "stats.ledger"
    assert row.details["ids"] == "masked" and row.details["scope"].startswith(org.a.name)


@pytest.mark.parametrize("who", ["org_admin", "sysadmin"])
def test_administrators_see_identifiers_in_clear(client, users, org, login_as, id_person, who):
    login_as(client, getattr(users, who))
    ids = _member_ids(load_workbook(io.BytesIO(_ledger(client, org.a).data)))
    assert ids[id_person.name] == ID_NUMBER and ids[users.member.name] == users.member.login_id
    assert _audit("stats.export")[-1].details["ids"] == "clear"


def test_people_export_is_watermarked_and_audited(client, users, login_as):
    login_as(client, users.secretary)
    resp = client.get("/people/export.xlsx")
    wb = load_workbook(io.BytesIO(resp.data))
    ws = wb.active
    assert [c.value for c in ws[1]][:2] == ["姓名", "学号/工号"]  # still re-importable: the header stays on top
    assert f"导出人：{users.secretary.name}" in ws.oddHeader.right.text
    assert f"导出人：{users.secretary.name}" in ws.oddFooter.left.text
    assert wb.properties.creator.startswith(users.secretary.name)
    row = _audit("people.export")[-1]
    assert row.details["rows"] == ws.max_row - 1 and row.details["kind"] == "people"


def test_mask_keeps_at_most_a_quarter_at_each_end():
    from lms.exports.services import mask_id

    assert mask_id(ID_NUMBER) == "1101********1234"
    assert mask_id("2021012345") == "20******45"
    assert mask_id("T00001") == "T****1"
    assert mask_id("abc") == "***"
    assert mask_id(None) is None


# --- rate limit ------------------------------------------------------------------------------------------------
def test_sixth_export_in_an_hour_is_refused_with_429(client, users, org, login_as):
    from lms.exports.services import rate_refusal
    from lms.timeutil import utcnow

    login_as(client, users.secretary)
    for _ in range(3):
        assert client.get("/people/export.xlsx").status_code == 200
    for _ in range(2):  # every kind of personal-data export counts
        assert _ledger(client, org.a1).status_code == 200
    resp = client.get("/people/export.xlsx")
    assert resp.status_code == 429
    assert "一小时内最多导出 5 次含个人信息的数据" in resp.get_data(as_text=True)
    assert _ledger(client, org.a1).status_code == 429
    assert len(_audit("people.export")) == 3 and len(_audit("stats.export")) == 2
    client.set_cookie("lang", "en")
    resp = client.get("/people/export.xlsx")
    assert resp.status_code == 429 and "at most 5 times an hour" in resp.get_data(as_text=True)
    assert rate_refusal(users.secretary, now=utcnow() + timedelta(minutes=61)) is None  # a rolling hour


# --- a second approver above the threshold ------------------------------------------------------------------------
@pytest.fixture
def held(app, client, users, login_as):
    """The organization admin of college A asks for the people of A with the threshold set to 3 rows."""
    from lms.exports.models import ExportRequest
    from lms.extensions import db

    app.config["EXPORT_APPROVAL_ROWS"] = 3
    login_as(client, users.org_admin)
    resp = client.get("/people/export.xlsx")
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/exports/")
    req = db.session.scalar(select(ExportRequest))
    return req


def test_export_over_the_threshold_is_held_and_the_approvers_are_told(client, users, login_as, held):
    from lms.extensions import db
    from lms.notifications.models import Notification

    assert held.status == "pending" and held.rows == 6 and held.requested_by_id == users.org_admin.id
    assert _audit("people.export") == []  # nothing left the system
    assert _audit("export.request")[0].details["rows"] == 6
    told = {n.user_id for n in db.session.scalars(select(Notification))}
    # who may export college A's people: the university's org admin and the system administrator (not a branch
    # secretary, not the requester)
    assert told == {users.root_admin.id, users.sysadmin.id}
    page = client.get("/exports/").get_data(as_text=True)
    assert "待审批" in page and f"/exports/{held.id}/download" not in page


def test_requester_cannot_approve_their_own_export(client, users, login_as, held):
    resp = client.post(f"/exports/{held.id}/approve")
    assert resp.status_code == 403 and "不能批准或驳回自己提出的导出申请" in resp.get_data(as_text=True)
    assert client.get(f"/exports/{held.id}/download").status_code == 409
    login_as(client, users.secretary)  # another person, but A1's secretary may not export all of A
    assert client.post(f"/exports/{held.id}/approve").status_code == 403
    assert "/approve" not in client.get("/exports/").get_data(as_text=True)


def test_another_admin_approves_and_the_requester_downloads_once(client, users, login_as, held):
    from lms.extensions import db
    from lms.notifications.models import Notification

    login_as(client, users.root_admin)
    page = client.get("/exports/").get_data(as_text=True)
    assert users.org_admin.name in page and f"/exports/{held.id}/approve" in page
    assert client.post(f"/exports/{held.id}/approve").status_code == 303
    assert _audit("export.approve")[0].actor_id == users.root_admin.id
    assert client.get(f"/exports/{held.id}/download").status_code == 403  # only the requester downloads
    told = db.session.scalars(select(Notification).where(Notification.user_id == users.org_admin.id)).all()
    assert len(told) == 1 and "已批准" in told[0].title

    login_as(client, users.org_admin)
    resp = client.get(f"/exports/{held.id}/download")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.active.max_row - 1 == 6
    assert f"批准人：{users.root_admin.name}" in wb.active.oddHeader.right.text
    row = _audit("people.export")[0]
    assert row.details["rows"] == 6 and row.details["request"] == held.id
    assert row.details["approved_by"] == users.root_admin.id
    again = client.get(f"/exports/{held.id}/download")
    assert again.status_code == 410 and "已经下载过" in again.get_data(as_text=True)
    assert len(_audit("people.export")) == 1


def test_a_refused_request_cannot_be_downloaded(client, users, login_as, held):
    login_as(client, users.sysadmin)
    assert client.post(f"/exports/{held.id}/refuse").status_code == 303
    login_as(client, users.org_admin)
    assert client.get(f"/exports/{held.id}/download").status_code == 409
    assert "已驳回" in client.get("/exports/").get_data(as_text=True)


def test_an_approval_expires(app, client, users, login_as, held):
    from lms.extensions import db

    login_as(client, users.root_admin)
    client.post(f"/exports/{held.id}/approve")
    db.session.refresh(held)
    held.expires_at = held.decided_at - timedelta(minutes=1)
    db.session.commit()
    login_as(client, users.org_admin)
    assert client.get(f"/exports/{held.id}/download").status_code == 409
    assert "已过期" in client.get("/exports/").get_data(as_text=True)


def test_exactly_the_threshold_downloads_at_once(app, client, users, login_as):
    app.config["EXPORT_APPROVAL_ROWS"] = 6
    login_as(client, users.org_admin)
    assert client.get("/people/export.xlsx").status_code == 200
