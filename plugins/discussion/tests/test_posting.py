"""Posting: threads and replies, Markdown, mentions, quotes, likes, edits, paging, search, unread, events."""
from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from lms.extensions import db
from lms.notifications.models import Notification
from lms.plugins import hookimpl
from plugins.discussion import services
from plugins.discussion.models import DiscussionLike, DiscussionPost, DiscussionRevision, DiscussionThread


def _notes(user):
    return db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                              .order_by(Notification.id)).all()


def test_member_starts_thread_on_a_lesson_and_it_shows_there(app, users, courses, clients):
    resp = clients.member.post(f"/discussion/courses/{courses.a.id}/new?lesson={courses.lesson.id}",
                               data={"title": "新时代的历史方位怎么理解", "body": "## 我的看法\n\n**关键**在于……"})
    assert resp.status_code == 302
    t = db.session.scalar(select(DiscussionThread))
    assert t.lesson_id == courses.lesson.id and t.status == "published"
    html = clients.member_b.get(resp.headers["Location"]).get_data(as_text=True)
    assert "<h4>我的看法</h4>" in html and "<strong>关键</strong>" in html
    listing = clients.member_b.get(f"/discussion/courses/{courses.a.id}?lesson={courses.lesson.id}")
    assert "新时代的历史方位怎么理解" in listing.get_data(as_text=True)


def test_lesson_slot_and_course_sidebar_hooks(app, users, courses):
    from flask_login import login_user

    from lms.plugins import hook

    services.create_thread(users.member, courses.lesson, title="课时里的话题", body="x")
    services.create_thread(users.member, courses.a, title="课程综合话题", body="y")
    db.session.commit()
    with app.test_request_context("/"):
        login_user(users.member_b)
        slot = "".join(str(h) for h in hook().lms_tpl_lesson_after(lesson=courses.lesson, user=users.member_b))
        assert "课时里的话题" in slot and "课程综合话题" not in slot
        assert f'action="/discussion/courses/{courses.a.id}/new?lesson={courses.lesson.id}"' in slot
        side = "".join(str(h) for h in hook().lms_tpl_course_sidebar(course=courses.a, user=users.member_b))
        assert "2 个话题" in side and "待审核" not in side
        login_user(users.teacher)
        side = "".join(str(h) for h in hook().lms_tpl_course_sidebar(course=courses.a, user=users.teacher))
        assert "待审核 0 条" in side
        # Nothing at all for a lesson the person may not open.
        assert "".join(str(h) for h in hook().lms_tpl_lesson_after(lesson=courses.hidden_lesson,
                                                                   user=users.member_b)) == ""


def test_validation_errors_sit_beside_fields_and_keep_the_text(app, users, courses, clients):
    resp = clients.member.post(f"/discussion/courses/{courses.a.id}/new", data={"title": "", "body": "我写了很长的一段话"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "请填写标题" in html and "我写了很长的一段话" in html
    resp = clients.member.post(f"/discussion/courses/{courses.a.id}/new", data={"title": "x" * 101, "body": "内容"})
    assert resp.status_code == 400 and "标题不能超过 100 字" in resp.get_data(as_text=True)
    assert db.session.query(DiscussionThread).count() == 0


def test_mentions_notify_people_who_can_view(app, users, courses, clients):
    t = services.create_thread(users.member, courses.a, title="请教", body="正文")
    db.session.commit()
    clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": "@陈老师 请您解答，@赵同学你也看看"})
    reply = db.session.scalar(select(DiscussionPost).where(DiscussionPost.is_first.is_(False)))
    assert [name for _id, name in reply.mentions] == ["陈老师", "赵同学"]
    assert '<span class="mention">@陈老师</span>' in reply.body_html
    assert [n.kind for n in _notes(users.teacher)] == ["mention"]
    assert "提到了你" in _notes(users.member_a2)[0].title
    assert [n.kind for n in _notes(users.member)] == ["reply"]  # the thread's author: one reply notice
    assert _notes(users.member_b) == []  # never notified about your own post
    # The notification leads to the post.
    resp = clients.teacher.post(f"/notifications/{_notes(users.teacher)[0].id}/open")
    assert resp.headers["Location"].endswith(f"/discussion/posts/{reply.id}")


def test_no_notification_for_someone_who_lost_access(app, users, courses):
    t = services.create_thread(users.teacher, courses.draft, title="草稿课程里的讨论", body="内容")
    db.session.commit()
    # member_b cannot view the draft course, so a mention of them is neither resolved nor delivered.
    services.create_reply(users.teacher, t, body="@王同学 请看")
    users.member.is_active_account = False
    services.create_reply(users.teacher, services.create_thread(users.member_b, courses.a, title="t", body="b"),
                          body="@李党员 看这里")
    db.session.commit()
    assert _notes(users.member_b) and all("草稿" not in n.title for n in _notes(users.member_b))
    assert _notes(users.member) == []


def test_ambiguous_name_mentions_the_person_in_the_course(app, users, courses, org, make_user):
    from lms.courses.services import enroll

    twin_a = make_user("张伟", org.a1)
    make_user("张伟", org.b1)
    enroll(twin_a, courses.a)
    t = services.create_thread(users.member, courses.a, title="t", body="@张伟 你好")
    db.session.commit()
    assert services.first_post(t).mentions == [[twin_a.id, "张伟"]]


def test_quote_reply_shows_the_quoted_text_and_notifies(app, users, courses, clients):
    t = services.create_thread(users.member, courses.a, title="讨论", body="正文")
    first_reply = services.create_reply(users.member_a2, t, body="值得引用的观点")
    db.session.commit()
    html = clients.member_b.get(f"/discussion/threads/{t.id}?quote={first_reply.id}").get_data(as_text=True)
    assert f'value="{first_reply.id}"' in html
    clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": "同意", "quote_post_id": str(first_reply.id)})
    html = clients.member.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    assert "引用 赵同学 的发言" in html
    assert any("引用了你" in n.title for n in _notes(users.member_a2))


def test_likes_toggle_and_json(app, users, courses, clients):
    t = services.create_thread(users.member, courses.a, title="讨论", body="正文")
    db.session.commit()
    post = services.first_post(t)
    resp = clients.member_b.post(f"/discussion/posts/{post.id}/like", headers={"Accept": "application/json"})
    assert resp.get_json() == {"liked": True, "count": 1}
    clients.member_a2.post(f"/discussion/posts/{post.id}/like")
    resp = clients.member_b.post(f"/discussion/posts/{post.id}/like", headers={"Accept": "application/json"})
    assert resp.get_json() == {"liked": False, "count": 1}
    # One's own post cannot be liked.
    resp = clients.member.post(f"/discussion/posts/{post.id}/like", headers={"Accept": "application/json"})
    assert resp.status_code == 400 and resp.get_json()["error"]
    assert db.session.query(DiscussionLike).count() == 1


def test_edit_keeps_history_and_rechecks_words(app, users, courses, clients, words):
    t = services.create_thread(users.member, courses.a, title="原标题", body="第一版")
    db.session.commit()
    post = services.first_post(t)
    clients.member.post(f"/discussion/posts/{post.id}/edit", data={"title": "新标题", "body": "第二版"})
    db.session.expire_all()
    assert db.session.get(DiscussionThread, t.id).title == "新标题"
    history = clients.member.get(f"/discussion/posts/{post.id}/history").get_data(as_text=True)
    assert "第一版" in history and "原标题" in history and "第二版" in history
    assert clients.member_b.get(f"/discussion/posts/{post.id}/history").status_code == 403
    assert clients.teacher.get(f"/discussion/posts/{post.id}/history").status_code == 200
    # Editing a listed word in sends the post back to review.
    resp = clients.member.post(f"/discussion/posts/{post.id}/edit", data={"title": "新标题", "body": "一起 赌 博"},
                               follow_redirects=True)
    assert "需要审核" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DiscussionPost, post.id).status == "pending"
    assert db.session.query(DiscussionRevision).count() == 2
    # Others cannot edit.
    assert clients.member_b.post(f"/discussion/posts/{post.id}/edit", data={"body": "篡改"}).status_code == 403


def test_replies_are_paged(app, users, courses, clients):
    app.config["DISCUSSION_RATE_LIMITS"] = [(1000, 60)]
    t = services.create_thread(users.member, courses.a, title="长话题", body="正文")
    posts = [services.create_reply(users.member_b, t, body=f"第{i:02d}楼") for i in range(45)]
    db.session.commit()
    page1 = clients.member.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    assert "第00楼" in page1 and "第19楼" in page1 and "第20楼" not in page1 and "45 条回复" in page1
    page3 = clients.member.get(f"/discussion/threads/{t.id}?page=3").get_data(as_text=True)
    assert "第44楼" in page3 and "第39楼" not in page3
    resp = clients.member.get(f"/discussion/posts/{posts[30].id}")
    assert resp.headers["Location"].endswith(f"/discussion/threads/{t.id}?page=2#p{posts[30].id}")
    assert clients.member.get(f"/discussion/threads/{t.id}?page=999").status_code == 200


def test_search_and_thread_paging(app, users, courses, clients):
    app.config["DISCUSSION_RATE_LIMITS"] = [(1000, 60)]
    for i in range(25):
        services.create_thread(users.member, courses.a, title=f"话题{i:02d}", body="普通内容")
    services.create_thread(users.member, courses.a, title="关于三会一课", body="组织生活的要求")
    services.create_thread(users.member, courses.a, title="百分号%测试", body="内容")
    db.session.commit()
    listing = clients.member_b.get(f"/discussion/courses/{courses.a.id}").get_data(as_text=True)
    assert "第 1 / 2 页" in listing
    found = clients.member_b.get(f"/discussion/courses/{courses.a.id}?q=组织生活").get_data(as_text=True)
    assert "关于三会一课" in found and "话题01" not in found
    found = clients.member_b.get(f"/discussion/courses/{courses.a.id}?q=%25").get_data(as_text=True)
    assert "百分号%测试" in found and "话题01" not in found
    none = clients.member_b.get(f"/discussion/courses/{courses.a.id}?q=不存在的词").get_data(as_text=True)
    assert "没有找到" in none


def test_unread_marker_on_own_threads(app, users, courses, clients):
    t = services.create_thread(users.member, courses.a, title="我的话题", body="正文")
    other = services.create_thread(users.member_b, courses.a, title="别人的话题", body="正文")
    db.session.commit()
    services.create_reply(users.member_b, t, body="回复一")
    services.create_reply(users.member_a2, other, body="回复二")
    db.session.commit()
    listing = clients.member.get(f"/discussion/courses/{courses.a.id}").get_data(as_text=True)
    assert listing.count("新回复") == 1
    from flask_login import login_user

    from plugins.discussion.hooks import course_sidebar

    with app.test_request_context("/"):
        login_user(users.member)
        assert "我发起的话题有 1 个有新回复" in course_sidebar(courses.a, users.member)
    clients.member.get(f"/discussion/threads/{t.id}")
    assert "新回复" not in clients.member.get(f"/discussion/courses/{courses.a.id}").get_data(as_text=True)
    services.create_reply(users.member_b, t, body="回复三")
    db.session.commit()
    assert "新回复" in clients.member.get(f"/discussion/courses/{courses.a.id}").get_data(as_text=True)


def test_people_who_cannot_view_the_course_cannot_read_or_post(app, users, courses, clients):
    t = services.create_thread(users.teacher, courses.draft, title="草稿课讨论", body="内容")
    db.session.commit()
    assert clients.member.get(f"/discussion/courses/{courses.draft.id}").status_code == 403
    assert clients.member.get(f"/discussion/threads/{t.id}").status_code == 403
    assert clients.member.post(f"/discussion/threads/{t.id}/reply", data={"body": "x"}).status_code == 403
    assert clients.member.post(f"/discussion/courses/{courses.draft.id}/new",
                               data={"title": "t", "body": "b"}).status_code == 403
    assert clients.member.get(f"/discussion/courses/{courses.a.id}?lesson={courses.hidden_lesson.id}").status_code == 403
    assert clients.member.get("/discussion/courses/99999").status_code == 404
    anon = app.test_client()
    assert anon.get(f"/discussion/courses/{courses.a.id}").status_code in (302, 401)


def test_statements_are_recorded_for_comment_and_reply(app, users, courses):
    seen = []

    class Listener:
        @hookimpl
        def lms_event_learning(self, event):
            seen.append(event)

    app.extensions["lms_plugins"].pm.register(Listener(), name="test-listener")
    t = services.create_thread(users.member, courses.lesson, title="话题", body="我的评论")
    services.create_reply(users.member_b, t, body="我的回复")
    db.session.commit()
    assert [e.verb for e in seen] == ["commented", "replied"]
    assert seen[0].object_id.endswith(f"/xapi/activities/lesson/{courses.lesson.id}")
    assert seen[0].result == {"response": "我的评论"} and seen[0].lesson_id == courses.lesson.id
    assert seen[1].object_id.endswith(f"/xapi/activities/discussion-thread/{t.id}")
    assert seen[1].context["contextActivities"]["parent"][0]["id"] == seen[0].object_id
    assert seen[1].user.id == users.member_b.id


def test_rate_limit_refuses_the_flood_without_storing_it(app, users, courses, clients):
    app.config["DISCUSSION_RATE_LIMITS"] = [(5, 60), (8, 3600)]
    t = services.create_thread(users.member, courses.a, title="话题", body="正文")
    db.session.commit()
    with freeze_time(services.utcnow() + timedelta(seconds=1)) as clock:
        for i in range(5):
            assert clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": f"第{i}条"}).status_code == 302
        resp = clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": "刷屏的第六条"})
        html = resp.get_data(as_text=True)
        assert resp.status_code == 429
        assert "发言过于频繁" in html and "刷屏的第六条" in html  # told clearly, the text is kept in the box
        api = clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": "json"},
                                    headers={"Accept": "application/json"})
        assert api.status_code == 429
        # Another person is not affected.
        assert clients.member_a2.post(f"/discussion/threads/{t.id}/reply", data={"body": "别人"}).status_code == 302
        clock.tick(61)
        assert clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": "一分钟后"}).status_code == 302
        for i in range(2):
            clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": f"再来{i}"})
        clock.tick(61)
        resp = clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": "小时上限"})
        assert resp.status_code == 429 and "分" in resp.get_data(as_text=True)
    bodies = db.session.scalars(select(DiscussionPost.body).where(DiscussionPost.author_id == users.member_b.id)).all()
    assert len(bodies) == 8 and "刷屏的第六条" not in bodies and "小时上限" not in bodies


@pytest.mark.parametrize("bad", ["", "   ", "x" * 10001])
def test_bad_bodies_are_refused_without_500(app, users, courses, clients, bad):
    t = services.create_thread(users.member, courses.a, title="话题", body="正文")
    db.session.commit()
    resp = clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": bad})
    assert resp.status_code == 400
    assert db.session.query(DiscussionPost).count() == 1
