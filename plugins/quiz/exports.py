"""A quiz's results (成绩) as an export of personal data (lms.exports: permission, masking, limit, approval, audit).

The question-bank export holds no personal data and stays outside these controls."""
from __future__ import annotations

from sqlalchemy import func, select

from lms.authz import MANAGE, can
from lms.courses.models import Lesson
from lms.exports.services import ExportKind, Stamp
from lms.extensions import db
from plugins.quiz.models import QuizAttempt, QuizPaper


def _lesson_paper(params: dict) -> tuple[Lesson | None, QuizPaper | None]:
    lesson_id = params.get("lesson_id")
    lesson = db.session.get(Lesson, lesson_id) if isinstance(lesson_id, int) else None
    if lesson is None or lesson.type != "quiz":
        return None, None
    return lesson, db.session.scalar(select(QuizPaper).where(QuizPaper.lesson_id == lesson.id))


def _may_export(user, params: dict) -> bool:
    """The course's teachers and its administrators (who manage the course), as on the results page."""
    lesson, paper = _lesson_paper(params)
    return paper is not None and can(user, MANAGE, lesson.course)


def _count(user, params: dict) -> int:
    _lesson, paper = _lesson_paper(params)
    return db.session.scalar(select(func.count(QuizAttempt.id)).where(
        QuizAttempt.paper_id == paper.id, QuizAttempt.status != "open")) or 0


def _build(user, params: dict, scope: str, stamp: Stamp) -> tuple[bytes, int]:
    from plugins.quiz.services import results_workbook

    _lesson, paper = _lesson_paper(params)
    return results_workbook(paper, viewer=user, stamp=stamp)


def _scope(user, params: dict) -> str:
    lesson, _paper = _lesson_paper(params)
    return f"{lesson.course.title} · {lesson.title}" if lesson else ""


def _filename(params: dict, scope: str, stamp: Stamp) -> str:
    lesson, _paper = _lesson_paper(params)
    return f"成绩-{lesson.title if lesson else ''}"


def _target(params: dict):
    _lesson, paper = _lesson_paper(params)
    return "quiz_paper", paper.id if paper else None


RESULTS = ExportKind(
    name="quiz.results", action="quiz.results_export", label="测验成绩", may_export=_may_export, count=_count,
    build=_build, scope=_scope, filename=_filename, target=_target,
)
