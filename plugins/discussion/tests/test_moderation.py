"""Moderation: held posts, the queue, approve / reject / hide / restore, reports, audit, who may moderate."""
from __future__ import annotations

from sqlalchemy import select

from lms.audit.models import AuditLog
from lms.extensions import db
from lms.notifications.models import Notification
from plugins.discussion import services
from plugins.discussion.models import DiscussionPost, DiscussionReport


def _audit(action):
    return db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()


def _notes(user):
    return [n.title for n in db.session.scalars(select(Notification).where(Notification.user_id == user.id))]


def test_post_with_listed_word_is_held_and_author_told(app, users, courses, clients, words):
    resp = clients.member.post(f"/discussion/courses/{courses.a.id}/new",
                               data={"title": "周末活动", "body": "有人一起去 赌.博 吗"}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "已提交管理员审核" in html
    assert "该内容正在等待管理员审核" in html  # the author still sees their own post, marked as waiting
    thread_id = db.session.scalar(select(DiscussionPost.thread_id))
    # Other members neither see it in the list nor can open it.
    listing = clients.member_b.get(f"/discussion/courses/{courses.a.id}").get_data(as_text=True)
    assert "周末活动" not in listing
    assert clients.member_b.get(f"/discussion/threads/{thread_id}").status_code == 403
    # The course's teacher finds it in the queue with the matched word.
    queue = clients.teacher.get("/discussion/moderation").get_data(as_text=True)
    assert "周末活动" in queue and "<code>赌博</code>" in queue


def test_held_reply_keeps_the_thread_up_and_is_not_counted(app, users, courses, clients, words):
    t = services.create_thread(users.member, courses.a, title="学习体会", body="很有收获")
    db.session.commit()
    resp = clients.member_b.post(f"/discussion/threads/{t.id}/reply", data={"body": "教你ｖｐｎ翻墙"},
                                 follow_redirects=True)
    assert "已提交管理员审核" in resp.get_data(as_text=True)
    db.session.refresh(t)
    assert t.reply_count == 0
    assert "ｖｐｎ翻墙" not in clients.member.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    assert _notes(users.member) == []  # no "new reply" notification for a held reply


def test_moderator_approves_held_post_then_everyone_sees_it(app, users, courses, clients, words):
    t = services.create_thread(users.member, courses.a, title="学习体会", body="很有收获")
    db.session.commit()
    held = services.create_reply(users.member_b, t, body="赌博害人，@李党员 你说对吗")
    db.session.commit()
    assert held.status == "pending"
    resp = clients.teacher.post(f"/discussion/posts/{held.id}/moderate", data={"action": "approve"},
                                follow_redirects=True)
    assert "已通过" in resp.get_data(as_text=True)
    db.session.refresh(held)
    assert held.status == "published"
    assert "赌博害人" in clients.member_a2.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    # The author is told, and the thread's author gets the reply/mention notification only now.
    assert any("已通过审核" in n for n in _notes(users.member_b))
    assert any("回复了你的话题" in n for n in _notes(users.member))
    row = _audit("discussion.approve")[0]
    assert row.actor_id == users.teacher.id and row.target_id == str(held.id)
    assert row.details["words"] == ["赌博"]


def test_reject_needs_a_reason_and_the_author_sees_it(app, users, courses, clients, words):
    t = services.create_thread(users.member, courses.a, title="赌 博 推荐", body="内容")
    db.session.commit()
    post = services.first_post(t)
    resp = clients.teacher.post(f"/discussion/posts/{post.id}/moderate", data={"action": "reject", "reason": ""},
                                follow_redirects=True)
    assert "请填写不通过的理由" in resp.get_data(as_text=True)
    assert db.session.get(DiscussionPost, post.id).status == "pending"
    clients.teacher.post(f"/discussion/posts/{post.id}/moderate", data={"action": "reject", "reason": "含有赌博内容"})
    db.session.expire_all()
    assert db.session.get(DiscussionPost, post.id).status == "rejected"
    html = clients.member.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    assert "未通过审核：含有赌博内容" in html
    assert any("未通过审核" in n for n in _notes(users.member))
    assert _audit("discussion.reject")[0].note == "含有赌博内容"


def test_report_then_hide_then_restore(app, users, courses, clients):
    t = services.create_thread(users.member, courses.a, title="讨论", body="正常内容")
    reply = services.create_reply(users.member_b, t, body="阴阳怪气的人身攻击")
    db.session.commit()
    # A report needs a reason.
    resp = clients.member.post(f"/discussion/posts/{reply.id}/report", data={"reason": "", "detail": ""})
    assert resp.status_code == 400 and "请选择举报原因" in resp.get_data(as_text=True)
    resp = clients.member.post(f"/discussion/posts/{reply.id}/report", data={"reason": "abuse", "detail": "辱骂"},
                               follow_redirects=True)
    assert "举报已提交" in resp.get_data(as_text=True)
    # Reporting twice is refused politely.
    resp = clients.member.post(f"/discussion/posts/{reply.id}/report", data={"reason": "abuse"})
    assert "已经举报过" in resp.get_data(as_text=True)
    assert db.session.query(DiscussionReport).count() == 1
    assert any("新的举报" in n for n in _notes(users.teacher))
    queue = clients.teacher.get("/discussion/moderation?tab=reports").get_data(as_text=True)
    assert "阴阳怪气" in queue and "人身攻击、辱骂" in queue
    clients.teacher.post(f"/discussion/posts/{reply.id}/moderate", data={"action": "hide", "reason": "人身攻击"})
    db.session.expire_all()
    assert db.session.get(DiscussionPost, reply.id).status == "hidden"
    assert db.session.scalar(select(DiscussionReport.status)) == "upheld"
    assert "阴阳怪气" not in clients.member.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    own = clients.member_b.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    assert "已被管理员隐藏" in own and "理由：人身攻击" in own
    # Moderators still see it, marked, and can put it back.
    assert "已隐藏" in clients.teacher.get("/discussion/moderation?tab=hidden").get_data(as_text=True)
    clients.teacher.post(f"/discussion/posts/{reply.id}/moderate", data={"action": "restore"})
    db.session.expire_all()
    assert db.session.get(DiscussionPost, reply.id).status == "published"
    assert "阴阳怪气" in clients.member.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    assert [len(_audit(a)) for a in ("discussion.report", "discussion.hide", "discussion.restore")] == [1, 1, 1]


def test_approving_a_reported_post_dismisses_the_reports(app, users, courses, clients):
    t = services.create_thread(users.member, courses.a, title="讨论", body="正常内容")
    reply = services.create_reply(users.member_b, t, body="不同意见")
    db.session.commit()
    services.report_post(users.member, reply, reason="rumour")
    db.session.commit()
    clients.teacher.post(f"/discussion/posts/{reply.id}/moderate", data={"action": "approve"})
    db.session.expire_all()
    assert db.session.scalar(select(DiscussionReport.status)) == "dismissed"
    assert db.session.get(DiscussionPost, reply.id).status == "published"
    assert _audit("discussion.approve")[0].details["reports_dismissed"] == 1


def test_soft_delete_is_visible_to_moderators_and_restorable(app, users, courses, clients):
    t = services.create_thread(users.member, courses.a, title="讨论", body="正文")
    reply = services.create_reply(users.member_b, t, body="要删掉的回复")
    db.session.commit()
    clients.member_b.post(f"/discussion/posts/{reply.id}/delete")
    assert "要删掉的回复" not in clients.member.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    teacher_view = clients.teacher.get(f"/discussion/threads/{t.id}").get_data(as_text=True)
    assert "要删掉的回复" in teacher_view and "已删除" in teacher_view
    assert db.session.get(DiscussionPost, reply.id) is not None  # the row is kept
    clients.teacher.post(f"/discussion/posts/{reply.id}/moderate", data={"action": "restore"})
    assert "要删掉的回复" in clients.member.get(f"/discussion/threads/{t.id}").get_data(as_text=True)


def test_member_cannot_moderate(app, users, courses, clients, words):
    t = services.create_thread(users.member, courses.a, title="讨论", body="赌博")
    db.session.commit()
    post = services.first_post(t)
    for action in ("approve", "reject", "hide", "restore", "official"):
        resp = clients.member_b.post(f"/discussion/posts/{post.id}/moderate", data={"action": action, "reason": "x"})
        assert resp.status_code == 403
    assert clients.member_b.post(f"/discussion/threads/{t.id}/flag", data={"flag": "pinned", "value": "1"}).status_code == 403
    assert clients.member_b.get("/discussion/moderation").status_code == 403
    assert db.session.get(DiscussionPost, post.id).status == "pending"
    assert _audit("discussion.approve") == []


def test_teacher_moderates_only_their_courses(app, users, courses, clients, words):
    mine = services.create_thread(users.member, courses.a, title="A课话题", body="赌博")
    other = services.create_thread(users.member, courses.b, title="B课话题", body="赌博")
    db.session.commit()
    queue = clients.teacher.get("/discussion/moderation").get_data(as_text=True)
    assert "A课话题" in queue and "B课话题" not in queue
    other_post = services.first_post(other)
    resp = clients.teacher.post(f"/discussion/posts/{other_post.id}/moderate", data={"action": "approve"})
    assert resp.status_code == 403
    assert db.session.get(DiscussionPost, other_post.id).status == "pending"
    assert services.first_post(mine).status == "pending"
    # The other course's own teacher can.
    services.approve(courses.other_teacher, other_post)
    db.session.commit()
    assert other_post.status == "published"


def test_org_admin_moderates_courses_of_their_subtree(app, users, courses, clients, words):
    a = services.create_thread(users.member, courses.a, title="A课话题", body="赌博")
    b = services.create_thread(users.member, courses.b, title="B课话题", body="赌博")
    db.session.commit()
    queue = clients.org_admin.get("/discussion/moderation").get_data(as_text=True)
    assert "A课话题" in queue and "B课话题" not in queue
    pa, pb = services.first_post(a), services.first_post(b)
    assert clients.org_admin.post(f"/discussion/posts/{pb.id}/moderate", data={"action": "approve"}).status_code == 403
    clients.org_admin.post(f"/discussion/posts/{pa.id}/moderate", data={"action": "approve"})
    db.session.expire_all()
    assert db.session.get(DiscussionPost, pa.id).status == "published"
    # The admin of the whole tree sees both.
    queue = clients.root_admin.get("/discussion/moderation").get_data(as_text=True)
    assert "B课话题" in queue


def test_moderators_posts_are_not_held(app, users, courses, words):
    t = services.create_thread(users.teacher, courses.a, title="关于赌博危害的说明", body="远离赌博")
    assert t.status == "published"


def test_pin_lock_and_official_answer(app, users, courses, clients):
    t1 = services.create_thread(users.member, courses.a, title="早的话题", body="a")
    services.create_thread(users.member, courses.a, title="晚的话题", body="b")
    answer = services.create_reply(users.teacher, t1, body="标准答案在这里")
    db.session.commit()
    clients.teacher.post(f"/discussion/threads/{t1.id}/flag", data={"flag": "pinned", "value": "1"})
    listing = clients.member.get(f"/discussion/courses/{courses.a.id}").get_data(as_text=True)
    assert listing.index("早的话题") < listing.index("晚的话题")
    clients.teacher.post(f"/discussion/posts/{answer.id}/moderate", data={"action": "official"})
    html = clients.member.get(f"/discussion/threads/{t1.id}").get_data(as_text=True)
    assert "dofficial" in html and "官方解答" in html and "tag-teacher" in html
    assert "已解答" in clients.member.get(f"/discussion/courses/{courses.a.id}").get_data(as_text=True)
    clients.teacher.post(f"/discussion/threads/{t1.id}/flag", data={"flag": "locked", "value": "1"})
    resp = clients.member_b.post(f"/discussion/threads/{t1.id}/reply", data={"body": "还能回复吗"})
    assert "已锁定" in resp.get_data(as_text=True)
    db.session.refresh(t1)
    assert t1.reply_count == 1
    assert [len(_audit(a)) for a in ("discussion.pin", "discussion.lock", "discussion.official")] == [1, 1, 1]


def test_queue_of_one_course_keeps_its_filter_in_the_tabs(app, users, courses, clients, words):
    clients.member.post(f"/discussion/courses/{courses.a.id}/new", data={"title": "周末活动", "body": "有人一起去 赌.博 吗"})
    resp = clients.teacher.get(f"/discussion/moderation?course={courses.a.id}")  # was a 500 (`int` in the template)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "周末活动" in html
    assert f"/discussion/moderation?tab=reports&amp;course={courses.a.id}" in html
