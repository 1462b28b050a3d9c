"""The quiz in English: labels, question types, difficulties, modes and errors follow the reader's language."""
from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from lms.timeutil import utcnow
from plugins.quiz import importers, services
from plugins.quiz.models import QuizAttempt, QuizPaperItem

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


class _VisibleText(HTMLParser):
    """Text a person sees or hears, data attributes included: the page's script shows those (quiz.js)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if value and (name in ("title", "placeholder", "aria-label", "alt", "data-confirm")
                          or name.startswith("data-msg")):
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def chinese_left(html: str, *data: str) -> list[str]:
    """Runs of Chinese characters a reader sees, after removing `data` (what people typed: titles, stems…)."""
    parser = _VisibleText()
    parser.feed(html)
    text = "\n".join(parser.parts)
    for item in sorted(filter(None, data), key=len, reverse=True):
        text = text.replace(item, " ")
    return [run for run in CJK.findall(text) if run != "中文"]  # the switch back to Chinese


@pytest.fixture
def english_quiz(app, db, course, make_lesson, add_q, users, org):
    """A published exam with one question of each type, an attempt of the member, typed data to ignore."""
    qs = [add_q("单选题", "一大召开年份？", ["一九一九年", "一九二一年"], "B", tags="党史", difficulty="简单"),
          add_q("多选题", "四个意识包括？", ["政治意识", "大局意识", "金钱意识"], "AB", partial="是"),
          add_q("判断题", "预备期为一年。", [], "对", difficulty="困难"),
          add_q("填空题", "最高理想是____。", [], "共产主义"),
          add_q("简答题", "简述三会一课。", [], "参考要点")]
    lesson = make_lesson(mode="exam", time_limit_minutes=30)
    paper = services.paper_for(lesson)
    for i, q in enumerate(qs):
        paper.items.append(QuizPaperItem(question_id=q.id, position=i))
    services.publish_paper(paper)
    db.session.commit()
    typed = [course.title, lesson.title, app.config["SITE_NAME"], users.member.name, users.teacher.name,
             org.a.name, org.a1.name, org.a2.name, org.root.name, "党史"]
    for q in qs:
        typed += [q.stem, *q.options, q.explanation]
    typed += ["共产主义", "参考要点"]
    return lesson, paper, qs, typed


def _english(client):
    client.set_cookie("lang", "en")
    return client


def test_member_pages_in_english(client, users, login_as, english_quiz, db):
    lesson, paper, qs, typed = english_quiz
    login_as(_english(client), users.member)
    html = client.get(f"/quiz/lesson/{lesson.id}").get_data(as_text=True)
    assert "Start" in html and chinese_left(html, *typed) == []
    aid = int(client.post(f"/quiz/lesson/{lesson.id}/start").headers["Location"].rsplit("/", 1)[1])
    html = client.get(f"/quiz/attempt/{aid}").get_data(as_text=True)
    for words in ("Single choice", "Multiple choice", "True/false", "Fill in the blank", "Short answer", "Submit"):
        assert words in html, words
    assert chinese_left(html, *typed) == []
    # The script's messages come from the page, in the reader's language.
    assert 'data-msg-saved="Saved"' in html
    bad = client.post(f"/quiz/attempt/{aid}/save", json={"answers": {str(qs[1].id): "x"}})
    assert bad.status_code == 400 and chinese_left(bad.json["error"]) == []
    client.post(f"/quiz/attempt/{aid}/submit", json={"answers": {str(qs[0].id): 1}})
    late = client.post(f"/quiz/attempt/{aid}/save", json={"answers": {str(qs[0].id): 0}})
    assert late.status_code == 409 and chinese_left(late.json["error"]) == []
    html = client.get(f"/quiz/attempt/{aid}/result").get_data(as_text=True)
    assert chinese_left(html, *typed) == []
    for url in ("/quiz/practice", "/quiz/leaderboard"):
        assert chinese_left(client.get(url).get_data(as_text=True), *typed) == [], url


def test_teacher_pages_in_english(client, users, login_as, english_quiz, course, db):
    lesson, paper, qs, typed = english_quiz
    attempt = services.start_attempt(paper, users.member)
    services.submit_with_answers(attempt, {str(qs[0].id): 1, str(qs[4].id): "三会一课是支部党员大会等"})
    typed.append("三会一课是支部党员大会等")
    login_as(_english(client), users.teacher)
    pages = ["/quiz/teach", f"/quiz/course/{course.id}/bank", f"/quiz/course/{course.id}/bank/new",
             f"/quiz/question/{qs[0].id}/edit", f"/quiz/course/{course.id}/bank/import",
             f"/quiz/lesson/{lesson.id}/paper", f"/quiz/lesson/{lesson.id}/results",
             f"/quiz/lesson/{lesson.id}/stats", "/quiz/grading", f"/quiz/attempt/{attempt.id}/review"]
    # The Excel template's column names are Chinese in every language: they are what the file must contain.
    # So are the true/false answers the editor also accepts ("T or F (对/错 also work)").
    columns = [*importers.HEADERS, *importers.OPTIONAL_HEADERS, "选项A…选项H", "对/错"]
    for url in pages:
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert chinese_left(resp.get_data(as_text=True), *typed, *columns) == [], url
    bank = client.get(f"/quiz/course/{course.id}/bank").get_data(as_text=True)
    assert "Easy" in bank and "Hard" in bank and "Single choice" in bank


def test_import_row_errors_in_english(client, users, login_as, english_quiz, course):
    lesson, paper, qs, typed = english_quiz
    login_as(_english(client), users.teacher)
    import io

    gift = "::q1:: 判断一下 {T}\n\n::q2:: 数值题 {#1921}\n\n::q3:: 没有答案的题 {~甲 ~乙}\n".encode()
    resp = client.post(f"/quiz/course/{course.id}/bank/import",
                       data={"fmt": "gift", "file": (io.BytesIO(gift), "bank.gift")},
                       content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Row 3" in html and "Numerical questions" in html
    assert chinese_left(html, *typed, "判断一下", "数值题", "没有答案的题", "甲", "乙", *importers.HEADERS,
                        "选项A…选项H") == []


def test_publish_problems_and_rule_labels_in_english(app, english_quiz, make_lesson, db):
    from flask_babel import force_locale

    from plugins.quiz.models import QuizDrawRule

    lesson = make_lesson(title="随机卷", mode="exam", selection="random", reveal="after_close")
    paper = services.paper_for(lesson)
    paper.rules.append(QuizDrawRule(count=9, qtype="single", tag="党史", difficulty=1))
    db.session.flush()
    with app.test_request_context(), force_locale("en"):
        problems = services.publish_problems(paper)
        assert problems and all(chinese_left(p, "党史") == [] for p in problems), problems
        assert "Single choice" in services.rule_label(paper.rules[0])
        assert services.QuizPaper  # (module loaded)


def test_labels_follow_the_language_after_import(app, english_quiz):
    from flask_babel import force_locale

    lesson, paper, qs, typed = english_quiz
    with app.test_request_context():
        with force_locale("en"):
            assert qs[0].difficulty_label == "Easy"
        with force_locale("zh_CN"):
            assert qs[0].difficulty_label == "简单"


def test_an_attempt_page_after_the_deadline_says_so_in_english(client, users, login_as, english_quiz, db):
    from freezegun import freeze_time

    lesson, paper, qs, typed = english_quiz
    with freeze_time(utcnow()) as clock:
        login_as(_english(client), users.member)
        aid = int(client.post(f"/quiz/lesson/{lesson.id}/start").headers["Location"].rsplit("/", 1)[1])
        clock.tick(timedelta(minutes=31))
        login_as(_english(client), users.member)
        html = client.get(f"/quiz/attempt/{aid}", follow_redirects=True).get_data(as_text=True)
    assert chinese_left(html, *typed) == []
    assert db.session.get(QuizAttempt, aid).status != "open"


def _field_block(html: str, name: str) -> str:
    """The `<div class="field">` holding the input called `name` (its errors are printed inside it)."""
    start = html.rfind('<div class="field', 0, html.index(f'name="{name}"'))
    return html[start:html.index('<div class="field', start + 1)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_editor_problems_sit_beside_their_field_in_either_language(client, users, login_as, course, lang):
    client.set_cookie("lang", lang)
    login_as(client, users.teacher)
    html = client.post(f"/quiz/course/{course.id}/bank/new", data={
        "qtype": "truefalse", "stem": "预备期为一年。", "option_a": "甲", "answer": "也许", "score": "-1",
        "difficulty": "2",
    }).get_data(as_text=True)
    assert 'class="error"' in _field_block(html, "option_a")
    assert 'class="error"' in _field_block(html, "answer")
    assert 'class="error"' in _field_block(html, "score")
    assert 'class="error"' not in _field_block(html, "qtype")


def test_an_answer_problem_is_reported_once_in_english(app):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        data, errors = importers.build_question({"type": "单选题", "stem": "一大召开于？", "options": ["甲", "乙"],
                                                 "answer": "C"})
    assert errors == ["The answer “C” is not among the options given"]
