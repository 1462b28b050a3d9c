"""Fixtures of the 党员e家 tests: the plugin with article lessons (so courses can be completed)."""
from __future__ import annotations

import pytest


@pytest.fixture
def app(app_factory):
    a = app_factory(PLUGINS=["article", "party_school"])
    with a.app_context():
        yield a


def _course(db, title, hours="2"):
    from lms.courses import services as course_services
    from lms.courses.models import Course
    from plugins.article import services as article_services

    course = Course(title=title, status="published", open_enrolment=True, settings={}, credit_hours=hours)
    db.session.add(course)
    db.session.flush()
    lesson = course_services.add_lesson(course, title=f"{title}：导读", type_key="article")
    article_services.save_content(lesson, source_format="markdown", source="中国共产党是中国工人阶级的先锋队。" * 20)
    return course


@pytest.fixture
def courses(app, db, users):
    """Two published courses with one article lesson each."""
    ns = type("Courses", (), {"a": _course(db, "党章党规专题", "4"), "b": _course(db, "党史学习教育", "2")})
    db.session.commit()
    return ns


@pytest.fixture
def assign(app, db):
    """Create an assignment through the service (dates default to this year)."""
    from datetime import date

    from plugins.party_school import services

    def make(actor, unit, courses, *, categories=None, starts_on=None, due_on=None, title="2026年度党员集中学习 — 32学时"):
        y = services.today().year
        with app.test_request_context():
            a = services.create_assignment(actor, title=title, unit=unit, courses=list(courses),
                                           starts_on=starts_on or date(y, 1, 1), due_on=due_on or date(y, 12, 31),
                                           categories=categories)
        db.session.commit()
        return a

    return make


def complete_course(user, course):
    from lms.courses import services as course_services

    for lesson in course.lessons:
        course_services.update_progress(user, lesson, add_seconds=600, complete=True)
