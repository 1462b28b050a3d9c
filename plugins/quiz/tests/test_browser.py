"""In a real browser: an exam survives a reload and is scored; a teacher sees the bad rows of an Excel import."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from lms.testing import TEST_PASSWORD

pytestmark = pytest.mark.browser


def login(page, user):
    page.goto("/login")
    page.fill("input[name=login_id]", user.login_id)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def exam(make_lesson, add_q, db):
    from plugins.quiz import services
    from plugins.quiz.models import QuizPaperItem

    qs = [
        add_q("单选题", "中共一大召开于哪一年？", ["1919年", "1921年", "1927年"], "B", score=2),
        add_q("填空题", "党的最高理想是实现____。", [], "共产主义", score=2),
        add_q("多选题", "“四个意识”包括哪些？", ["政治意识", "大局意识", "核心意识", "金钱意识"], "ABC", score=3),
        add_q("判断题", "预备党员的预备期为一年。", [], "对", score=3),
    ]
    lesson = make_lesson("党章党规知识竞赛", time_limit_minutes=20, shuffle_questions=False)
    paper = services.paper_for(lesson)
    for i, q in enumerate(qs):
        paper.items.append(QuizPaperItem(question_id=q.id, position=i))
    services.publish_paper(paper)
    db.session.commit()
    return lesson, qs


def test_member_answers_half_reloads_finds_answers_then_submits_and_sees_the_score(page, users, exam, db):
    from plugins.quiz.models import QuizAnswer, QuizAttempt

    lesson, qs = exam
    page.on("dialog", lambda d: d.accept())
    login(page, users.member)
    page.goto(f"/quiz/lesson/{lesson.id}")
    page.click("text=开始作答")
    page.wait_for_url("**/quiz/attempt/*")
    assert page.locator("#quiz-timer").inner_text() != "--:--"  # the server deadline is counting down
    attempt_id = page.url.rstrip("/").split("/")[-1]

    page.locator(f"#q-{qs[0].id} label", has_text="1921年").click()
    page.fill(f"input[name=q{qs[1].id}_0]", "共产主义")
    # Saved on the server (the local copy is dropped only once the server acknowledged every answer).
    page.wait_for_function(f"() => !window.localStorage.getItem('lms-quiz-attempt-{attempt_id}')"
                           " && document.getElementById('quiz-status').textContent.includes('已保存')")
    db.session.expire_all()
    assert {a.question_id for a in db.session.scalars(select(QuizAnswer))} == {qs[0].id, qs[1].id}

    page.reload()
    assert page.locator(f"#q-{qs[0].id} label", has_text="1921年").locator("input").is_checked()
    assert page.input_value(f"input[name=q{qs[1].id}_0]") == "共产主义"

    for text in ("政治意识", "大局意识", "核心意识"):
        page.locator(f"#q-{qs[2].id} label", has_text=text).click()
    page.locator(f"#q-{qs[3].id} label", has_text="对").click()
    page.click("#quiz-submit")
    page.wait_for_url("**/result")
    score = page.inner_text("#quiz-score")
    assert "10" in score and "通过" in score
    db.session.expire_all()
    attempt = db.session.scalar(select(QuizAttempt))
    assert attempt.score == 10 and attempt.passed


def test_teacher_imports_an_excel_bank_and_sees_row_errors(page, users, course, db):
    from plugins.quiz import importers
    from plugins.quiz.models import QuizQuestion

    wb = Workbook()
    ws = wb.active
    ws.append(importers.HEADERS)
    blank = [""] * 8
    ws.append(["单选题", "中共一大召开于哪一年？", "1919年", "1921年", *blank[2:], "B", "", 2, "简单", "党史"])
    ws.append(["单选题", "缺答案的题", "甲", "乙", *blank[2:], "", "", 1, "", ""])
    ws.append(["判断题", "判断题答错格式", *blank, "可能", "", 1, "", ""])
    buf = io.BytesIO()
    wb.save(buf)

    login(page, users.teacher)
    page.goto(f"/quiz/course/{course.id}/bank/import")
    page.set_input_files("input[name=file]", files=[{
        "name": "题库.xlsx", "buffer": buf.getvalue(),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    page.click("text=检查文件")
    page.wait_for_selector("#import-result")
    result = page.inner_text("#import-result")
    assert "发现 2 处错误，未导入任何题目" in result
    assert "第 3 行" in result and "答案不能为空" in result
    assert "第 4 行" in result and "判断题答案应为“对”或“错”" in result
    assert page.locator("text=确认导入").count() == 0
    assert db.session.scalar(select(QuizQuestion)) is None
