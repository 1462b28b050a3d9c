"""The `notification` table: one row per message to one person, unread until they open or mark it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.extensions import db
from lms.timeutil import utcnow

KINDS = ("info", "mention", "reply", "review", "report", "system")


class Notification(db.Model):
    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24), default="info")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(500))  # a same-site path, never an external address
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    __table_args__ = (
        # The nav badge counts unread rows of one person on every page: (user_id, read_at) answers it
        # from the index alone; the list pages order by id within the same prefix.
        Index("ix_notification_user_read", "user_id", "read_at"),
        Index("ix_notification_user_id_desc", "user_id", "id"),
    )

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
