"""Teaching pages: who may create and edit courses, covers, chapters, lessons, publishing, audit rows."""
from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select

from lms.audit.models import AuditLog
from lms.courses.models import Chapter, Course, Lesson

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _actions(db):
    return [a.action for a in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]


def _course_form(**over):
    data = {"title": "新时代党的建设", "summary": "专题课程", "category": "theory", "audience": "全体党员",
            "credit_hours": "3", "open_enrolment": "y", "owner_unit_id": "0"}
    data.update(over)
    return data


def test_member_cannot_reach_teaching_pages(client, users, login_as, make_course):
    course = make_course("别人的课程")
    login_as(client, users.member)
    assert client.get("/teach").status_code == 403
    assert client.get("/teach/courses/new").status_code == 403
    assert client.get(f"/teach/courses/{course.id}").status_code == 403
    assert client.post(f"/teach/courses/{course.id}/publish").status_code == 403


def test_teacher_creates_a_course_with_a_cover_and_is_its_teacher(app, client, db, users, login_as):
    login_as(client, users.teacher)
    data = _course_form(cover=(io.BytesIO(PNG), "封面.png"))
    resp = client.post("/teach/courses/new", data=data, content_type="multipart/form-data")
    assert resp.status_code == 302
    course = db.session.scalar(select(Course))
    assert course.title == "新时代党的建设" and course.status == "draft"
    assert [t.id for t in course.teachers] == [users.teacher.id]
    assert course.cover_path.startswith("courses/covers/") and "封面" not in course.cover_path
    assert "course.create" in _actions(db)
    cover = client.get(f"/courses/{course.id}/cover")
    assert cover.status_code == 200 and cover.mimetype == "image/png" and cover.data == PNG
    cover.close()
    old = Path(app.config["MEDIA_ROOT"]) / course.cover_path
    resp = client.post(f"/teach/courses/{course.id}/edit", content_type="multipart/form-data",
                       data=_course_form(teachers=str(users.teacher.id), cover=(io.BytesIO(PNG), "新封面.png")))
    assert resp.status_code == 302
    db.session.refresh(course)
    assert not old.exists() and (Path(app.config["MEDIA_ROOT"]) / course.cover_path).is_file()
    # a draft's cover is as private as the draft
    login_as(client, users.member)
    assert client.get(f"/courses/{course.id}/cover").status_code == 403


def test_cover_is_checked_by_its_bytes_and_errors_sit_beside_the_field(client, db, users, login_as):
    login_as(client, users.teacher)
    data = _course_form(cover=(io.BytesIO(b"<svg onload=alert(1)>"), "cover.png"))
    resp = client.post("/teach/courses/new", data=data, content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "封面图片只支持 JPG、PNG 或 WebP 格式" in page
    assert 'value="新时代党的建设"' in page  # nothing typed is lost
    assert db.session.scalar(select(Course)) is None
    resp = client.post("/teach/courses/new", data=_course_form(title="", credit_hours="-1"))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "请填写课程名称" in page and "学时须在 0 到 200 之间" in page


def test_teacher_of_another_course_cannot_edit(client, users, login_as, make_user, make_course, org):
    other_teacher = make_user("另一位老师", org.b1, roles=["teacher"])
    course = make_course("陈老师的课", teachers=[users.teacher])
    login_as(client, other_teacher)
    assert client.get(f"/teach/courses/{course.id}/edit").status_code == 403
    assert client.post(f"/teach/courses/{course.id}/edit", data=_course_form()).status_code == 403
    assert client.post(f"/teach/courses/{course.id}/chapters", data={"title": "x"}).status_code == 403
    assert client.get(f"/teach/lessons/{course.lessons[0].id}/edit").status_code == 403
    assert client.post(f"/teach/lessons/{course.lessons[0].id}/delete").status_code == 403
    assert client.get(f"/article/lessons/{course.lessons[0].id}/edit").status_code == 403
    login_as(client, users.teacher)
    assert client.get(f"/teach/courses/{course.id}/edit").status_code == 200


def test_org_admin_manages_courses_of_their_subtree_only(client, users, login_as, make_course, org):
    mine = make_course("计算机学院课程", owner=org.a1)
    theirs = make_course("文学院课程", owner=org.b1)
    login_as(client, users.org_admin)
    assert client.get(f"/teach/courses/{mine.id}").status_code == 200
    assert client.get(f"/teach/courses/{theirs.id}").status_code == 403
    listing = client.get("/teach").get_data(as_text=True)
    assert "计算机学院课程" in listing and "文学院课程" not in listing
    # nor can they move a course into a unit outside their subtree
    resp = client.post(f"/teach/courses/{mine.id}/edit", data=_course_form(owner_unit_id=str(org.b1.id)))
    assert resp.status_code == 400


def test_chapters_and_lessons_are_managed_and_audited(client, db, users, login_as, make_course):
    course = make_course("结构课程", lessons=0, status="draft", teachers=[users.teacher])
    login_as(client, users.teacher)
    client.post(f"/teach/courses/{course.id}/chapters", data={"title": "第二章"})
    chapters = db.session.scalars(select(Chapter).where(Chapter.course_id == course.id)
                                  .order_by(Chapter.position)).all()
    assert [c.title for c in chapters] == ["第一章", "第二章"]
    client.post(f"/teach/chapters/{chapters[1].id}/move", data={"direction": "up"})
    db.session.expire_all()
    assert [c.title for c in sorted(course.chapters, key=lambda c: c.position)] == ["第二章", "第一章"]
    client.post(f"/teach/chapters/{chapters[1].id}/rename", data={"title": "第二章 改名"})
    assert db.session.get(Chapter, chapters[1].id).title == "第二章 改名"

    resp = client.post(f"/teach/courses/{course.id}/lessons",
                       data={"title": "阅读材料", "type": "article", "chapter_id": str(chapters[0].id),
                             "required": "y"})
    lesson = db.session.scalar(select(Lesson).where(Lesson.title == "阅读材料"))
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/article/lessons/{lesson.id}/edit")
    bad = client.post(f"/teach/courses/{course.id}/lessons", data={"title": "", "type": "nope", "chapter_id": "0"})
    assert bad.status_code == 400 and "请填写课时名称" in bad.get_data(as_text=True)

    client.post(f"/teach/lessons/{lesson.id}/edit",
                data={"title": "阅读材料（修订）", "chapter_id": str(chapters[1].id), "position": "1",
                      "published": "y"})
    db.session.expire_all()
    lesson = db.session.get(Lesson, lesson.id)
    assert lesson.title == "阅读材料（修订）" and lesson.chapter_id == chapters[1].id and lesson.required is False

    confirm = client.get(f"/teach/lessons/{lesson.id}/delete").get_data(as_text=True)
    assert "无法恢复" in confirm and lesson.title in confirm
    client.post(f"/teach/chapters/{chapters[1].id}/delete")
    assert db.session.get(Lesson, lesson.id).chapter_id is None  # lessons survive their chapter
    client.post(f"/teach/lessons/{lesson.id}/delete")
    assert db.session.get(Lesson, lesson.id) is None
    acts = _actions(db)
    for action in ("chapter.create", "chapter.update", "lesson.create", "lesson.update", "chapter.delete",
                   "lesson.delete"):
        assert action in acts


def test_publish_needs_a_published_lesson(client, db, users, login_as, make_course):
    course = make_course("空课程", lessons=0, status="draft", teachers=[users.teacher])
    login_as(client, users.teacher)
    resp = client.post(f"/teach/courses/{course.id}/publish", follow_redirects=True)
    assert "至少要有一个已发布且可用的课时" in resp.get_data(as_text=True)
    assert db.session.get(Course, course.id).status == "draft"
    client.post(f"/teach/courses/{course.id}/lessons",
                data={"title": "第一课", "type": "article", "chapter_id": "0", "required": "y"})
    client.post(f"/teach/courses/{course.id}/publish")
    db.session.expire_all()
    assert db.session.get(Course, course.id).status == "published"
    client.post(f"/teach/courses/{course.id}/unpublish")
    db.session.expire_all()
    assert db.session.get(Course, course.id).status == "draft"
    acts = _actions(db)
    assert "course.publish" in acts and "course.unpublish" in acts
