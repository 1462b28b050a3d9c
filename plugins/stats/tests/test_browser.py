"""In a real browser: an organization admin watches a branch's completion rate change, drills down to a member's
statements and downloads the ledger."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from lms.testing import TEST_PASSWORD

pytestmark = pytest.mark.browser


def login(page, user):
    page.goto("/login")
    page.fill("input[name=login_id]", user.login_id)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def _rate(page, unit_id):
    return page.locator(f"tr[data-row='{unit_id}'] [data-testid=rate]").inner_text().strip()


def test_admin_sees_the_new_rate_drills_down_to_statements_and_exports(page, live_server, users, org, make_course):
    from decimal import Decimal

    from lms.courses import services as courses
    from lms.extensions import db

    course = make_course("学习贯彻党的二十大精神", n=2, hours="4")
    app = live_server.app
    app.config["TOTP_REQUIRED_ROLES"] = []  # this test is about the statistics, not the second factor
    with app.app_context():  # statements carry the live server's BASE_URL, as in production
        for who in (users.member, users.secretary):
            courses.enroll(db.session.merge(who), db.session.merge(course))
        db.session.commit()

    login(page, users.org_admin)
    page.goto("/stats/")
    page.wait_for_url(f"**/stats/units/{org.a.id}**")
    assert _rate(page, org.a1.id) == "0.0%"
    page.wait_for_selector("#chart-completion[data-drawn='1'] canvas")
    assert page.locator("#chart-monthly[data-drawn='1'] canvas").count() == 1

    with app.app_context():  # the member completes the course
        member = db.session.merge(users.member)
        c = db.session.merge(course)
        for lesson in c.lessons:
            courses.update_progress(member, lesson, add_seconds=900, complete=True)
        db.session.commit()
    page.reload()
    assert _rate(page, org.a1.id) == "50.0%"

    # committee → branch → member → the statements behind the credit hours
    page.click(f"tr[data-row='{org.a1.id}'] a")
    page.wait_for_url(f"**/stats/units/{org.a1.id}**")
    assert _rate(page, users.member.id) == "100.0%"
    page.click(f"tr[data-row='{users.member.id}'] a")
    page.wait_for_url(f"**/stats/people/{users.member.id}**")
    assert page.locator("[data-testid=person-hours]").inner_text().strip() == str(Decimal("4").normalize())
    page.click("[data-testid=statements-link]")
    page.wait_for_url(f"**/records/people/{users.member.id}?activity=**")
    body = page.locator("main").inner_text()
    assert "学习贯彻党的二十大精神" in body and "完成" in body

    # back on the committee page: the ledger download
    page.goto(f"/stats/units/{org.a.id}")
    with page.expect_download() as info:
        page.click("[data-testid=ledger-export]")
    download = info.value
    assert download.suggested_filename.startswith(f"学时台账_{org.a.name}_") and download.suggested_filename.endswith(".xlsx")
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    names = [r[1] for r in list(wb["按党员"].iter_rows(values_only=True))[3:-1]]
    assert users.member.name in names and users.member_b.name not in names


@pytest.mark.parametrize("page", [{"width": 390, "height": 844}], indirect=True)
def test_dashboard_fits_a_phone(page, live_server, users, org):
    live_server.app.config["TOTP_REQUIRED_ROLES"] = []
    login(page, users.secretary)
    page.goto(f"/stats/units/{org.a1.id}")
    page.wait_for_selector("#chart-distribution[data-drawn='1'] canvas")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1
