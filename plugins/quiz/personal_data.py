"""The quiz plugin's answer to the data-subject hooks (PI-06): attempts, answers, daily runs and points."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from lms.accounts.dsar import Section, clear_reference, delete_rows, model_rows
from plugins.quiz.models import QuizAnswer, QuizAttempt, QuizBankShare, QuizPoints, QuizQuestion, QuizRun


def gather(user) -> list[Section]:
    uid = user.id
    own = select(QuizAttempt.id).where(QuizAttempt.user_id == uid)
    return [
        Section("quiz_attempt", _l("测验作答"), model_rows(QuizAttempt, QuizAttempt.user_id == uid),
                ("paper_id", "status", "score", "submitted_at")),
        Section("quiz_answer", _l("测验答案"),
                model_rows(QuizAnswer, QuizAnswer.attempt_id.in_(own))
                + model_rows(QuizAnswer, QuizAnswer.graded_by_id == uid, QuizAnswer.attempt_id.not_in(own),
                             only=("id", "graded_at")),
                ("attempt_id", "question_id", "points", "saved_at")),
        Section("quiz_run", _l("每日答题与竞赛"), model_rows(QuizRun, QuizRun.user_id == uid),
                ("kind", "day", "correct_count", "points")),
        Section("quiz_points", _l("答题积分"), model_rows(QuizPoints, QuizPoints.user_id == uid),
                ("source", "points", "earned_at")),
        Section("quiz_question", _l("您编写的题目"),
                model_rows(QuizQuestion, QuizQuestion.created_by_id == uid, only=("id", "bank_id", "created_at")),
                ("bank_id", "created_at")),
        Section("quiz_bank_share", _l("您共享的题库"),
                model_rows(QuizBankShare, QuizBankShare.shared_by_id == uid, only=("bank_id", "course_id", "shared_at")),
                ("bank_id", "course_id", "shared_at")),
    ]


def erase(user, erasure) -> None:
    uid = user.id
    delete_rows(erasure, QuizAnswer, QuizAnswer.attempt_id.in_(select(QuizAttempt.id).where(QuizAttempt.user_id == uid)))
    delete_rows(erasure, QuizAttempt, QuizAttempt.user_id == uid)
    delete_rows(erasure, QuizPoints, QuizPoints.user_id == uid)
    delete_rows(erasure, QuizRun, QuizRun.user_id == uid)
    clear_reference(erasure, QuizAnswer.graded_by_id)
    clear_reference(erasure, QuizQuestion.created_by_id)
    clear_reference(erasure, QuizBankShare.shared_by_id)
