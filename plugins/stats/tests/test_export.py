"""The ledger export (台账): scoped rows, titles, headers, values, totals, A4 print setup, injection-safe, audited."""
from __future__ import annotations

import io

import pytest


@pytest.fixture
def workbook(client, users, org, login_as, make_course, learn, make_user, year):
    from lms.credits import services as credits
    from lms.extensions import db

    c = make_course(hours="8", quiz=True)
    learn.complete(users.member, c)
    learn.quiz(users.member, c, 0.9)
    learn.enroll(users.member_a2, c)
    learn.complete(users.member_b, c)  # another college: must not appear
    evil = make_user("=HYPERLINK(\"http://x\",\"点我\")", org.a2, login_id="+T99")
    credits.award(evil, source_type="training", source_id="t-evil", hours=2, title="培训",
                  evidence={"organizer": "组织部"})
    db.session.commit()
    login_as(client, users.org_admin)
    resp = client.get(f"/stats/units/{org.a.id}/ledger.xlsx?year={year}")
    assert resp.status_code == 200
    from openpyxl import load_workbook

    return resp, load_workbook(io.BytesIO(resp.data))


def _rows(ws):
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_ledger_is_named_by_scope_and_date(workbook, org, year):
    from urllib.parse import unquote

    from lms.templating import local_dt
    from lms.timeutil import utcnow

    resp, _wb = workbook
    disp = unquote(resp.headers["Content-Disposition"])
    assert f"学时台账_{org.a.name}_{year}年度_{local_dt(utcnow(), '%Y%m%d')}.xlsx" in disp
    assert resp.headers["Cache-Control"] == "no-store"


def test_unit_sheet_titles_headers_values_and_totals(workbook, org, year):
    _resp, wb = workbook
    ws = wb["按党组织"]
    rows = _rows(ws)
    assert rows[0][0] == f"{org.a.name} {year}年度党员教育培训台账（按党组织）"
    assert rows[2][:4] == ["序号", "党组织", "人数", "已获学时合计"]
    body = {r[1]: r for r in rows[3:-1]}
    assert set(body) == {"计算机学院党委", "计算机学院党委/计算机学院教工党支部", "计算机学院党委/计算机学院学生第一党支部"}
    a1 = body["计算机学院党委/计算机学院教工党支部"]
    # 3 people (member, teacher, secretary); 8 hours from the course; 1 of 3 met? (member 8 < 32: none met)
    assert a1[2] == 3 and a1[3] == 8.0 and a1[5] == 0
    assert a1[7] == 1 and a1[8] == 1 and a1[9] == 1.0  # enrolments, completions, rate
    assert a1[10] == 1 and a1[11] == 90.0  # one quiz score, average 90
    a2 = body["计算机学院党委/计算机学院学生第一党支部"]
    assert a2[2] == 2 and a2[3] == 2.0 and a2[7] == 1 and a2[8] == 0 and a2[9] == 0.0
    total = rows[-1]
    assert total[1] == "合计" and total[2] == 7 and total[3] == 10.0 and total[7] == 2 and total[8] == 1
    assert total[9] == 0.5


def test_member_sheet_has_only_the_subtree_and_escapes_formulas(workbook, users, org):
    _resp, wb = workbook
    ws = wb["按党员"]
    rows = _rows(ws)
    assert rows[2][:4] == ["序号", "姓名", "学号/工号", "所在党组织"]
    names = [r[1] for r in rows[3:-1]]
    assert users.member.name in names and users.member_b.name not in names and users.secretary_b.name not in names
    assert len(names) == 7
    evil = next(r for r in rows[3:-1] if "HYPERLINK" in str(r[1]))
    assert evil[1].startswith("'=") and evil[2] == "'+T99"
    for row in ws.iter_rows(min_row=4):
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    me = next(r for r in rows[3:-1] if r[1] == users.member.name)
    assert me[5:9] == [32.0, 8.0, 24.0, "否"] and me[9:12] == [1, 1, 1.0] and me[13] == 90.0
    sec = next(r for r in rows[3:-1] if r[1] == users.secretary.name)
    assert sec[5] == 56.0
    assert rows[-1][1] == "合计" and rows[-1][2] == "7 人"


def test_sheets_are_set_up_for_a4_printing(workbook):
    _resp, wb = workbook
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A4"
        assert int(ws.page_setup.paperSize) == 9  # A4
        assert ws.page_setup.orientation == "landscape"
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert ws.print_title_rows == "$3:$3"
        assert ws.print_area and ws.print_area.endswith(str(ws.max_row))
        assert ws.column_dimensions["B"].width >= 10
        assert any(str(r).startswith("A1:") for r in ws.merged_cells.ranges)


def test_export_is_audited_and_rate_limited(app, workbook, client, org, year):
    from lms.audit.models import AuditLog
    from lms.extensions import db

    row = db.session.query(AuditLog).filter_by(action="stats.export").one()
    assert row.details["rows"] == 7 and row.details["year"] == year
    app.config["EXPORTS_PER_HOUR"] = 1
    resp = client.get(f"/stats/units/{org.a.id}/ledger.xlsx")
    assert resp.status_code == 429 and "一小时内最多导出" in resp.get_data(as_text=True)


def test_secretary_export_contains_only_their_branch(client, users, org, login_as, make_course, learn, year):
    from openpyxl import load_workbook

    c = make_course()
    learn.complete(users.member_a2, c)
    login_as(client, users.secretary)
    resp = client.get(f"/stats/units/{org.a1.id}/ledger.xlsx")
    wb = load_workbook(io.BytesIO(resp.data))
    names = [r[1] for r in list(wb["按党员"].iter_rows(values_only=True))[3:-1]]
    assert sorted(names) == sorted([users.member.name, users.teacher.name, users.secretary.name])
    units = [r[1] for r in list(wb["按党组织"].iter_rows(values_only=True))[3:-1]]
    assert units == ["计算机学院党委/计算机学院教工党支部"]
