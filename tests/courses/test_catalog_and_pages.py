"""Catalog, course page, lesson page, enrolment and 我的学习, as a member sees them."""
from __future__ import annotations

import re

from sqlalchemy import select

from lms.courses.models import Enrollment


def test_catalog_search_filter_and_paging(app, client, users, login_as, make_course):
    app.config["COURSES_PER_PAGE"] = 3
    make_course("党章专题学习", summary="学习党章", category="rules")
    make_course("形势与政策（秋季）", summary="国际形势", category="policy")
    for i in range(4):
        make_course(f"党史讲座{i}", summary="百年党史", category="history")
    make_course("草稿课程", status="draft", category="history")
    login_as(client, users.member)

    page = client.get("/courses").get_data(as_text=True)
    assert "共 6 门课程" in page and "草稿课程" not in page
    assert "第 1 / 2 页" in page

    page2 = client.get("/courses?page=2").get_data(as_text=True)
    assert len(re.findall(r'class="card course-card"', page2)) == 3

    found = client.get("/courses?q=国际").get_data(as_text=True)
    assert "形势与政策（秋季）" in found and "党章专题学习" not in found

    hist = client.get("/courses?category=history").get_data(as_text=True)
    assert "共 4 门课程" in hist and "党章专题学习" not in hist
    assert "2 学时" in hist and "2 个课时" in hist

    none = client.get("/courses?q=%25").get_data(as_text=True)  # a literal % matches nothing
    assert "没有找到符合条件的课程" in none
    assert client.get("/courses?page=99&category=nope").status_code == 200


def test_draft_course_is_invisible_to_members_but_not_to_its_teacher(client, users, login_as, make_course):
    course = make_course("备课中", status="draft", teachers=[users.teacher])
    lesson = course.lessons[0]
    login_as(client, users.member)
    assert client.get(f"/courses/{course.id}").status_code == 403
    assert client.get(f"/courses/{course.id}/lessons/{lesson.id}").status_code == 403
    login_as(client, users.teacher)
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "备课中" in page and "草稿" in page


def test_member_enrols_and_sees_progress_and_my_learning(client, db, users, login_as, make_course):
    course = make_course("党的二十大精神学习", teachers=[users.teacher])
    login_as(client, users.member)
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "选课学习" in page and "陈老师" in page

    resp = client.post(f"/courses/{course.id}/enroll")
    assert resp.status_code == 302 and f"/lessons/{course.lessons[0].id}" in resp.headers["Location"]
    assert db.session.scalar(select(Enrollment).where(Enrollment.user_id == users.member.id)).source == "self"

    from lms.courses.services import update_progress

    update_progress(users.member, course.lessons[0], complete=True)
    db.session.commit()
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "已完成 50%" in page and "继续学习" in page
    my = client.get("/my-learning").get_data(as_text=True)
    assert "党的二十大精神学习" in my and "已学 50%" in my

    update_progress(users.member, course.lessons[1], complete=True)
    db.session.commit()
    my = client.get("/my-learning").get_data(as_text=True)
    assert "已完成" in my and "完成时间" in my


def test_assigned_courses_are_listed_as_required(client, db, users, login_as, make_course):
    from lms.courses.services import enroll

    a = make_course("必修：党纪学习")
    b = make_course("选修：诗词里的党史")
    enroll(users.member, a, source="assigned")
    enroll(users.member, b, source="self")
    db.session.commit()
    login_as(client, users.member)
    my = client.get("/my-learning").get_data(as_text=True)
    assert my.index("必修课程") < my.index("必修：党纪学习") < my.index("选修课程") < my.index("选修：诗词里的党史")


def test_closed_course_cannot_be_self_enrolled(client, db, users, login_as, make_course):
    course = make_course("组织安排课程", open_enrolment=False)
    login_as(client, users.member)
    assert "不开放自主选课" in client.get(f"/courses/{course.id}").get_data(as_text=True)
    client.post(f"/courses/{course.id}/enroll")
    resp = client.get(f"/courses/{course.id}/lessons/{course.lessons[0].id}")
    assert resp.status_code == 302
    assert db.session.scalar(select(Enrollment)) is None


def test_first_open_of_a_lesson_enrols_and_shows_navigation(client, db, users, login_as, make_course):
    course = make_course("三课时课程", lessons=3)
    first, second, third = course.lessons
    login_as(client, users.member)
    page = client.get(f"/courses/{course.id}/lessons/{second.id}").get_data(as_text=True)
    assert db.session.scalar(select(Enrollment).where(Enrollment.user_id == users.member.id)) is not None
    assert "上一课时" in page and first.title in page and "下一课时" in page and third.title in page
    assert "课程中心" in page and "第一章" in page  # breadcrumbs
    last = client.get(f"/courses/{course.id}/lessons/{third.id}").get_data(as_text=True)
    assert "返回课程目录" in last and "下一课时" not in last
    assert client.get(f"/courses/{course.id + 1}/lessons/{first.id}").status_code == 404


def test_lesson_of_a_disabled_plugin_shows_a_notice_and_does_not_count(app, client, db, users, login_as,
                                                                       make_course):
    from lms.courses.models import Lesson
    from lms.courses.services import counted_lessons, update_progress

    course = make_course("混合课程", lessons=1)
    video = Lesson(course_id=course.id, chapter_id=course.chapters[0].id, title="视频课", type="video", position=9)
    db.session.add(video)
    db.session.commit()
    assert [ls.id for ls in counted_lessons(course)] == [course.lessons[0].id]
    login_as(client, users.member)
    page = client.get(f"/courses/{course.id}/lessons/{video.id}").get_data(as_text=True)
    assert "该课时暂时无法学习" in page and "不计入课程完成进度" in page
    update_progress(users.member, course.lessons[0], complete=True)
    db.session.commit()
    enr = db.session.scalar(select(Enrollment))
    assert enr.completed_at is not None and enr.progress == 1.0


def test_template_slots_are_rendered(app, client, users, login_as, make_course):
    from markupsafe import Markup

    from lms.plugins import hookimpl

    class Slots:
        @hookimpl
        def lms_tpl_lesson_after(self, lesson, user):
            return Markup(f"<div id='after-slot'>讨论区 {lesson.id}</div>")

        @hookimpl
        def lms_tpl_course_sidebar(self, course, user):
            return Markup("<div id='side-slot'>课程公告</div>")

    app.extensions["lms_plugins"].pm.register(Slots(), name="test-slots")
    course = make_course("有讨论的课程", lessons=1)
    login_as(client, users.member)
    assert "id='side-slot'" in client.get(f"/courses/{course.id}").get_data(as_text=True)
    lesson_page = client.get(f"/courses/{course.id}/lessons/{course.lessons[0].id}").get_data(as_text=True)
    assert f"讨论区 {course.lessons[0].id}" in lesson_page


def test_nav_and_dashboard_widgets(client, db, users, login_as, make_course):
    from lms.courses.services import enroll

    course = make_course("首页可见的课程")
    enroll(users.member, course)
    db.session.commit()
    login_as(client, users.member)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/courses"' in home and 'href="/my-learning"' in home
    assert "学习中的课程" in home and "首页可见的课程" in home
    assert "我的学时" in home and "/ 32 学时" in home
