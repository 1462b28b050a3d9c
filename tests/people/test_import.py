"""Member import from real .xlsx files: template, every bad-row reason, dry run, confirm, idempotence, CLI."""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from lms.accounts.models import PersonTransfer, User
from lms.audit.models import AuditLog
from lms.extensions import db

HEADER = ["姓名", "学号/工号", "所属党组织", "党员类别", "入党时间", "手机号"]
A1 = "计算机学院党委/计算机学院教工党支部"
A2 = "计算机学院党委/计算机学院学生第一党支部"
B1 = "文学院党委/文学院学生党支部"
INITIAL = "Chushi#2026pw"


def xlsx(rows, header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "党员名单"
    ws.append(header)
    for r in rows:
        ws.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


GOOD_ROWS = [
    ["王一", "2024001", A1, "正式党员", date(2018, 6, 1), "13800000001"],
    ["王二", "2024002", A2, "预备党员", "2024/03/05", None],
    ["王三", 2024003, A1, "入党积极分子", None, 13800000003],
    ["王四", "2024004", "某大学党委/" + A2, "发展对象", "2023年7月1日", ""],
]


def _people():
    return {u.login_id: u for u in db.session.scalars(select(User).where(User.login_id.like("2024%")))}


def _upload(client, data: bytes, name="members.xlsx"):
    return client.post("/people/import", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _token(html: str) -> str:
    m = re.search(r'name="token" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="token" name="token" type="hidden" value="([^"]+)"', html)
    assert m, "no confirm form"
    return m.group(1)


def _confirm(client, html, password=INITIAL):
    return client.post("/people/import/confirm", data={"token": _token(html), "password": password})


def test_template_has_header_example_and_validation_lists(client, org, users, login_as):
    login_as(client, users.org_admin)
    resp = client.get("/people/import/template.xlsx")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    ws = wb["党员名单"]
    assert [c.value for c in ws[1]] == HEADER
    assert ws["A2"].value.startswith("示例")
    formulas = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation}
    assert any("正式党员" in (f or "") and "群众" in (f or "") for f in formulas.values())
    units = [r[0] for r in wb["组织列表"].iter_rows(values_only=True)]
    # the organization admin of college A is offered exactly their units
    assert set(units) == {"计算机学院党委", A1, A2}
    assert any("组织列表" in (f or "") for f in formulas.values())


def test_template_as_downloaded_imports_nothing_but_the_example_is_ignored(client, org, users, login_as):
    login_as(client, users.org_admin)
    data = client.get("/people/import/template.xlsx").data
    resp = _upload(client, data)
    assert resp.status_code == 400 and "文件中没有需要导入的数据行" in resp.get_data(as_text=True)


def test_good_file_dry_run_then_confirm_creates_people(client, org, users, login_as):
    login_as(client, users.org_admin)
    resp = _upload(client, xlsx(GOOD_ROWS))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200, html
    assert "新增 4 人，更新 0 人，未变化 0 人" in html, html[html.find("<main"):]
    assert _people() == {}  # a dry run writes nothing
    resp = _confirm(client, html)
    assert resp.status_code == 302
    people = _people()
    assert set(people) == {"2024001", "2024002", "2024003", "2024004"}
    p = people["2024001"]
    assert (p.name, p.org_unit_id, p.category, p.joined_on, p.phone) == (
        "王一", org.a1.id, "full", date(2018, 6, 1), "13800000001")
    assert people["2024002"].joined_on == date(2024, 3, 5) and people["2024002"].phone is None
    assert people["2024003"].phone == "13800000003" and people["2024003"].category == "activist"
    assert people["2024004"].org_unit_id == org.a2.id and people["2024004"].joined_on == date(2023, 7, 1)
    assert all(u.must_change_password for u in people.values())
    hashes = [u.password_hash for u in people.values()]
    assert len(set(hashes)) == 4  # salted separately
    from lms.auth.services import verify_password

    assert verify_password(p, INITIAL)
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "people.import"))
    assert row.details["create"] == 4 and row.details["update"] == 0 and row.actor_id == users.org_admin.id
    # the kept upload is gone once used
    assert client.post("/people/import/confirm", data={"token": _token(html), "password": INITIAL}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "people.import")) == 1


def test_reimport_same_file_changes_nothing_and_changed_row_updates(client, org, users, login_as):
    login_as(client, users.org_admin)
    _confirm(client, _upload(client, xlsx(GOOD_ROWS)).get_data(as_text=True))
    before = {k: (u.name, u.org_unit_id, u.category, u.joined_on, u.phone, u.updated_at, u.password_hash)
              for k, u in _people().items()}
    html = _upload(client, xlsx(GOOD_ROWS)).get_data(as_text=True)
    assert "新增 0 人，更新 0 人，未变化 4 人" in html
    assert 'action="/people/import/confirm"' not in html
    db.session.expire_all()
    assert {k: (u.name, u.org_unit_id, u.category, u.joined_on, u.phone, u.updated_at, u.password_hash)
            for k, u in _people().items()} == before

    changed = [list(r) for r in GOOD_ROWS]
    changed[0][3] = "预备党员"
    changed[0][5] = "13900000001"
    changed[1][2] = A1  # a different branch: a transfer
    html = _upload(client, xlsx(changed)).get_data(as_text=True)
    assert "新增 0 人，更新 2 人，未变化 2 人" in html
    assert "党员类别、手机号" in html
    resp = _confirm(client, html, password="")  # no new accounts: no password needed
    assert resp.status_code == 302
    db.session.expire_all()
    people = _people()
    assert people["2024001"].category == "probationary" and people["2024001"].phone == "13900000001"
    assert people["2024002"].org_unit_id == org.a1.id
    t = db.session.scalar(select(PersonTransfer))
    assert (t.user_id, t.from_unit_id, t.to_unit_id) == (people["2024002"].id, org.a2.id, org.a1.id)


BAD_CASES = [
    (["", "2024101", A1, "正式党员", "2020-01-01", None], "缺少姓名"),
    (["甲", "", A1, "正式党员", "2020-01-01", None], "缺少学号/工号"),
    (["甲", "2024101", "计算机学院党委/不存在的支部", "正式党员", "2020-01-01", None], "找不到党组织"),
    (["甲", "2024101", B1, "正式党员", "2020-01-01", None], "不在您的管理范围内"),
    (["甲", "2024101", A1, "党员", "2020-01-01", None], "未知的党员类别"),
    (["甲", "2024101", A1, "正式党员", "2020-13-01", None], "不是有效日期"),
    (["甲", "2024101", A1, "正式党员", "01/02/2020", None], "不是有效日期"),
    (["甲", "2024101", A1, "正式党员", date.today() + timedelta(days=1), None], "入党时间不能晚于今天"),
    (["甲", "2024101", A1, "正式党员", "2020-01-01", "1380000"], "不是有效的 11 位手机号"),
    (["甲", "2024101", A1, "正式党员", "2020-01-01", "23800000000"], "不是有效的 11 位手机号"),
    (["甲", "2024101", A1, "正式党员", None, None], "须填写入党时间"),
    (["甲", "2024101", "", "正式党员", "2020-01-01", None], "缺少所属党组织"),
    (["甲", "2024101", A1, "", "2020-01-01", None], "缺少党员类别"),
]


@pytest.mark.parametrize("row, reason", BAD_CASES, ids=[c[1] for c in BAD_CASES])
def test_each_bad_row_reason_is_reported_and_nothing_written(client, org, users, login_as, row, reason):
    login_as(client, users.org_admin)
    rows = [GOOD_ROWS[0], row, GOOD_ROWS[1]]
    resp = _upload(client, xlsx(rows))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "未导入任何数据" in html
    # the bad row is row 3 of the sheet (header is row 1)
    m = re.search(r"第 3 行</td>.*?</tr>", html, re.S)
    assert m and reason in m.group(0), html
    assert "第 2 行" not in html and "第 4 行" not in html
    assert 'action="/people/import/confirm"' not in html
    assert _people() == {}


def test_every_bad_row_is_listed_with_duplicates(client, org, users, login_as):
    login_as(client, users.org_admin)
    rows = [
        GOOD_ROWS[0],
        ["乙", "2024001", A1, "正式党员", "2020-01-01", None],  # duplicate of row 2
        ["", "", "不存在", "党员", "明年", "123"],  # many problems at once
        GOOD_ROWS[2],
    ]
    html = _upload(client, xlsx(rows)).get_data(as_text=True)
    assert "发现 2 行有错误" in html
    assert re.search(r"第 3 行</td>.*?与第 2 行重复", html, re.S)
    row4 = re.search(r"第 4 行</td>.*?</tr>", html, re.S).group(0)
    for reason in ("缺少姓名", "缺少学号/工号", "找不到党组织", "未知的党员类别", "不是有效日期", "不是有效的 11 位手机号"):
        assert reason in row4


def test_existing_person_outside_scope_cannot_be_overwritten(client, org, users, login_as):
    login_as(client, users.org_admin)
    row = ["冒名", users.member_b.login_id, A1, "正式党员", "2020-01-01", None]
    html = _upload(client, xlsx([row])).get_data(as_text=True)
    assert "已被您管理范围之外的人员使用" in html
    db.session.refresh(users.member_b)
    assert users.member_b.name == "王同学"


def test_secretary_imports_only_into_own_branch(client, org, users, login_as):
    login_as(client, users.secretary)
    html = _upload(client, xlsx([GOOD_ROWS[0], GOOD_ROWS[1]])).get_data(as_text=True)
    assert re.search(r"第 3 行</td>.*?不在您的管理范围内", html, re.S)
    html = _upload(client, xlsx([GOOD_ROWS[0]])).get_data(as_text=True)
    assert _confirm(client, html).status_code == 302
    assert _people()["2024001"].org_unit_id == org.a1.id


@pytest.mark.parametrize("content, message", [
    (b"name,id\n1,2\n", "请上传 .xlsx 格式"),
    (b"PK\x03\x04broken zip", "无法读取文件"),
])
def test_unreadable_files_are_refused_kindly(client, org, users, login_as, content, message):
    login_as(client, users.org_admin)
    resp = _upload(client, content)
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)


def test_missing_columns_and_wrong_extension(client, org, users, login_as):
    login_as(client, users.org_admin)
    resp = _upload(client, xlsx([["甲", "1"]], header=["姓名", "学号/工号"]))
    assert resp.status_code == 400 and "缺少必填列：所属党组织、党员类别" in resp.get_data(as_text=True)
    resp = _upload(client, xlsx(GOOD_ROWS), name="members.csv")
    assert resp.status_code == 400 and "只能上传 .xlsx" in resp.get_data(as_text=True)


def test_confirm_checks_the_initial_password_and_keeps_the_upload(client, org, users, login_as):
    login_as(client, users.org_admin)
    html = _upload(client, xlsx(GOOD_ROWS)).get_data(as_text=True)
    resp = _confirm(client, html, password="123")
    assert resp.status_code == 400 and "密码" in resp.get_data(as_text=True)
    assert _people() == {}
    assert _confirm(client, html).status_code == 302  # the same token still works
    assert len(_people()) == 4


def test_token_belongs_to_the_uploader(app, client, org, users, login_as):
    login_as(client, users.org_admin)
    html = _upload(client, xlsx(GOOD_ROWS)).get_data(as_text=True)
    other = login_as(app.test_client(), users.root_admin)
    resp = _confirm(other, html)
    assert resp.status_code == 302 and "/people/import" in resp.headers["Location"]
    assert _people() == {}
    assert client.post("/people/import/confirm", data={"token": "../../etc/passwd", "password": INITIAL}
                       ).status_code == 302
    files = list((Path(app.instance_path) / "imports").iterdir())
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+\.(xlsx|json)", f.name) for f in files)


def test_expired_upload_must_be_sent_again(app, client, org, users, login_as, monkeypatch):
    from lms.accounts import importing

    login_as(client, users.org_admin)
    html = _upload(client, xlsx(GOOD_ROWS)).get_data(as_text=True)
    monkeypatch.setattr(importing, "STASH_TTL_SECONDS", -1)
    resp = _confirm(client, html)
    assert resp.status_code == 302
    assert _people() == {}


def test_date_cells_and_datetime_cells_are_accepted(client, org, users, login_as):
    login_as(client, users.org_admin)
    rows = [["丙", "2024201", A1, "正式党员", datetime(2010, 7, 1, 0, 0), None]]
    html = _upload(client, xlsx(rows)).get_data(as_text=True)
    _confirm(client, html)
    assert _people()["2024201"].joined_on == date(2010, 7, 1)


# --- CLI -------------------------------------------------------------------------------------------
def test_cli_dry_run_reports_errors_in_chinese_and_exits_1(app, org, tmp_path):
    f = tmp_path / "bad.xlsx"
    f.write_bytes(xlsx([GOOD_ROWS[0], ["", "2024102", A1, "群众", None, None]]))
    result = app.test_cli_runner().invoke(args=["lms", "import-members", str(f), "--dry-run"])
    assert result.exit_code == 1
    assert "第 3 行：缺少姓名" in result.output
    assert _people() == {}


def test_cli_imports_and_reimport_is_idempotent(app, org, tmp_path):
    f = tmp_path / "good.xlsx"
    f.write_bytes(xlsx(GOOD_ROWS + [["王五", "2024005", B1, "群众", None, None]]))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["lms", "import-members", str(f), "--dry-run"])
    assert dry.exit_code == 0 and "新增 5 人" in dry.output and _people() == {}
    result = runner.invoke(args=["lms", "import-members", str(f), "--initial-password", INITIAL])
    assert result.exit_code == 0, result.output
    assert len(_people()) == 5
    again = runner.invoke(args=["lms", "import-members", str(f)])
    assert again.exit_code == 0 and "新增 0 人，更新 0 人，未变化 5 人" in again.output
    rows = list(db.session.scalars(select(AuditLog).where(AuditLog.action == "people.import")))
    assert [r.details["create"] for r in rows] == [5, 0] and rows[0].details["source"] == "cli"


def test_cli_refuses_weak_initial_password(app, org, tmp_path):
    f = tmp_path / "good.xlsx"
    f.write_bytes(xlsx(GOOD_ROWS))
    result = app.test_cli_runner().invoke(args=["lms", "import-members", str(f), "--initial-password", "abc"])
    assert result.exit_code == 1 and "密码" in result.output
    assert _people() == {}


def _with_sheet_xml(data: bytes, transform) -> bytes:
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = transform(content)
            dst.writestr(item, content)
    return out.getvalue()


def test_xml_entity_bomb_in_a_sheet_is_refused(client, org, users, login_as):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>')

    def inject(xml: bytes) -> bytes:
        body = xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml
        return bomb + body.replace(b"<v>", b"<v>&c;", 1)

    login_as(client, users.org_admin)
    resp = _upload(client, _with_sheet_xml(xlsx(GOOD_ROWS), inject))
    assert resp.status_code == 400 and "无法读取文件" in resp.get_data(as_text=True)
    assert _people() == {}


def test_endless_empty_rows_are_refused(client, org, users, login_as, monkeypatch):
    from lms.accounts import importing

    monkeypatch.setattr(importing, "MAX_SCANNED_ROWS", 50)
    login_as(client, users.org_admin)
    rows = [GOOD_ROWS[0]] + [[None, None, None, " ", None, None]] * 60
    resp = _upload(client, xlsx(rows))
    assert resp.status_code == 400 and "表格行数过多" in resp.get_data(as_text=True)


def test_import_cannot_change_someone_who_outranks_the_importer(client, org, users, login_as, make_user):
    boss = make_user("郑管理员", org.a1, roles=["sysadmin"], login_id="BOSS1")
    login_as(client, users.secretary)
    html = _upload(client, xlsx([["改名", "BOSS1", A1, "群众", None, None]])).get_data(as_text=True)
    assert "担任您无权管理的角色" in html
    db.session.refresh(boss)
    assert boss.name == "郑管理员"
