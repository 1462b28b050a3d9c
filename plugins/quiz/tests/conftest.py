"""Fixtures of the quiz tests: a published course with a teacher, a quiz lesson and a way to add questions."""
from __future__ import annotations

import pytest


@pytest.fixture
def course(app, users, org):
    from lms.courses.models import Course
    from lms.extensions import db

    c = Course(title="党章党规专题", status="published", owner_unit_id=org.a.id)
    c.teachers.append(users.teacher)
    db.session.add(c)
    db.session.commit()
    return c


@pytest.fixture
def make_lesson(app, course):
    from lms.courses.models import Lesson
    from lms.extensions import db
    from plugins.quiz import services

    def make(title="党章知识测验", c=None, **paper_settings):
        c = c or course
        lesson = Lesson(course_id=c.id, title=title, type="quiz", position=1)
        db.session.add(lesson)
        db.session.flush()
        paper = services.paper_for(lesson)
        for k, v in paper_settings.items():
            setattr(paper, k, v)
        db.session.commit()
        return lesson

    return make


@pytest.fixture
def add_q(app, course):
    """Add a question to the course bank from template-style text fields."""
    from lms.extensions import db
    from plugins.quiz import importers, services

    def add(qtype="单选题", stem="题干", options=("甲", "乙", "丙", "丁"), answer="A", c=None, **fields):
        data, errors = importers.build_question({"type": qtype, "stem": stem, "options": list(options),
                                                 "answer": answer, **fields})
        assert not errors, errors
        q = services.save_question(services.bank_for(c or course), data, None)
        db.session.commit()
        return q

    return add


@pytest.fixture
def fixed_paper(make_lesson, add_q):
    """A published exam with one question of each type; returns (lesson, paper, questions by type)."""
    from lms.extensions import db
    from plugins.quiz import services
    from plugins.quiz.models import QuizPaperItem

    qs = {
        "single": add_q("单选题", "一大召开年份？", ["1919年", "1921年", "1927年"], "B", score=2),
        "multiple": add_q("多选题", "四个意识包括？", ["政治意识", "大局意识", "核心意识", "金钱意识"], "ABC",
                          score=3, partial="是"),
        "truefalse": add_q("判断题", "预备期为一年。", [], "对"),
        "fill": add_q("填空题", "党的最高理想是实现____。", [], "共产主义|communism", score=2),
        "short": add_q("简答题", "简述三会一课。", [], "参考要点", score=2),
    }
    lesson = make_lesson(mode="exam", time_limit_minutes=30, pass_percent=60, shuffle_questions=True,
                         shuffle_options=True)
    paper = services.paper_for(lesson)
    for i, q in enumerate(qs.values()):
        paper.items.append(QuizPaperItem(question_id=q.id, position=i))
    services.publish_paper(paper)
    db.session.commit()
    return lesson, paper, qs


@pytest.fixture
def member_client(client, users, login_as):
    return login_as(client, users.member)


@pytest.fixture
def recorded_events(app):
    """Every LearningEvent recorded while the test runs (a tiny listener registered on the hook)."""
    from lms.plugins import hookimpl

    seen = []

    class Listener:
        @hookimpl
        def lms_event_learning(self, event):
            seen.append(event)

    pm = app.extensions["lms_plugins"].pm
    listener = Listener()
    pm.register(listener, name="quiz-test-listener")
    yield seen
    pm.unregister(listener)
