"""Every discussion page renders for the people allowed to see it."""
from __future__ import annotations

from lms.extensions import db
from plugins.discussion import services


def test_pages_render(app, users, courses, clients, words):
    t = services.create_thread(users.member, courses.lesson, title="如何理解新时代", body="**第一**段 @陈老师")
    r = services.create_reply(users.member_b, t, body="我认为…")
    db.session.commit()
    m = clients.member
    for url in [f"/discussion/courses/{courses.a.id}", f"/discussion/courses/{courses.a.id}?lesson={courses.lesson.id}",
                f"/discussion/courses/{courses.a.id}/new", f"/discussion/threads/{t.id}",
                f"/discussion/posts/{r.id}/report", f"/discussion/posts/{t.id}/edit"]:
        resp = m.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
    tc = clients.teacher
    for url in ["/discussion/moderation", "/discussion/moderation?tab=reports", "/discussion/moderation?tab=hidden",
                f"/discussion/threads/{t.id}"]:
        assert tc.get(url).status_code == 200, url
    assert clients.sysadmin.get("/discussion/admin/words").status_code == 200
