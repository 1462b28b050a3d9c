"""Review before publishing (with audit), the teacher's editor, and the 思政微课堂 area pages."""
from __future__ import annotations

from sqlalchemy import select

from lms.audit.models import AuditLog
from plugins.microlecture.models import Video

from .conftest import publish_fake


def test_reviewer_approves_and_members_can_watch(client, login_as, users, lecture, db):
    publish_fake(lecture, live=False)
    login_as(client, users.reviewer)
    page = client.get("/microlecture/review")
    assert page.status_code == 200 and "党的二十大精神解读" in page.get_data(as_text=True)
    assert client.get(f"/microlecture/review/{lecture.id}").status_code == 200
    r = client.post(f"/microlecture/review/{lecture.id}", data={"decision": "approve", "note": "内容准确"})
    assert r.status_code == 302
    v = db.session.get(Video, lecture.id)
    db.session.refresh(v)
    assert v.status == "published" and v.published_hls_key == v.hls_key and v.reviewed_by_id == users.reviewer.id
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "microlecture.review.approve"))
    assert row.actor_id == users.reviewer.id and row.target_id == str(lecture.id)
    login_as(client, users.member)
    assert client.get(f"/microlecture/{lecture.id}").status_code == 200


def test_return_needs_a_reason_and_the_teacher_sees_it(client, login_as, users, lecture, db):
    publish_fake(lecture, live=False)
    login_as(client, users.reviewer)
    r = client.post(f"/microlecture/review/{lecture.id}", data={"decision": "return", "note": "  "})
    assert r.status_code == 200 and "退回时请写明原因" in r.get_data(as_text=True)
    assert db.session.get(Video, lecture.id).status == "awaiting_review"
    client.post(f"/microlecture/review/{lecture.id}", data={"decision": "return", "note": "第3分钟口误，请重录"})
    db.session.expire_all()
    assert db.session.get(Video, lecture.id).status == "returned"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "microlecture.review.return")) is not None
    login_as(client, users.teacher)
    html = client.get(f"/microlecture/lessons/{lecture.lesson_id}/edit").get_data(as_text=True)
    assert "已退回" in html and "第3分钟口误，请重录" in html
    mine = client.get("/microlecture/mine").get_data(as_text=True)
    assert "已退回" in mine
    login_as(client, users.member)
    assert client.get(f"/microlecture/{lecture.id}").status_code == 403


def test_reviewer_of_another_unit_and_members_cannot_review(client, login_as, users, org, lecture, make_user):
    publish_fake(lecture, live=False)
    other = make_user("外院审核员", org.b1, roles=[("reviewer", org.b)])
    for who in (other, users.member, users.teacher):
        login_as(client, who)
        assert client.post(f"/microlecture/review/{lecture.id}", data={"decision": "approve"}).status_code == 403
    login_as(client, other)
    assert "党的二十大精神解读" not in client.get("/microlecture/review").get_data(as_text=True)


def test_area_lists_by_topic_newest_and_most_watched(client, login_as, users, course, db):
    from plugins.microlecture import services

    a = services.create_lecture(course, "百年党史中的青年", "history", "", users.teacher)
    b = services.create_lecture(course, "当前经济形势", "policy", "", users.teacher)
    c = services.create_lecture(course, "待审核的微课", "policy", "", users.teacher)
    db.session.commit()
    publish_fake(a, key_suffix="1-1")
    publish_fake(b, key_suffix="1-2")
    publish_fake(c, key_suffix="1-3", live=False)
    a.view_count, b.view_count = 50, 3
    db.session.commit()
    login_as(client, users.member)
    html = client.get("/microlecture/").get_data(as_text=True)
    assert "百年党史中的青年" in html and "当前经济形势" in html and "待审核的微课" not in html
    assert html.index("当前经济形势") < html.index("百年党史中的青年")  # newest first
    popular = client.get("/microlecture/?sort=popular").get_data(as_text=True)
    assert popular.index("百年党史中的青年") < popular.index("当前经济形势")
    policy = client.get("/microlecture/?topic=policy").get_data(as_text=True)
    assert "当前经济形势" in policy and "百年党史中的青年" not in policy
    teacher_page = client.get(f"/microlecture/teachers/{users.teacher.id}")
    assert teacher_page.status_code == 200 and "陈老师" in teacher_page.get_data(as_text=True)
    assert client.get(f"/microlecture/teachers/{users.member.id}").status_code == 404
    lecture_page = client.get(f"/microlecture/{a.id}").get_data(as_text=True)
    assert "data-ml-player" in lecture_page and "hls.min.js" in lecture_page and "<script>" not in lecture_page


def test_lesson_slot_shows_below_the_lecture(app, client, login_as, users, published):
    from markupsafe import Markup

    from lms.plugins import hookimpl

    class Slot:
        @hookimpl
        def lms_tpl_lesson_after(self, lesson, user):
            return Markup(f"<div id='discussion-for-{lesson.id}'>讨论区</div>")

    app.extensions["lms_plugins"].pm.register(Slot(), name="test-slot")
    login_as(client, users.member)
    html = client.get(f"/microlecture/{published.id}").get_data(as_text=True)
    assert f"discussion-for-{published.lesson_id}" in html


def test_teacher_creates_a_lecture_and_sets_watching_rules(client, login_as, users, course, db):
    login_as(client, users.teacher)
    r = client.post("/microlecture/mine", data={"course_id": course.id, "title": "党章学习", "topic": "rules",
                                                "description": "第一讲"})
    assert r.status_code == 302
    v = db.session.scalar(select(Video).order_by(Video.id.desc()))
    assert v.lesson.type == "video" and v.lesson.course_id == course.id and v.status == "empty"
    assert client.get(r.headers["Location"]).status_code == 200
    r = client.post(f"/microlecture/courses/{course.id}/rules",
                    data={"max_speed": "1.5", "presence_minutes": "200", "threshold": "90"})
    assert r.status_code == 200 and "0 到 120" in r.get_data(as_text=True)
    r = client.post(f"/microlecture/courses/{course.id}/rules",
                    data={"max_speed": "1.5", "presence_minutes": "15", "threshold": "90", "pause_hidden": "y"})
    assert r.status_code == 302
    db.session.refresh(course)
    assert course.settings["video"] == {"no_seek": False, "max_speed": 1.5, "pause_hidden": True,
                                        "presence_minutes": 15, "threshold": 0.9}
    login_as(client, users.member)
    assert client.get(f"/microlecture/courses/{course.id}/rules").status_code == 403
    assert client.post("/microlecture/mine", data={"course_id": course.id, "title": "x", "topic": "rules"}
                       ).status_code == 403


def test_video_lesson_renders_inside_the_course_lesson_page(client, login_as, users, published):
    login_as(client, users.member)
    r = client.get(f"/courses/{published.lesson.course_id}/lessons/{published.lesson_id}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "data-ml-player" in html and "master.m3u8" in html


def test_teacher_edits_topic_presenter_and_description(client, login_as, users, lecture, db, make_user, org):
    colleague = make_user("王老师", org.a1, roles=["teacher"])
    lecture.lesson.course.teachers.append(colleague)
    db.session.commit()
    login_as(client, users.teacher)
    r = client.post(f"/microlecture/lessons/{lecture.lesson_id}/edit",
                    data={"details-topic": "history", "details-presenter_id": str(colleague.id),
                          "details-description": "新的简介"})
    assert r.status_code == 302
    db.session.expire_all()
    v = db.session.get(Video, lecture.id)
    assert (v.topic, v.presenter_id, v.description) == ("history", colleague.id, "新的简介")
    # Someone who does not teach the course cannot be named presenter.
    outsider = make_user("外人", org.b1, roles=["teacher"])
    r = client.post(f"/microlecture/lessons/{lecture.lesson_id}/edit",
                    data={"details-topic": "history", "details-presenter_id": str(outsider.id)})
    assert r.status_code == 200
    db.session.expire_all()
    assert db.session.get(Video, lecture.id).presenter_id == colleague.id
