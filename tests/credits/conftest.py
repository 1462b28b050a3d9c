"""Fixtures of the courses tests: an app with the article lesson type, and a published course."""
from __future__ import annotations

from decimal import Decimal

import pytest


@pytest.fixture
def app(app_factory):
    a = app_factory(PLUGINS=["article"])
    with a.app_context():
        yield a


@pytest.fixture
def make_course(app, db):
    from lms.courses import services
    from lms.courses.models import Course

    def make(title="党章学习", *, status="published", lessons=2, teachers=(), owner=None, category="theory",
             summary="", open_enrolment=True, credit_hours="2", durations=None, required=True):
        course = Course(title=title, summary=summary, category=category, status=status,
                        open_enrolment=open_enrolment, credit_hours=Decimal(credit_hours),
                        owner_unit_id=owner.id if owner else None, settings={})
        course.teachers = list(teachers)
        db.session.add(course)
        db.session.flush()
        ch = services.add_chapter(course, "第一章")
        for i in range(lessons):
            ls = services.add_lesson(course, title=f"{title} 第{i + 1}课", type_key="article", chapter=ch,
                                     required=required)
            if durations:
                ls.duration_seconds = durations[i]
        db.session.commit()
        return course

    return make
