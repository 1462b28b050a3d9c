"""In a real browser: the reading page reports time while visible, sees the end marker and completes."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from lms.testing import TEST_PASSWORD

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >>" \
      b" endobj\n3 0 obj << /Type /Page /MediaBox [0 0 200 200] >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.mark.parametrize("page", [{"width": 390, "height": 844}], indirect=True)
def test_reading_an_article_on_a_phone_completes_the_lesson(page, live_server, db, make_user, article):
    from pathlib import Path

    from lms.courses.models import LessonProgress
    from plugins.article import services

    live_server.app.config["ARTICLE_HEARTBEAT_SECONDS"] = 5
    content = services.content_for(article)
    content.required_seconds = 4
    rel = "article/test.pdf"
    target = Path(live_server.app.config["MEDIA_ROOT"]) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(PDF)
    content.pdf_path, content.pdf_name, content.pdf_pages = rel, "党章.pdf", 1
    db.session.commit()
    make_user("读者", login_id="20260001")

    page.goto("/login")
    page.fill("input[name=login_id]", "20260001")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    pdf_status = []
    page.on("response", lambda r: pdf_status.append(r.status) if r.url.endswith("/document.pdf") else None)
    beats = []
    page.on("response", lambda r: beats.append((r.status, r.text())) if "heartbeat" in r.url else None)
    page.goto(f"/courses/{article.course_id}/lessons/{article.id}")

    assert "中国共产党是中国工人阶级的先锋队" in page.inner_text(".article-body")
    page.locator("[data-reading-end]").scroll_into_view_if_needed()
    expect(page.locator("[data-reading-status]")).to_contain_text("已完成", timeout=20_000)
    assert pdf_status and pdf_status[0] == 200
    assert page.locator("html").evaluate("el => el.scrollWidth") <= 390
    db.session.expire_all()
    progress = db.session.scalar(select(LessonProgress).where(LessonProgress.lesson_id == article.id))
    assert progress.status == "completed" and 4 <= progress.effective_seconds <= 15
