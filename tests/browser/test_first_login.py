"""First journey: a new member logs in, must change the password, then finds a course and its lessons."""
from __future__ import annotations

from datetime import datetime

import pytest

from lms.testing import TEST_PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Hongqi#Piaopiao2026"


@pytest.fixture
def published_course(app, org, make_user):
    from lms.courses.models import Chapter, Course, Lesson
    from lms.extensions import db

    teacher = make_user("陈老师", org.a1, roles=["teacher"], login_id="T90001")
    course = Course(title="党史学习教育专题", summary="从建党到新时代的百年奋斗历程。", category="history",
                    status="published", published_at=datetime(2026, 9, 1), owner_unit_id=org.root.id)
    course.teachers.append(teacher)
    db.session.add(course)
    db.session.flush()
    ch1 = Chapter(course_id=course.id, title="第一章 开天辟地", position=1)
    ch2 = Chapter(course_id=course.id, title="第二章 改天换地", position=2)
    db.session.add_all([ch1, ch2])
    db.session.flush()
    for pos, (chapter, title) in enumerate([(ch1, "中国共产党的创建"), (ch1, "伟大建党精神"),
                                             (ch2, "新中国的成立")], start=1):
        db.session.add(Lesson(course_id=course.id, chapter_id=chapter.id, title=title, type="article",
                              position=pos, duration_seconds=600))
    draft = Course(title="尚未发布的课程", category="history", status="draft")
    db.session.add(draft)
    db.session.commit()
    return course


def test_new_member_changes_password_then_opens_a_course(page, org, make_user, published_course):
    make_user("王小雨", org.a2, login_id="2025040101", must_change=True)

    # 1. log in with the initial password: the only way on is changing it
    page.goto("/login")
    page.fill("input[name=login_id]", "2025040101")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/account/password**")
    assert "首次登录" in page.inner_text("main")
    page.goto("/courses")
    page.wait_for_url("**/account/password**")  # no detour around the change

    # 2. a new password that breaks the policy is refused beside the field
    page.fill("input[name=current_password]", TEST_PASSWORD)
    page.fill("input[name=new_password]", "short")
    page.fill("input[name=confirm]", "short")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".field.has-error .error").count() >= 1
    assert "/account/password" in page.url

    # 3. a good one is accepted
    page.fill("input[name=current_password]", TEST_PASSWORD)
    page.fill("input[name=new_password]", NEW_PASSWORD)
    page.fill("input[name=confirm]", NEW_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "密码已修改" in page.inner_text("main")
    assert "/account/password" not in page.url

    # 4. the catalog, from the navigation, lists the published course and not the draft
    page.click("nav.mainnav a[href='/courses']")
    page.wait_for_url("**/courses")
    catalog = page.inner_text("main")
    assert "党史学习教育专题" in catalog
    assert "尚未发布的课程" not in catalog

    # 5. the course page shows its chapters and lessons in order
    page.click("main a:has-text('党史学习教育专题')")
    page.wait_for_url(f"**/courses/{published_course.id}")
    outline = page.inner_text("main")
    for title in ("第一章 开天辟地", "中国共产党的创建", "伟大建党精神", "第二章 改天换地", "新中国的成立"):
        assert title in outline
    assert outline.index("中国共产党的创建") < outline.index("伟大建党精神") < outline.index("新中国的成立")

    # 6. the new password is the one that works from now on
    page.click("header form button:has-text('退出')")
    page.wait_for_url("**/login**")
    page.fill("input[name=login_id]", "2025040101")
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "王小雨" in page.inner_text("header")
    assert "/account/password" not in page.url
