"""The audit log: append-only, hash-chained rows (who, what, when, from where, outcome)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.extensions import db
from lms.timeutil import utcnow


class AuditLog(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(index=True)  # no FK: rows outlive accounts
    actor_login: Mapped[str | None] = mapped_column(String(64), info={"pi": True})
    ip: Mapped[str | None] = mapped_column(String(64), info={"pi": True})
    action: Mapped[str] = mapped_column(String(64), index=True)  # e.g. auth.login, people.import
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="success")  # success | failure | denied
    details: Mapped[dict | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)


class AuditPurgePermit(db.Model):
    """The one way rows leave `audit_log`: a permit naming a prefix of the chain older than the cutoff.

    Database triggers (migration core_0002) refuse every UPDATE of `audit_log` and every DELETE not
    covered by a permit row, and refuse a permit whose cutoff is less than 180 days old by the
    database's own clock. `lms.audit.services.purge_older_than` inserts a permit, deletes the rows
    and removes the permit in one transaction; the `audit.purge` row it writes is the record.
    """

    __tablename__ = "audit_purge_permit"

    id: Mapped[int] = mapped_column(primary_key=True)
    below_id: Mapped[int]  # rows with a smaller id …
    cutoff: Mapped[datetime]  # … and an older time may be deleted
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
