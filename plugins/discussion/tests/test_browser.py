"""In a real browser: a member posts, another replies with an @mention, a post with a listed word is held,
the course's teacher approves it, and none of the XSS corpus runs (no dialog ever opens)."""
from __future__ import annotations

import pytest

from lms.testing import TEST_PASSWORD

pytestmark = pytest.mark.browser


def _login(page, login_id):
    page.context.clear_cookies()
    page.goto("/login")
    page.fill("input[name=login_id]", login_id)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


def test_discussion_journey_with_moderation_and_no_xss(page, live_server, users, courses, words):
    from lms.extensions import db
    from plugins.discussion import services
    from plugins.discussion.tests.test_xss import PAYLOADS

    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # 1. A member starts a thread (its body carries a payload too).
    _login(page, users.member.login_id)
    page.goto(f"/discussion/courses/{courses.a.id}/new")
    page.fill("input[name=title]", "学习体会：新时代的历史方位")
    page.fill("textarea[name=body]", "**收获很大** <img src=x onerror=alert('thread')>")
    page.click("main form.dform button[type=submit]")
    page.wait_for_load_state()
    assert "话题已发布" in page.inner_text("main")
    assert page.locator(".dpost-body strong").inner_text() == "收获很大"
    thread_url = page.url.split("#")[0]

    # 2. Another member quotes it and mentions the author.
    _login(page, users.member_b.login_id)
    page.goto(thread_url)
    page.click(".dquote-btn")
    assert page.locator("input[name=quote_post_id]").input_value() != ""
    assert "正在引用 李党员 的发言 #" in page.inner_text("#reply")  # the page's text, in the reader's language
    page.fill("#reply textarea[name=body]", "@李党员 说得好，我也有同感")
    page.click("#reply button[type=submit]")
    page.wait_for_load_state()
    assert "回复已发布" in page.inner_text("main")
    assert page.locator(".dpost .mention").first.inner_text() == "@李党员"
    assert page.locator(".dquote").count() == 1

    # 3. A reply with a listed word (written with evasions) is held, and its author is told.
    page.fill("#reply textarea[name=body]", "周末一起去 赌.博 吧")
    page.click("#reply button[type=submit]")
    page.wait_for_load_state()
    assert "已提交管理员审核" in page.inner_text("main")
    assert "该内容正在等待管理员审核" in page.inner_text("main")

    # The first member does not see the held reply, but sees the mention in the notification badge.
    _login(page, users.member.login_id)
    page.goto(thread_url)
    assert "赌.博" not in page.inner_text("main")
    assert page.locator("nav.mainnav a[href='/notifications/'] .badge").inner_text() == "1"

    # 4. The course's teacher approves it from the queue.
    _login(page, users.teacher.login_id)
    page.goto("/discussion/moderation")
    item = page.locator(".dqueue-item", has_text="赌.博")
    assert item.locator("code").inner_text() == "赌博"
    item.locator("button", has_text="审核通过").click()
    page.wait_for_load_state()
    assert "已通过" in page.inner_text("main")
    assert page.locator(".dqueue-item").count() == 0

    _login(page, users.member.login_id)
    page.goto(thread_url)
    assert "周末一起去 赌.博 吧" in page.inner_text("main")

    # 5. Every payload of the corpus, posted as replies, shown to a member and to the moderator: nothing runs.
    live_server.app.config["DISCUSSION_RATE_LIMITS"] = [(10_000, 60)]
    live_server.app.config["DISCUSSION_POSTS_PER_PAGE"] = 500
    with live_server.app.app_context():
        from plugins.discussion.models import DiscussionThread

        thread = db.session.scalar(db.select(DiscussionThread))
        from lms.accounts.models import User

        author = db.session.get(User, users.member_a2.id)
        for p in PAYLOADS:
            services.create_reply(author, thread, body=p)
        db.session.commit()
        thread_id = thread.id
    for who in (users.member, users.teacher):
        _login(page, who.login_id)
        page.goto(f"/discussion/threads/{thread_id}")
        page.wait_for_load_state("load")
        assert page.locator(".dpost").count() >= len(PAYLOADS)
        page.mouse.move(200, 300)
        page.mouse.move(600, 500)
        page.wait_for_timeout(300)
    assert dialogs == []
    assert page.evaluate("typeof window.__xss") == "undefined"
