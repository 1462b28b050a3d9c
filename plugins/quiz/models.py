"""Question banks, papers (fixed items or draw rules), attempts with their answers, practice runs and points."""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.extensions import db
from lms.integrity import seal_column
from lms.timeutil import utcnow

QUESTION_TYPES = ("single", "multiple", "truefalse", "fill", "short")
DIFFICULTIES = {1: _l("简单"), 2: _l("中等"), 3: _l("困难")}
MODES = ("practice", "exam")
REVEALS = ("immediately", "after_close", "never")


class QuizBank(db.Model):
    """The question bank of one course; it may be shared with other courses (of the same teachers)."""

    __tablename__ = "quiz_bank"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), unique=True)
    use_in_practice: Mapped[bool] = mapped_column(Boolean, default=True)  # 每日一练/挑战 may draw from it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    course = relationship("Course")
    shares: Mapped[list[QuizBankShare]] = relationship(back_populates="bank", cascade="all, delete-orphan")


class QuizBankShare(db.Model):
    """`bank` is usable in the papers of `course` too."""

    __tablename__ = "quiz_bank_share"

    bank_id: Mapped[int] = mapped_column(ForeignKey("quiz_bank.id", ondelete="CASCADE"), primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), primary_key=True,
                                           index=True)
    shared_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    shared_at: Mapped[datetime] = mapped_column(default=utcnow)

    bank: Mapped[QuizBank] = relationship(back_populates="shares")
    course = relationship("Course")


class QuizQuestion(db.Model):
    __tablename__ = "quiz_question"

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("quiz_bank.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # one of QUESTION_TYPES
    stem: Mapped[str] = mapped_column(Text)
    options: Mapped[list] = mapped_column(JSON, default=list)  # choice texts, A first
    # single: [i]; multiple: [i, j]; truefalse: true|false; fill: [[accepted…] per blank]; short: reference text
    answer: Mapped[object] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text, default="")  # 解析
    score: Mapped[float] = mapped_column(Float, default=1.0)
    difficulty: Mapped[int] = mapped_column(default=2)  # 1 简单, 2 中等, 3 困难
    tags: Mapped[list] = mapped_column(JSON, default=list)
    partial_credit: Mapped[bool] = mapped_column(Boolean, default=False)  # multiple choice
    loose_match: Mapped[bool] = mapped_column(Boolean, default=True)  # fill-in: ignore case and width
    archived: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    bank: Mapped[QuizBank] = relationship()
    tag_rows: Mapped[list[QuizQuestionTag]] = relationship(cascade="all, delete-orphan")

    @property
    def difficulty_label(self) -> str:
        """In the reader's language (the Excel files use importers.DIFFICULTY_LABELS)."""
        return str(DIFFICULTIES.get(self.difficulty, self.difficulty))


class QuizQuestionTag(db.Model):
    """Tags as rows too, so that draw rules select by tag in SQL."""

    __tablename__ = "quiz_question_tag"

    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_question.id", ondelete="CASCADE"),
                                             primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class QuizPaper(db.Model):
    """The settings of one quiz lesson: its items or draw rules, mode, limits and answer reveal."""

    __tablename__ = "quiz_paper"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), unique=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(16), default="exam")  # practice | exam
    selection: Mapped[str] = mapped_column(String(16), default="fixed")  # fixed | random
    time_limit_minutes: Mapped[int | None]
    max_attempts: Mapped[int | None]  # None: unlimited
    pass_percent: Mapped[float] = mapped_column(Float, default=60.0)
    reveal: Mapped[str] = mapped_column(String(16), default="immediately")
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    shuffle_questions: Mapped[bool] = mapped_column(Boolean, default=True)
    shuffle_options: Mapped[bool] = mapped_column(Boolean, default=True)
    instructions: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | published
    published_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lesson = relationship("Lesson")
    items: Mapped[list[QuizPaperItem]] = relationship(
        back_populates="paper", order_by="(QuizPaperItem.position, QuizPaperItem.id)", cascade="all, delete-orphan"
    )
    rules: Mapped[list[QuizDrawRule]] = relationship(
        back_populates="paper", order_by="QuizDrawRule.id", cascade="all, delete-orphan"
    )

    @property
    def is_published(self) -> bool:
        return self.status == "published"


class QuizPaperItem(db.Model):
    __tablename__ = "quiz_paper_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("quiz_paper.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_question.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    score: Mapped[float | None] = mapped_column(Float)  # None: the question's own score

    paper: Mapped[QuizPaper] = relationship(back_populates="items")
    question: Mapped[QuizQuestion] = relationship()

    __table_args__ = (UniqueConstraint("paper_id", "question_id"),)


class QuizDrawRule(db.Model):
    """Draw `count` questions matching type/tag/difficulty from the banks usable by the paper's course."""

    __tablename__ = "quiz_draw_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("quiz_paper.id", ondelete="CASCADE"), index=True)
    count: Mapped[int] = mapped_column(default=1)
    qtype: Mapped[str | None] = mapped_column(String(16))
    tag: Mapped[str | None] = mapped_column(String(64))
    difficulty: Mapped[int | None]
    score_each: Mapped[float | None] = mapped_column(Float)

    paper: Mapped[QuizPaper] = relationship(back_populates="rules")


class QuizAttempt(db.Model):
    __tablename__ = "quiz_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("quiz_paper.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(default=1)
    # open → submitted (objective part graded) → graded (short answers graded too)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime | None] = mapped_column(index=True)  # fixed at start; None = no limit
    submitted_at: Mapped[datetime | None]
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    # In a contest the "attempted" statement is recorded with the grading, after the window closes.
    attempted_recorded: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{"q": question id, "s": points, "o": [option order]}] — the paper as this person sees it
    layout: Mapped[list] = mapped_column(JSON, default=list)
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float, default=0.0)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    seal: Mapped[str | None] = seal_column()  # PI-04, lms.integrity

    paper: Mapped[QuizPaper] = relationship()
    user = relationship("User")
    answers: Mapped[list[QuizAnswer]] = relationship(back_populates="attempt", cascade="all, delete-orphan")

    __table_args__ = (UniqueConstraint("paper_id", "user_id", "number"),)

    @property
    def scaled(self) -> float | None:
        if self.score is None or not self.max_score:
            return None
        return self.score / self.max_score


class QuizAnswer(db.Model):
    __tablename__ = "quiz_answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempt.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_question.id", ondelete="CASCADE"), index=True)
    response: Mapped[object | None] = mapped_column(JSON, info={"pi": True})  # option indexes are the original (unshuffled) ones
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    points: Mapped[float | None] = mapped_column(Float)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    needs_grading: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    graded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    graded_at: Mapped[datetime | None]
    seal: Mapped[str | None] = seal_column()  # PI-04, lms.integrity

    attempt: Mapped[QuizAttempt] = relationship(back_populates="answers")
    question: Mapped[QuizQuestion] = relationship()

    __table_args__ = (UniqueConstraint("attempt_id", "question_id"),)


class QuizRun(db.Model):
    """One 每日一练 (daily) or 挑战 (challenge) run of a person; earns points, never credit hours."""

    __tablename__ = "quiz_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # daily | challenge
    day: Mapped[date] = mapped_column(Date)  # Beijing date the run belongs to
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | finished
    question_ids: Mapped[list] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(default=0)  # index of the current question
    question_deadline: Mapped[datetime | None]  # challenge: the current question must be answered by then
    correct_count: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    log: Mapped[list] = mapped_column(JSON, default=list)  # [{"q":…, "ok":…}]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_quiz_run_user_kind_day", "user_id", "kind", "day"),)


class QuizPoints(db.Model):
    """The points ledger behind the leaderboards; the branch is the person's unit when earned."""

    __tablename__ = "quiz_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # daily | challenge
    run_id: Mapped[int] = mapped_column(ForeignKey("quiz_run.id", ondelete="CASCADE"), unique=True)
    points: Mapped[int] = mapped_column(default=0)
    earned_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
