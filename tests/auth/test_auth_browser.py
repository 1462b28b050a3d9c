"""In a real browser (CSRF and CSP on): an administrator binds TOTP from the QR page and reaches the audit log."""
from __future__ import annotations

import os

import pytest

from lms.testing import TEST_PASSWORD

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("LMS_SCREENSHOTS")  # a folder: keep screenshots of the pages for review


def _shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.mark.parametrize("page", [{"width": 390, "height": 844}], indirect=True)
def test_admin_binds_totp_on_a_phone_and_opens_the_audit_log(page, make_user, totp_code):
    make_user("系统管理员", login_id="A0001", roles=["sysadmin"])
    page.goto("/admin/audit")
    _shot(page, "login")
    page.fill("input[name=login_id]", "A0001")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "/account/totp" in page.url
    qr = page.locator("img.qr-img")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, "totp_setup")
    secret = page.inner_text("code.secret").replace(" ", "")
    page.fill("input[name=code]", "123456" if totp_code(secret) != "123456" else "654321")
    page.click("main form.form button[type=submit]")
    page.wait_for_load_state()
    assert "动态口令不正确" in page.inner_text("main")
    page.fill("input[name=code]", totp_code(secret))
    page.click("main form.form button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/admin/audit")
    text = page.inner_text("main")
    assert "审计日志" in text and "启用动态口令" in text
    _shot(page, "audit")
    page.goto("/account")
    assert "已启用" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, "account")
