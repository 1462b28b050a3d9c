"""Fixtures of the discussion tests: two courses with teachers, a lesson, and a seeded word list."""
from __future__ import annotations

import pytest


@pytest.fixture
def app(app_factory):
    # The discussion needs only the core; other plugins stay out so these tests test this one.
    a = app_factory(PLUGINS=["discussion"])
    with a.app_context():
        yield a


@pytest.fixture
def courses(app, users, org, make_user):
    from lms.courses.models import Course, Lesson
    from lms.extensions import db

    other_teacher = make_user("郑老师", org.b1, roles=["teacher"])
    a = Course(title="习近平新时代中国特色社会主义思想概论", status="published", owner_unit_id=org.a.id)
    a.teachers.append(users.teacher)
    b = Course(title="党史学习教育", status="published", owner_unit_id=org.b.id)
    b.teachers.append(other_teacher)
    draft = Course(title="未发布的课程", status="draft", owner_unit_id=org.a.id)
    draft.teachers.append(users.teacher)
    db.session.add_all([a, b, draft])
    db.session.flush()
    lesson = Lesson(course_id=a.id, title="第一讲 新时代的历史方位", type="article", status="published")
    hidden_lesson = Lesson(course_id=a.id, title="草稿课时", type="article", status="draft")
    db.session.add_all([lesson, hidden_lesson])
    db.session.commit()
    return type("Courses", (), {"a": a, "b": b, "draft": draft, "lesson": lesson, "hidden_lesson": hidden_lesson,
                                "other_teacher": other_teacher})


@pytest.fixture
def words(app, users):
    from lms.extensions import db
    from plugins.discussion import services

    services.add_words(users.sysadmin, ["法轮功", "赌博", "VPN翻墙"])
    db.session.commit()


@pytest.fixture
def clients(app, users, login_as):
    """A logged-in test client per person: clients.member, clients.teacher …"""

    class Clients:
        def __getattr__(self, name):
            c = login_as(app.test_client(), getattr(users, name))
            setattr(self, name, c)
            return c

    return Clients()
