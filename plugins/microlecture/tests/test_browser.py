"""In chromium: a teacher uploads a generated clip, it is transcoded and approved, a member watches it —
seeking ahead is refused and completion is recorded."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from lms.courses.models import LessonProgress
from lms.testing import TEST_PASSWORD
from plugins.microlecture.models import Video

from .conftest import make_clip

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def log_in(tab, login_id):
    tab.goto("/login")
    tab.fill("input[name=login_id]", login_id)
    tab.fill("input[name=password]", TEST_PASSWORD)
    tab.click("main form button[type=submit]")
    tab.wait_for_load_state()


def new_tab(browser, live_server, problems):
    ctx = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 390, "height": 844})
    ctx.set_default_timeout(15_000)
    tab = ctx.new_page()
    tab.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" and "Security Policy" in m.text
           else None)
    return ctx, tab


def test_upload_transcode_review_watch_and_complete(page, browser, live_server, org, make_user, course, db,
                                                    tmp_path):
    from plugins.microlecture import services

    teacher = course.teachers[0]
    make_user("审核员", org.a, roles=[("reviewer", org.a)], login_id="R0001")
    member = make_user("学员小李", org.a2, login_id="M0001")
    lecture = services.create_lecture(course, "浏览器里的微课", "policy", "", teacher)
    db.session.commit()
    clip = make_clip(tmp_path / "第一讲.mp4", seconds=6, size="640x360")

    # The teacher uploads the clip from the lesson editor and watches the transcode finish.
    log_in(page, teacher.login_id)
    page.goto(f"/microlecture/lessons/{lecture.lesson_id}/edit")
    page.set_input_files("[data-ml-file]", str(clip))
    page.click("[data-ml-upload-go]")
    page.wait_for_function("() => document.querySelector('[data-ml-status-label]').textContent.includes('待审核')",
                           timeout=120_000)
    page.wait_for_selector("[data-ml-player] video")
    db.session.expire_all()
    video = db.session.get(Video, lecture.id)
    assert video.status == "awaiting_review" and video.renditions[0]["name"] == "360p"

    problems: list[str] = []
    # The reviewer approves it.
    rctx, rtab = new_tab(browser, live_server, problems)
    log_in(rtab, "R0001")
    rtab.goto("/microlecture/review")
    rtab.click("text=浏览器里的微课")
    rtab.check("input[name=decision][value=approve]")
    rtab.click("main form button[type=submit]")
    rtab.wait_for_load_state()
    assert "已通过审核并发布" in rtab.inner_text("main")
    rctx.close()

    # A member plays it on a phone-sized screen.
    mctx, mtab = new_tab(browser, live_server, problems)
    log_in(mtab, member.login_id)
    mtab.goto("/microlecture/")
    mtab.click("text=浏览器里的微课")
    mtab.wait_for_selector("[data-ml-player] video")
    mtab.wait_for_function("() => document.querySelector('video').readyState >= 1", timeout=30_000)
    # Wait for the viewing session to start (the player reports to the server from then on).
    mtab.wait_for_timeout(500)
    mtab.evaluate("() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }")
    mtab.wait_for_function("() => document.querySelector('video').currentTime > 1", timeout=20_000)
    # Seeking ahead is refused: the player goes back and says why.
    mtab.evaluate("() => { document.querySelector('video').currentTime = 5.5; }")
    mtab.wait_for_function("() => document.querySelector('[data-ml-notice]').textContent.includes('不能拖动')")
    assert mtab.evaluate("document.querySelector('video').currentTime") < 4.5
    # Watching to the end completes the lesson.
    mtab.wait_for_function("() => document.querySelector('[data-ml-progress]').textContent.includes('已完成本课')",
                           timeout=30_000)
    mctx.close()
    assert not problems, problems
    db.session.expire_all()
    row = db.session.scalar(select(LessonProgress).where(LessonProgress.user_id == member.id,
                                                         LessonProgress.lesson_id == lecture.lesson_id))
    assert row is not None and row.status == "completed" and row.effective_seconds >= 4
