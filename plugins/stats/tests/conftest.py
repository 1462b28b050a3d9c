"""Fixtures of the statistics tests: courses with lessons, and learning done through the real course services."""
from __future__ import annotations

import pytest


@pytest.fixture
def year(app):
    from plugins.stats.services import local_year

    return local_year()


@pytest.fixture
def make_course(app, org):
    """A published course with `n` required article lessons (and an optional quiz lesson)."""
    from decimal import Decimal

    from lms.courses.models import Course, Lesson
    from lms.extensions import db

    def make(title="习近平新时代中国特色社会主义思想专题", n=2, hours="2", quiz=False):
        c = Course(title=title, status="published", owner_unit_id=org.root.id, credit_hours=Decimal(hours))
        db.session.add(c)
        db.session.flush()
        for i in range(n):
            db.session.add(Lesson(course_id=c.id, title=f"{title} 第{i + 1}讲", type="article", position=i,
                                  duration_seconds=600))
        if quiz:
            db.session.add(Lesson(course_id=c.id, title=f"{title} 测验", type="quiz", position=n, required=False))
        db.session.commit()
        return c

    return make


@pytest.fixture
def learn(app):
    """Helpers that learn through lms.courses.services (statements, projections and ledger as in production)."""
    from lms import events
    from lms.courses import services as courses
    from lms.extensions import db

    class Learn:
        @staticmethod
        def enroll(user, course):
            courses.enroll(user, course)
            db.session.commit()

        @staticmethod
        def complete(user, course):
            for lesson in course.lessons:
                if lesson.type == "article":
                    courses.update_progress(user, lesson, add_seconds=600, complete=True)
            db.session.commit()

        @staticmethod
        def lesson(user, course, index=0):
            lesson = [ls for ls in course.lessons if ls.type == "article"][index]
            courses.update_progress(user, lesson, add_seconds=300, complete=True)
            db.session.commit()

        @staticmethod
        def quiz(user, course, scaled):
            """As the quiz plugin grades: passed/failed statement with the score, then lesson progress."""
            lesson = next(ls for ls in course.lessons if ls.type == "quiz")
            passed = scaled >= 0.6
            score = {"raw": round(scaled * 100, 2), "min": 0, "max": 100, "scaled": round(scaled, 4)}
            events.record(events.LearningEvent(
                user=user, verb="passed" if passed else "failed",
                object_id=events.activity_iri("lesson", lesson.id),
                object_type="http://adlnet.gov/expapi/activities/assessment", object_name={"zh-CN": lesson.title},
                result={"success": passed, "completion": True, "score": score},
                course_id=course.id, lesson_id=lesson.id))
            courses.update_progress(user, lesson, score=round(scaled, 4), success=passed, complete=passed)
            db.session.commit()

    return Learn
