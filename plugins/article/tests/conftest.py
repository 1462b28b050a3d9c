"""Fixtures of the article plugin tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def app(app_factory):
    a = app_factory(PLUGINS=["article"])
    with a.app_context():
        yield a


@pytest.fixture
def article(app, db, users):
    """A published open course with one article lesson (teacher: users.teacher)."""
    from lms.courses import services as course_services
    from lms.courses.models import Course
    from plugins.article import services

    course = Course(title="党章学习", status="published", open_enrolment=True, settings={})
    course.teachers = [users.teacher]
    db.session.add(course)
    db.session.flush()
    lesson = course_services.add_lesson(course, title="学习党章总纲", type_key="article")
    services.save_content(lesson, source_format="markdown", source="## 总纲\n\n" + "中国共产党是中国工人阶级的先锋队。" * 50)
    db.session.commit()
    return lesson
