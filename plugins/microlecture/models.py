"""Micro-lectures: the video of a lesson, its uploads, transcode jobs, and what each person watched."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.courses.models import Lesson
from lms.extensions import db
from lms.timeutil import utcnow

TOPICS = {
    "policy": _l("形势政策"),
    "history": _l("党史"),
    "theory": _l("理论热点"),
    "rules": _l("党章党规"),
    "models": _l("榜样力量"),
    "other": _l("其他"),
}

# What a teacher sees for each state of a lecture.
STATUS_LABELS = {
    "empty": _l("未上传"),
    "uploading": _l("上传中"),
    "processing": _l("转码中"),
    "awaiting_review": _l("待审核"),
    "returned": _l("已退回"),
    "published": _l("已发布"),
    "failed": _l("转码失败"),
    "cancelled": _l("已取消转码"),
}

JOB_LABELS = {
    "queued": _l("排队中"),
    "running": _l("转码中"),
    "done": _l("已完成"),
    "failed": _l("失败"),
    "cancelled": _l("已取消"),
}


class Video(db.Model):
    """The lecture video of one lesson (type `video`); one row per lesson."""

    __tablename__ = "microlecture_video"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), unique=True)
    topic: Mapped[str] = mapped_column(String(24), default="theory", index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    presenter_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="empty", index=True)
    # The newest accepted original (server-made key; the user's file name is metadata only).
    original_key: Mapped[str | None] = mapped_column(String(255))
    original_name: Mapped[str | None] = mapped_column(String(255))
    original_size: Mapped[int | None] = mapped_column(BigInteger)
    # The original the live (published) rendition was made from: kept until a newer one succeeds.
    previous_original_key: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(default=0)  # bumps with every accepted upload
    source: Mapped[dict | None] = mapped_column(JSON)  # the probe result
    duration_seconds: Mapped[float | None]
    hls_key: Mapped[str | None] = mapped_column(String(255))  # newest verified rendition (teacher, reviewer)
    renditions: Mapped[list | None] = mapped_column(JSON)
    sprite: Mapped[dict | None] = mapped_column(JSON)
    published_hls_key: Mapped[str | None] = mapped_column(String(255))  # what members watch
    published_duration: Mapped[float | None]
    subtitle_key: Mapped[str | None] = mapped_column(String(255))
    subtitle_label: Mapped[str | None] = mapped_column(String(64))
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    view_count: Mapped[int] = mapped_column(default=0, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lesson: Mapped[Lesson] = relationship()
    presenter: Mapped[User | None] = relationship(foreign_keys=[presenter_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(self.status, self.status))

    @property
    def topic_label(self) -> str:
        return str(TOPICS.get(self.topic, self.topic))

    @property
    def is_live(self) -> bool:
        return bool(self.published_hls_key)

    def authz(self, user, action: str) -> bool:
        from plugins.microlecture.permissions import can_video

        return can_video(user, action, self)


class Upload(db.Model):
    """A chunked, resumable upload of an original."""

    __tablename__ = "microlecture_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)  # used in URLs and the storage key
    video_id: Mapped[int] = mapped_column(ForeignKey("microlecture_video.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    # receiving|accepted|rejected|cancelled|quarantined (a malware scan did not pass it: lms.quarantine holds the file)
    state: Mapped[str] = mapped_column(String(16), default="receiving")
    # The original this upload became (accepted uploads): it counts against the uploader's quota while the
    # video still keeps it as its original or previous original.
    stored_key: Mapped[str | None] = mapped_column(String(255))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    video: Mapped[Video] = relationship()

    @property
    def part_key(self) -> str:
        return f"uploads/{self.token}.part"


class TranscodeJob(db.Model):
    """One transcode of one original; the state machine lives in media.jobs."""

    __tablename__ = "microlecture_transcode_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("microlecture_video.id", ondelete="CASCADE"), index=True)
    source_key: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(default=0)
    heights: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(default=0.0)  # percent
    attempt: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None]
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    output_key: Mapped[str | None] = mapped_column(String(255))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    video: Mapped[Video] = relationship()

    __table_args__ = (Index("ix_microlecture_transcode_job_state_heartbeat", "state", "heartbeat_at"),)

    @property
    def state_label(self) -> str:
        return str(JOB_LABELS.get(self.state, self.state))


class WatchState(db.Model):
    """What one person has watched of one lecture: the union of accepted segments, across sessions."""

    __tablename__ = "microlecture_watch"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    registration: Mapped[str] = mapped_column(String(36))  # xAPI context.registration
    segments: Mapped[list] = mapped_column(JSON, default=list)  # [[from, to], …] merged, sorted
    furthest: Mapped[float] = mapped_column(default=0.0)
    position: Mapped[float] = mapped_column(default=0.0)
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "lesson_id"),)


class ViewSession(db.Model):
    """One viewing session (a page with the player open); its wall clock caps what it may claim."""

    __tablename__ = "microlecture_view_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_event_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    open_from: Mapped[float | None]  # media time where the playing segment started
    speed: Mapped[float] = mapped_column(default=1.0)
    accepted_seconds: Mapped[float] = mapped_column(default=0.0)  # media seconds accepted so far
    counted_seconds: Mapped[float] = mapped_column(default=0.0)  # real viewing time credited so far
