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


def _assert_nothing_ran(page, dialogs, where):
    """Hover and focus over the page's learner text, then check no dialog opened and no payload set window.__xss."""
    page.mouse.move(200, 300)
    page.mouse.move(600, 500)
    page.keyboard.press("Tab")
    page.wait_for_timeout(200)
    assert dialogs == [], where
    assert page.evaluate("typeof window.__xss") == "undefined", where


def test_xss_corpus_runs_on_no_view_of_other_roles(page, live_server, users, courses):
    """INP-01: the whole corpus, written by learners as thread titles, thread bodies, replies, report notes and
    correction requests, shown to other people on the search results (a member), the report queue (the course's
    teacher) and the data-request queue (the branch secretary): no dialog, no `window.__xss`, no CSP violation
    (the `page` fixture fails on one), and no `'unsafe-inline'` in the page's script-src."""
    import math

    from lms.accounts import dsar
    from lms.extensions import db
    from plugins.discussion import services
    from plugins.discussion.tests.test_xss import PAYLOADS

    assert len(PAYLOADS) >= 200
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    cfg = live_server.app.config
    cfg.update(DISCUSSION_RATE_LIMITS=[(100_000, 60)], DISCUSSION_POSTS_PER_PAGE=1000,
               DISCUSSION_THREADS_PER_PAGE=1000, PAGE_SIZE=1000)
    key = "语料检索"
    with live_server.app.app_context():
        from lms.accounts.models import User

        author = db.session.get(User, users.member.id)
        reporter = db.session.get(User, users.member_b.id)
        course = db.session.get(type(courses.a), courses.a.id)
        # A display name as an administrator might import it from a spreadsheet a learner filled in.
        author.name = '"><img src=x onerror=window.__xss=1>'
        thread = services.create_thread(author, course, title="<svg onload=window.__xss=1> " + key,
                                        body=PAYLOADS[0])
        for p in PAYLOADS:
            reply = services.create_reply(author, thread, body=p)
            services.report_post(reporter, reply, reason="other", detail=p)
            services.create_thread(author, course, title=(p[:90].strip() or "x") + " " + key, body=f"{key} {p}")
            dsar.request_correction(author, "name", p)
        db.session.commit()
        course_id = course.id

    def check_csp(response):
        csp = response.headers["content-security-policy"]
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "unsafe-inline" not in script_src, csp

    # 1. Search results, as another member: every payload is a thread title (and the author's name) there.
    _login(page, users.member_b.login_id)
    check_csp(page.goto(f"/discussion/courses/{course_id}?q={key}"))
    assert page.locator(".dthread").count() == len(PAYLOADS) + 1
    _assert_nothing_ran(page, dialogs, "search results")

    # 2. The report queue of the course's teacher (20 a page): each reported reply and the reporter's note.
    _login(page, users.teacher.login_id)
    seen = 0
    for n in range(1, math.ceil(len(PAYLOADS) / 20) + 1):
        check_csp(page.goto(f"/discussion/moderation?tab=reports&page={n}"))
        seen += page.locator(".dqueue-item").count()
        _assert_nothing_ran(page, dialogs, f"report queue page {n}")
    assert seen == len(PAYLOADS)

    # 3. The branch secretary's queue of data-correction requests: each payload as a request's text.
    _login(page, users.secretary.login_id)
    check_csp(page.goto("/people/data-requests"))
    body = page.inner_text("main")
    assert "<svg><animate onbegin=window.__xss=1 attributeName=x dur=1s>" in body  # shown as text, not markup
    assert page.locator("tbody tr").count() == len(PAYLOADS)
    _assert_nothing_ran(page, dialogs, "data requests")
