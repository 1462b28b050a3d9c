"""Quizzes and exams: question bank, imports, papers, server-timed attempts, item statistics, daily practice."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.plugins import Plugin, hookimpl
from plugins.quiz import models  # noqa: F401  (registers the quiz_ tables)


class QuizPlugin(Plugin):
    name = "quiz"
    title = "测验与考试"
    version = "0.1.0"
    description = "Question banks (Excel/GIFT/Aiken), fixed and random papers, timed exams, grading, statistics."
    default_config = {
        "QUIZ_DEADLINE_GRACE_SECONDS": 3,  # network slack after a deadline before answers are refused
        "QUIZ_AUTOSAVE_SECONDS": 3,
        # A contest (everyone's deadline = the closing time) is graded when it closes, by the periodic task.
        "QUIZ_GRADE_AFTER_CLOSE": True,  # the page saves changed answers at most this often
        "QUIZ_DAILY_COUNT": 5,
        "QUIZ_DAILY_POINTS_PER_CORRECT": 1,
        "QUIZ_DAILY_BONUS_ALL_CORRECT": 2,
        "QUIZ_CHALLENGE_SECONDS": 20,  # per question
        "QUIZ_CHALLENGE_MAX": 100,
        "QUIZ_CHALLENGE_POINTS_PER_CORRECT": 1,
        "QUIZ_CHALLENGE_SCORED_RUNS_PER_DAY": 3,
        "QUIZ_IMPORT_MAX_BYTES": 10 * 1024 * 1024,
    }

    def init_app(self, app):
        from lms.exports.services import register_kind
        from plugins.quiz import tasks  # noqa: F401  (registers the periodic auto-submit)
        from plugins.quiz.exports import RESULTS

        register_kind(app, RESULTS)  # results hold members' personal data (PI-05)

    @hookimpl
    def lms_gather_personal_data(self, user):
        from plugins.quiz.personal_data import gather

        return gather(user)

    @hookimpl
    def lms_event_person_erase(self, user, erasure):
        from plugins.quiz.personal_data import erase

        erase(user, erasure)

    @hookimpl
    def lms_load_blueprints(self, app):
        from plugins.quiz.views import bp

        return bp

    @hookimpl
    def lms_gather_lesson_types(self):
        from plugins.quiz.lesson_type import QuizLessonType

        return [QuizLessonType]

    @hookimpl
    def lms_gather_sealed_tables(self):
        """PI-04: attempt grades and each answer's points are sealed (plugins.quiz.services seals its Core writes)."""
        from lms.integrity import SealedTable

        return [
            SealedTable("quiz_attempt", ("paper_id", "user_id", "number", "status", "submitted_at", "score",
                                         "max_score", "passed"),
                        key=("paper_id", "user_id", "number"), label="测验成绩"),
            SealedTable("quiz_answer", ("attempt_id", "question_id", "response", "points", "correct",
                                        "needs_grading", "graded_at"),
                        key=("attempt_id", "question_id"), label="答题评分"),
        ]

    @hookimpl
    def lms_load_demo_data(self, demo):
        from plugins.quiz.demo import load

        load(demo)

    @hookimpl
    def lms_gather_nav_items(self, user):
        from lms.authz import VIEW, can
        from lms.ui import NavItem

        if not user.is_authenticated:
            return []
        items = [NavItem(label=str(_l("答题")), endpoint="quiz.practice_home", order=40)]
        if can(user, VIEW, "teach"):
            items.append(NavItem(label=str(_l("题库与阅卷")), endpoint="quiz.teach", order=45))
        return items
