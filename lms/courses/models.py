"""Courses, chapters, lessons (of types plugins provide), enrolments and per-lesson progress."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.extensions import db
from lms.integrity import seal_column
from lms.org.models import OrgUnit
from lms.timeutil import utcnow

CATEGORIES = {
    "theory": "党的理论",
    "policy": "形势政策",
    "history": "党史学习教育",
    "rules": "党章党规",
    "practice": "党务实践",
    "other": "其他",
}

course_teacher = db.Table(
    "course_teacher",
    db.Column("course_id", db.ForeignKey("course.id", ondelete="CASCADE"), primary_key=True),
    db.Column("user_id", db.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Course(db.Model):
    __tablename__ = "course"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    cover_path: Mapped[str | None] = mapped_column(String(255))  # relative to MEDIA_ROOT
    category: Mapped[str] = mapped_column(String(24), default="theory", index=True)
    audience: Mapped[str] = mapped_column(String(200), default="")  # 面向对象, free text
    credit_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("1"))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)  # draft | published | archived
    open_enrolment: Mapped[bool] = mapped_column(default=True)
    owner_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. video watching rules
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None]

    owner_unit: Mapped[OrgUnit | None] = relationship()
    teachers: Mapped[list[User]] = relationship(secondary=course_teacher)
    chapters: Mapped[list[Chapter]] = relationship(
        back_populates="course", order_by="(Chapter.position, Chapter.id)", cascade="all, delete-orphan"
    )
    lessons: Mapped[list[Lesson]] = relationship(
        back_populates="course", order_by="(Lesson.position, Lesson.id)", cascade="all, delete-orphan"
    )

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category, self.category)

    @property
    def is_published(self) -> bool:
        return self.status == "published"

    def authz(self, user, action: str) -> bool:
        from lms.courses.permissions import can_course

        return can_course(user, action, self)


class Chapter(db.Model):
    __tablename__ = "chapter"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)

    course: Mapped[Course] = relationship(back_populates="chapters")
    lessons: Mapped[list[Lesson]] = relationship(back_populates="chapter", order_by="(Lesson.position, Lesson.id)")


class Lesson(db.Model):
    __tablename__ = "lesson"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    chapter_id: Mapped[int | None] = mapped_column(ForeignKey("chapter.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))  # key of a LessonType from a plugin
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="published")  # draft | published
    required: Mapped[bool] = mapped_column(default=True)
    duration_seconds: Mapped[int | None]  # media length / expected reading time, used by credit rules
    settings: Mapped[dict] = mapped_column(JSON, default=dict)  # small type-specific settings
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship(back_populates="lessons")
    chapter: Mapped[Chapter | None] = relationship(back_populates="lessons")

    def authz(self, user, action: str) -> bool:
        from lms.courses.permissions import can_lesson

        return can_lesson(user, action, self)


class Enrollment(db.Model):
    __tablename__ = "enrollment"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16), default="self")  # self | assigned | admin
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    progress: Mapped[float] = mapped_column(default=0.0)  # share of required lessons completed, 0..1
    completed_at: Mapped[datetime | None]
    seal: Mapped[str | None] = seal_column()  # PI-04, lms.integrity

    user: Mapped[User] = relationship()
    course: Mapped[Course] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "course_id"),
        # The person and course indexes also carry the dates, so the statistics count a subtree's enrolments
        # per person or per course from the index alone; completions by date are read by range.
        Index("ix_enrollment_user_id", "user_id", "enrolled_at", "completed_at", "course_id"),
        Index("ix_enrollment_course_id", "course_id", "user_id", "enrolled_at", "completed_at"),
        Index("ix_enrollment_completed", "completed_at", "user_id"),
    )


class LessonProgress(db.Model):
    """A person's progress in one lesson: the projection credit hours and statistics read."""

    __tablename__ = "lesson_progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")  # in_progress | completed
    progress: Mapped[float] = mapped_column(default=0.0)  # 0..1
    effective_seconds: Mapped[int] = mapped_column(default=0)  # time that really counted
    position_seconds: Mapped[float | None]  # resume point for media
    score: Mapped[float | None]  # scaled 0..1 for tests
    success: Mapped[bool | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    seal: Mapped[str | None] = seal_column()  # PI-04, lms.integrity

    lesson: Mapped[Lesson] = relationship()
    user: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "lesson_id"),
        Index("ix_lesson_progress_user_course", "user_id", "course_id"),
        # Scored rows (tests) only: the statistics read a subtree's quiz scores from this index alone.
        Index("ix_lesson_progress_scored", "user_id", "last_seen_at", "score", "lesson_id",
              sqlite_where=text("score IS NOT NULL"), postgresql_where=text("score IS NOT NULL")),
    )

    @property
    def is_completed(self) -> bool:
        return self.status == "completed"
