"""Discussion tables: threads per course or lesson, posts (the first one is the thread's body),
edit history, likes, reports, read markers, uploaded images and the sensitive-word list."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.courses.models import Course, Lesson
from lms.extensions import db
from lms.timeutil import utcnow

# Post states. A post is shown to everybody only when published and not deleted.
PUBLISHED = "published"
PENDING = "pending"  # held for review (matched the sensitive-word list)
REJECTED = "rejected"  # a moderator refused it, with a reason the author sees
HIDDEN = "hidden"  # a moderator took a published post down (e.g. after a report)
STATUSES = (PUBLISHED, PENDING, REJECTED, HIDDEN)


class DiscussionThread(db.Model):
    __tablename__ = "discussion_thread"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200), info={"pi": True})
    status: Mapped[str] = mapped_column(String(16), default=PUBLISHED)  # mirrors the first post
    pinned: Mapped[bool] = mapped_column(default=False)
    locked: Mapped[bool] = mapped_column(default=False)
    reply_count: Mapped[int] = mapped_column(default=0)  # published, not deleted replies
    last_post_id: Mapped[int | None]  # newest published reply (drives the unread marker)
    official_post_id: Mapped[int | None]  # a reply marked as the official answer
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    course: Mapped[Course] = relationship()
    lesson: Mapped[Lesson | None] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])

    __table_args__ = (
        Index("ix_discussion_thread_list", "course_id", "pinned", "last_activity_at"),
    )

    @property
    def target(self):
        """What the thread is about, for permission checks: its lesson, else its course."""
        return self.lesson if self.lesson_id else self.course

    def authz(self, user, action: str) -> bool:
        from plugins.discussion.permissions import can_thread

        return can_thread(user, action, self)


class DiscussionPost(db.Model):
    __tablename__ = "discussion_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("discussion_thread.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    is_first: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text, info={"pi": True})  # Markdown source as written
    body_html: Mapped[str] = mapped_column(Text, default="", info={"pi": True})  # rendered and sanitised
    quote_post_id: Mapped[int | None] = mapped_column(ForeignKey("discussion_post.id", ondelete="SET NULL"))
    mentions: Mapped[list] = mapped_column(JSON, default=list)  # [[user_id, name], …]
    status: Mapped[str] = mapped_column(String(16), default=PUBLISHED)
    matched_words: Mapped[list] = mapped_column(JSON, default=list)  # why it was held
    is_official: Mapped[bool] = mapped_column(default=False)
    like_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    moderated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    moderated_at: Mapped[datetime | None]
    moderation_reason: Mapped[str | None] = mapped_column(String(500))
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    thread: Mapped[DiscussionThread] = relationship(foreign_keys=[thread_id])
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    quote: Mapped[DiscussionPost | None] = relationship(remote_side=[id], foreign_keys=[quote_post_id])

    __table_args__ = (
        Index("ix_discussion_post_thread", "thread_id", "status", "id"),
        Index("ix_discussion_post_author_created", "author_id", "created_at"),
        Index("ix_discussion_post_status", "status"),
    )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_visible(self) -> bool:
        return self.status == PUBLISHED and self.deleted_at is None

    def authz(self, user, action: str) -> bool:
        from plugins.discussion.permissions import can_post

        return can_post(user, action, self)


class DiscussionRevision(db.Model):
    """The text a post had before an edit (edits keep their history)."""

    __tablename__ = "discussion_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("discussion_post.id", ondelete="CASCADE"), index=True)
    title: Mapped[str | None] = mapped_column(String(200), info={"pi": True})  # the thread title, for first posts
    body: Mapped[str] = mapped_column(Text, info={"pi": True})
    edited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # when this text was replaced

    edited_by: Mapped[User | None] = relationship()


class DiscussionLike(db.Model):
    __tablename__ = "discussion_like"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("discussion_post.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("post_id", "user_id"),)


class DiscussionReport(db.Model):
    __tablename__ = "discussion_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("discussion_post.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(24))  # key of REPORT_REASONS
    detail: Mapped[str] = mapped_column(String(500), default="", info={"pi": True})
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | upheld | dismissed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None]

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id])
    post: Mapped[DiscussionPost] = relationship()

    __table_args__ = (UniqueConstraint("post_id", "reporter_id"),)


class DiscussionReadMarker(db.Model):
    """Up to which post a person has read a thread (the unread marker on their own threads)."""

    __tablename__ = "discussion_read_marker"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("discussion_thread.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    last_read_post_id: Mapped[int] = mapped_column(default=0)

    __table_args__ = (UniqueConstraint("thread_id", "user_id"),)


class DiscussionImage(db.Model):
    """An uploaded picture, re-encoded; served only to people who may view its course."""

    __tablename__ = "discussion_image"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    uploader_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(255))  # relative to MEDIA_ROOT, server-generated
    mimetype: Mapped[str] = mapped_column(String(32))
    width: Mapped[int]
    height: Mapped[int]
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    course: Mapped[Course] = relationship()

    __table_args__ = (Index("ix_discussion_image_uploader_created", "uploader_id", "created_at"),)


class DiscussionWord(db.Model):
    """One entry of the sensitive-word list (stored normalised, so evasions of it match too)."""

    __tablename__ = "discussion_word"

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(100), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
