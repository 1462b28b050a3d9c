"""People pages in a real chromium: CSRF on, phone layout, the import flow end to end."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from lms.testing import TEST_PASSWORD

pytestmark = pytest.mark.browser


def _login(page, login_id):
    page.goto("/login")
    page.fill("input[name=login_id]", login_id)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.parametrize("page", [{"width": 390, "height": 844}], indirect=True)
def test_secretary_imports_members_and_transfers_on_a_phone(page, org, users, tmp_path):
    from lms.accounts.models import User
    from lms.extensions import db

    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "学号/工号", "所属党组织", "党员类别", "入党时间", "手机号"])
    ws.append(["韩新", "2025900", "计算机学院党委/计算机学院教工党支部", "正式党员", "2020-07-01", "13800009999"])
    f = tmp_path / "members.xlsx"
    buf = io.BytesIO()
    wb.save(buf)
    f.write_bytes(buf.getvalue())

    _login(page, users.secretary.login_id)
    page.goto("/people")
    assert "李党员" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto("/people/import")
    page.set_input_files("input[name=file]", str(f))
    page.click("main form[action='/people/import'] button[type=submit]")
    page.wait_for_load_state()
    assert "新增 1 人" in page.inner_text("main")
    page.fill("input[name=password]", "Chushi#2026pw")
    page.click("main form[action='/people/import/confirm'] button[type=submit]")
    page.wait_for_load_state()
    assert "导入完成" in page.inner_text("main")
    person = db.session.scalar(select(User).where(User.login_id == "2025900"))
    assert person is not None and person.org_unit_id == org.a1.id

    # the person page shows the phone unmasked to the secretary, and deactivating asks first
    page.on("dialog", lambda d: d.accept())
    page.goto(f"/people/{person.id}")
    assert "13800009999" in page.inner_text("main")
    page.click("text=停用账号")
    page.wait_for_load_state()
    assert "账号已停用" in page.inner_text("main")
    db.session.expire_all()
    assert not db.session.get(User, person.id).is_active_account
