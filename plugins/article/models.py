"""Tables of the article plugin: the content of each article lesson and each reader's reading state."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.extensions import db
from lms.timeutil import utcnow


class ArticleContent(db.Model):
    __tablename__ = "article_content"

    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), primary_key=True)
    source_format: Mapped[str] = mapped_column(String(16), default="markdown")  # markdown | html
    source: Mapped[str] = mapped_column(Text, default="")  # what the teacher wrote
    html: Mapped[str] = mapped_column(Text, default="")  # sanitised with nh3, what readers get
    text_length: Mapped[int] = mapped_column(default=0)  # visible characters, for the reading estimate
    pdf_path: Mapped[str | None] = mapped_column(String(255))  # relative to MEDIA_ROOT
    pdf_name: Mapped[str | None] = mapped_column(String(255))  # the uploader's file name (metadata only)
    pdf_size: Mapped[int | None]
    pdf_pages: Mapped[int | None]
    required_seconds: Mapped[int | None]  # None: derived from the length
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ArticleReading(db.Model):
    """When a reader's page last reported and whether it reached the end (the time that counted is
    LessonProgress.effective_seconds)."""

    __tablename__ = "article_reading"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    last_beat_at: Mapped[datetime | None]
    reached_end_at: Mapped[datetime | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "lesson_id"),)
