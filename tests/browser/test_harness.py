"""The browser harness itself: a real server, a real chromium, CSRF on, no CSP violations."""
from __future__ import annotations

import pytest

from lms.testing import TEST_PASSWORD

pytestmark = pytest.mark.browser


def test_member_logs_in_through_the_real_login_form(page, make_user):
    make_user("周学员", login_id="20250101")
    page.goto("/")
    assert page.url.endswith("/login") or "/login?" in page.url
    assert "登录" in page.title()
    page.fill("input[name=login_id]", "20250101")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "周学员" in page.inner_text("header")


def test_wrong_password_is_refused_with_a_message(page, make_user):
    make_user("周学员", login_id="20250102")
    page.goto("/login")
    page.fill("input[name=login_id]", "20250102")
    page.fill("input[name=password]", "not-the-password")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "密码错误" in page.inner_text("main")
    assert "周学员" not in page.inner_text("header")


@pytest.mark.parametrize("page", [{"width": 390, "height": 844}], indirect=True)
def test_phone_layout_folds_the_navigation_behind_the_menu_button(page, make_user, login_as):
    make_user("周学员", login_id="20250103")
    page.goto("/login")
    page.fill("input[name=login_id]", "20250103")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    nav = page.locator("nav.mainnav")
    assert not nav.is_visible()
    page.click("label.nav-toggle-label")
    assert nav.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
