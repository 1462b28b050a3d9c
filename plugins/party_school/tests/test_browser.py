"""In a real browser: an organization admin assigns a course; a member sees it under 必修 with its deadline,
reads it to the end and sees it completed."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from lms.testing import TEST_PASSWORD

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def login(page, user):
    page.context.clear_cookies()
    page.goto("/login")
    page.fill("input[name=login_id]", user.login_id)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def test_admin_assigns_and_member_completes_the_required_course(page, live_server, db, users, org, courses):
    from plugins.article import services as article_services

    live_server.app.config["TOTP_REQUIRED_ROLES"] = []  # this test is about assignments, not the second factor
    live_server.app.config["ARTICLE_HEARTBEAT_SECONDS"] = 5
    lesson = courses.a.lessons[0]
    article_services.content_for(lesson).required_seconds = 3
    db.session.commit()
    due = date.today() + timedelta(days=30)

    login(page, users.org_admin)
    page.goto("/party-school/admin/assignments/new")
    page.fill("input[name=title]", "2026年度党员集中学习 — 32学时")
    page.select_option("select[name=org_unit_id]", str(org.a.id))
    page.select_option("select[name=courses]", [str(courses.a.id)])
    page.fill("input[name=starts_on]", date.today().isoformat())
    page.fill("input[name=due_on]", due.isoformat())
    page.click("main form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("学习任务已布置")
    expect(page.locator("main")).to_contain_text("党章党规专题")

    login(page, users.member)
    page.goto("/party-school/")
    required = page.locator("#required")
    expect(required).to_contain_text("党章党规专题")
    expect(required).to_contain_text(due.isoformat())
    expect(page.locator("#elective")).not_to_contain_text("党章党规专题")
    required.get_by_role("link", name="去学习").click()
    page.goto(f"/courses/{courses.a.id}/lessons/{lesson.id}")
    page.locator("[data-reading-end]").scroll_into_view_if_needed()
    expect(page.locator("[data-reading-status]")).to_contain_text("已完成", timeout=20_000)

    page.goto("/party-school/")
    expect(page.locator("#required")).to_contain_text("已完成")
    expect(page.locator("#required")).to_contain_text("结业证书")


def test_member_reads_a_pushed_material_to_the_end(page, live_server, db, users, org):
    """The shared reading tracker (lms/static/js/reading.js) on a pushed material: time while visible, the end
    marker, then the page says the reading counted."""
    from plugins.party_school import services

    live_server.app.config["TOTP_REQUIRED_ROLES"] = []
    live_server.app.config["PARTY_SCHOOL_HEARTBEAT_SECONDS"] = 3
    with live_server.app.test_request_context():
        m = services.create_material(users.org_admin, title="学习资料：党章总纲", unit=org.a,
                                     body="中国共产党是中国工人阶级的先锋队。\n\n" * 60)
        m.required_seconds = 3
        db.session.commit()
        material_id = m.id

    login(page, users.member)
    page.goto(f"/party-school/materials/{material_id}")
    expect(page.locator("[data-reading-status]")).to_have_text("")
    page.locator("[data-reading-end]").scroll_into_view_if_needed()
    expect(page.locator("[data-reading-status]")).to_contain_text("已读完，学时已记入“我的学时”", timeout=20_000)
    page.goto("/party-school/materials")
    expect(page.locator("main")).to_contain_text("已读完")
