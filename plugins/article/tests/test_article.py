"""Article lessons: sanitising, the editor, the PDF attachment, and reading that really counts."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from lms.courses.models import Enrollment, LessonProgress
from lms.timeutil import utcnow
from plugins.article import services
from plugins.article.models import ArticleContent

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] " \
      b"/Count 2 >> endobj\n3 0 obj << /Type /Page >> endobj\n4 0 obj << /Type /Page >> endobj\n%%EOF\n"


def test_sanitising_removes_scripts_whatever_the_input(app):
    md = services.render_source("markdown", "# 标题\n\n<script>alert(1)</script>\n\n**重点** [链接](javascript:alert(2))\n"
                                            "\n<img src=x onerror=alert(3)>")
    assert "<h1>标题</h1>" in md and "<strong>重点</strong>" in md
    assert "<script" not in md and "alert(1)" not in md and "href=\"javascript" not in md and "onerror" not in md
    html = services.render_source(
        "html", '<p style="color:red" onclick="x()">正文<script>document.cookie</script></p>'
                '<iframe src="https://evil.example"></iframe><a href="https://www.12371.cn/">共产党员网</a>')
    assert "<script" not in html and "document.cookie" not in html and "<iframe" not in html
    assert "onclick" not in html and "style=" not in html
    assert 'href="https://www.12371.cn/"' in html and 'rel="noopener noreferrer"' in html


def test_teacher_edits_an_article_and_members_read_it_sanitised(client, db, users, login_as, article):
    login_as(client, users.teacher)
    page = client.get(f"/article/lessons/{article.id}/edit")
    assert page.status_code == 200 and "编辑图文课时" in page.get_data(as_text=True)
    resp = client.post(f"/article/lessons/{article.id}/edit",
                       data={"source_format": "html", "source": "<h2>第一章</h2><p>党员必须履行义务。</p>"
                                                                 "<script>fetch('/x')</script>",
                             "required_minutes": "2"})
    assert resp.status_code == 302
    content = db.session.get(ArticleContent, article.id)
    assert "<script" not in content.html and content.required_seconds == 120
    assert "<script>fetch" in content.source  # what the teacher wrote is kept as written
    login_as(client, users.member)
    body = client.get(f"/courses/{article.course_id}/lessons/{article.id}").get_data(as_text=True)
    assert "党员必须履行义务" in body and "fetch('/x')" not in body
    assert "data-reading-end" in body and "/static/js/reading.js" in body
    assert "读到文末并阅读满 2 分钟后计为完成" in body


def test_required_time_reads_naturally(app):
    from plugins.article.lesson_type import duration_label

    with app.test_request_context():
        assert [duration_label(s) for s in (24, 60, 61, 600)] == ["24 秒", "1 分钟", "2 分钟", "10 分钟"]


def test_reading_time_is_estimated_from_the_length(app, article):
    content = services.content_for(article)
    assert content.text_length > 800
    assert article.duration_seconds == round(content.text_length * 60 / 400)
    assert services.required_seconds(content) == int(article.duration_seconds * 0.5)


def test_a_forged_heartbeat_cannot_claim_more_than_the_elapsed_time(client, db, users, login_as, article):
    login_as(client, users.member)
    url = f"/article/lessons/{article.id}/heartbeat"
    with freeze_time(utcnow()) as clock:
        first = client.post(url, json={"seconds": 600}).get_json()
        assert first["credited"] == 0  # the first report only starts the clock
        clock.tick(timedelta(seconds=10))
        forged = client.post(url, json={"seconds": 600, "end": True}).get_json()
        assert forged["credited"] == 10 and forged["effective_seconds"] == 10
        assert forged["completed"] is False  # the end was reached, but not the required time
        clock.tick(timedelta(minutes=20))  # a tab left open in the background earns at most one beat's cap
        late = client.post(url, json={"seconds": 1200}).get_json()
        assert late["credited"] == 60
    assert db.session.scalar(select(Enrollment).where(Enrollment.user_id == users.member.id)) is not None


def test_completion_needs_the_end_marker_and_the_required_time(client, db, users, login_as, article):
    content = services.content_for(article)
    content.required_seconds = 30
    db.session.commit()
    login_as(client, users.member)
    url = f"/article/lessons/{article.id}/heartbeat"
    with freeze_time(utcnow()) as clock:
        client.post(url, json={"seconds": 0})
        for _ in range(3):
            clock.tick(timedelta(seconds=15))
            data = client.post(url, json={"seconds": 15}).get_json()
        assert data["effective_seconds"] == 45 and data["completed"] is False
        progress = db.session.scalar(select(LessonProgress))
        assert progress.status == "in_progress" and progress.progress <= 0.9
        clock.tick(timedelta(seconds=2))
        data = client.post(url, json={"seconds": 2, "end": True}).get_json()
        assert data["completed"] is True
    db.session.expire_all()
    assert db.session.scalar(select(LessonProgress)).status == "completed"
    enr = db.session.scalar(select(Enrollment))
    assert enr.completed_at is not None  # the only lesson: the course is complete too


def test_heartbeat_rejects_bad_input_with_json(client, users, login_as, article):
    login_as(client, users.member)
    url = f"/article/lessons/{article.id}/heartbeat"
    for body in ("not json", {"seconds": "lots"}, {"seconds": -5}):
        resp = client.post(url, json=body) if isinstance(body, dict) else client.post(
            url, data=body, content_type="application/json")
        assert resp.status_code == 400 and "error" in resp.get_json()
    assert client.post("/article/lessons/999999/heartbeat", json={}).status_code == 404


def test_pdf_attachment_is_checked_and_served_inline_to_viewers_only(client, db, users, login_as, article, org,
                                                                    make_user):
    login_as(client, users.teacher)
    word = client.post(f"/article/lessons/{article.id}/edit", content_type="multipart/form-data",
                       data={"source_format": "markdown", "source": "正文",
                             "pdf": (io.BytesIO(b"PK\x03\x04word/document.xml"), "讲稿.docx")})
    assert word.status_code == 400 and "请另存为 PDF" in word.get_data(as_text=True)
    fake = client.post(f"/article/lessons/{article.id}/edit", content_type="multipart/form-data",
                       data={"source_format": "markdown", "source": "正文",
                             "pdf": (io.BytesIO(b"<html><script>alert(1)</script>"), "x.pdf")})
    assert fake.status_code == 400 and "只能上传 PDF 文件" in fake.get_data(as_text=True)
    ok = client.post(f"/article/lessons/{article.id}/edit", content_type="multipart/form-data",
                     data={"source_format": "markdown", "source": "正文",
                           "pdf": (io.BytesIO(PDF), "../../中国共产党章程.pdf")})
    assert ok.status_code == 302
    content = db.session.get(ArticleContent, article.id)
    assert content.pdf_pages == 2 and content.pdf_name == "中国共产党章程.pdf"
    assert content.pdf_path.startswith("article/") and ".." not in content.pdf_path
    assert services._clean_name("..\\x/章程\r\n\u202e.pdf") == "章程.pdf"

    login_as(client, users.member)
    page = client.get(f"/courses/{article.course_id}/lessons/{article.id}").get_data(as_text=True)
    assert f'<iframe src="/article/lessons/{article.id}/document.pdf"' in page
    resp = client.get(f"/article/lessons/{article.id}/document.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf" and resp.data == PDF
    assert resp.headers["Content-Disposition"].startswith("inline;")
    assert "\r" not in resp.headers["Content-Disposition"] and "%E4%B8%AD" in resp.headers["Content-Disposition"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in resp.headers["Content-Security-Policy"]
    resp.close()

    course = article.course
    course.status = "draft"
    db.session.commit()
    assert client.get(f"/article/lessons/{article.id}/document.pdf").status_code == 403
    course.status, course.open_enrolment = "published", False
    db.session.commit()
    login_as(client, make_user("外支部党员", org.b1))
    assert client.get(f"/article/lessons/{article.id}/document.pdf").status_code == 403
    login_as(client, users.teacher)
    resp = client.get(f"/article/lessons/{article.id}/document.pdf")
    assert resp.status_code == 200
    resp.close()
    stored = services.pdf_file(content)
    assert stored.is_file()
    client.post(f"/teach/lessons/{article.id}/delete")
    assert not stored.exists()  # deleting the lesson leaves no file behind


def test_demo_hook_adds_articles_to_the_demo_courses_once(app, db):
    from lms.courses import services as course_services
    from lms.courses.models import Course, Lesson
    from lms.demo import DemoData
    from lms.plugins import hook

    theory = Course(title="理论", status="published", settings={})
    history = Course(title="党史", status="published", settings={})
    db.session.add_all([theory, history])
    db.session.flush()
    demo = DemoData(courses={"theory": theory, "history": history},
                    chapters={"theory": [course_services.add_chapter(theory, "第一讲")], "history": []})
    hook().lms_load_demo_data(demo=demo)
    hook().lms_load_demo_data(demo=demo)
    db.session.commit()
    rows = db.session.scalars(select(Lesson).where(Lesson.type == "article").order_by(Lesson.id)).all()
    assert [(ls.course_id, ls.title) for ls in rows] == [
        (theory.id, "阅读：新时代十年的伟大变革"), (history.id, "阅读：中国共产党第一次全国代表大会")]
    assert rows[0].chapter_id == demo.chapters["theory"][0].id and rows[1].chapter_id is None
    content = services.content_for(rows[1])
    assert "<table>" in content.html and rows[1].duration_seconds > 60
    assert demo.created == {"lessons": 2, "article lessons": 2}


@pytest.mark.slow
def test_demo_seed_adds_articles_once(app, db):
    from lms.courses.models import Lesson
    from lms.demo import seed_demo
    from plugins.article.demo import ARTICLES

    seed_demo()
    seed_demo()
    titles = db.session.scalars(select(Lesson.title).where(Lesson.type == "article")).all()
    assert sorted(titles) == sorted(title for _course, _chapter, title, _body in ARTICLES)
