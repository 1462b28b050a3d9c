"""In-app notifications: delivery with a permission re-check, the nav badge, the list, mark read."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from lms.extensions import db
from lms.notifications import services
from lms.notifications.models import Notification


class _Target:
    """Something with an authorization rule, standing in for a course the person may or may not view."""

    def __init__(self, allowed_ids):
        self.allowed_ids = set(allowed_ids)

    def authz(self, user, action):
        return user.id in self.allowed_ids


def _unread_badge(html: str) -> str | None:
    m = re.search(r'href="/notifications/"[^>]*>\s*通知\s*<span class="badge">(\d+)</span>', html)
    return m.group(1) if m else None


def test_notify_delivers_and_badge_counts_unread(app, users, client, login_as):
    services.notify(users.member, title="有人回复了你", body="内容", url="/x/1", kind="reply")
    services.notify(users.member, title="第二条")
    services.notify(users.teacher, title="别人的")
    db.session.commit()
    login_as(client, users.member)
    html = client.get("/notifications/").get_data(as_text=True)
    assert "有人回复了你" in html and "第二条" in html and "别人的" not in html
    assert _unread_badge(html) == "2"


def test_delivery_rechecks_permission(app, users):
    course = _Target(allowed_ids=[users.teacher.id])
    assert services.notify(users.member, title="课程讨论", about=course) is None
    assert services.notify(users.teacher, title="课程讨论", about=course) is not None
    users.teacher.is_active_account = False
    assert services.notify(users.teacher, title="停用账号") is None
    db.session.commit()
    assert db.session.query(Notification).count() == 1


def test_external_urls_are_dropped(app, users):
    for bad in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/\\evil", "/a\nb"):
        assert services.notify(users.member, title="t", url=bad).url is None
    assert services.notify(users.member, title="t", url="/discussion/threads/3").url == "/discussion/threads/3"


def test_mark_read_and_mark_all_read(app, users, client, login_as):
    a = services.notify(users.member, title="一", url="/discussion/threads/1")
    services.notify(users.member, title="二")
    services.notify(users.member, title="三")
    other = services.notify(users.teacher, title="他人的")
    db.session.commit()
    login_as(client, users.member)
    resp = client.post(f"/notifications/{a.id}/open")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/discussion/threads/1")
    assert services.unread_count(users.member) == 2
    # someone else's notification cannot be touched
    assert client.post(f"/notifications/{other.id}/read").status_code == 404
    html = client.get("/notifications/?filter=unread").get_data(as_text=True)
    assert "二" in html and "一</strong>" not in html
    resp = client.post("/notifications/read-all", follow_redirects=True)
    assert "已将 2 条通知标记为已读" in resp.get_data(as_text=True)
    assert services.unread_count(users.member) == 0
    db.session.refresh(other)
    assert other.read_at is None
    assert _unread_badge(client.get("/notifications/").get_data(as_text=True)) is None


def test_list_is_paged(app, users, client, login_as):
    for i in range(45):
        services.notify(users.member, title=f"通知{i:02d}")
    db.session.commit()
    login_as(client, users.member)
    first = client.get("/notifications/").get_data(as_text=True)
    assert "通知44" in first and "通知24" not in first and "第 1 / 3 页" in first
    third = client.get("/notifications/?page=3").get_data(as_text=True)
    assert "通知00" in third and "通知44" not in third
    assert client.get("/notifications/?page=99").status_code == 200


def test_badge_is_one_count_query(app, users):
    services.notify(users.member, title="x")
    db.session.commit()
    user_id = users.member.id
    seen = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        assert services.unread_count(db.session.get(type(users.member), user_id)) == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    assert len(seen) == 1 and "count(" in seen[0].lower() and "notification" in seen[0]


def test_anonymous_is_sent_to_login(client):
    assert client.get("/notifications/").status_code in (302, 401)


@pytest.mark.parametrize("path", ["/notifications/read-all", "/notifications/1/read"])
def test_posts_need_csrf(app_factory, path, users, login_as):
    n = services.notify(users.member, title="x")
    db.session.commit()
    a = app_factory(WTF_CSRF_ENABLED=True)
    c = login_as(a.test_client(), users.member)
    assert c.post(path.replace("/1/", f"/{n.id}/")).status_code == 400
    assert services.unread_count(users.member) == 1
