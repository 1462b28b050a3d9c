"""The `export_request` table: an export of more rows than one person may take alone, held for a second approver."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.extensions import db
from lms.timeutil import utcnow

# pending → approved → downloaded; pending → refused. An approved request not downloaded in time, or a pending one
# left undecided, is shown as expired (the state is derived from the times, no job rewrites it).
STATES = ("pending", "approved", "refused", "downloaded")


class ExportRequest(db.Model):
    __tablename__ = "export_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # a registered export kind: people, stats.ledger, quiz.results
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # what the kind needs to rebuild the same export
    scope: Mapped[str] = mapped_column(String(255), default="")  # the scope as the requester saw it
    rows: Mapped[int] = mapped_column(default=0)  # counted when requested
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # an approved request can be downloaded once until then
    downloaded_at: Mapped[datetime | None]

    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        Index("ix_export_request_status", "status", "requested_at"),
        Index("ix_export_request_requested_by", "requested_by_id", "requested_at"),
    )
