"""Writing and verifying the audit log.

Each row stores sha256(prev_hash ‖ canonical JSON of the row); editing, deleting or reordering a row
breaks the chain at that row, which `flask lms audit-check` reports. Rows are written in the caller's
transaction, so an action whose audit row cannot be written does not happen either (fail closed).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from flask import has_request_context, request
from sqlalchemy import select

from lms.audit.models import AuditLog
from lms.extensions import db
from lms.timeutil import utcnow

GENESIS = "0" * 64


def _canonical(row: AuditLog) -> str:
    data = {
        "at": row.at.isoformat(timespec="microseconds"),
        "actor_id": row.actor_id,
        "actor_login": row.actor_login,
        "ip": row.ip,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "outcome": row.outcome,
        "details": row.details,
        "note": row.note,
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def compute_hash(prev_hash: str, row: AuditLog) -> str:
    return hashlib.sha256((prev_hash + _canonical(row)).encode()).hexdigest()


def _sanitize(value: str | None, limit: int = 64) -> str | None:
    """No CR/LF or control characters (log injection) and bounded length."""
    if value is None:
        return None
    return "".join(ch if ch.isprintable() else "?" for ch in str(value))[:limit]


def log(
    action: str,
    target=None,
    *,
    outcome: str = "success",
    details: dict | None = None,
    actor=None,
    note: str | None = None,
    target_type: str | None = None,
    target_id=None,
) -> AuditLog:
    """Append one audit row in the current transaction (the caller commits).

    `target` may be a model instance (its table name and id are recorded) or None.
    `actor` defaults to the logged-in user.
    """
    if actor is None and has_request_context():
        from flask_login import current_user

        if current_user and current_user.is_authenticated:
            actor = current_user
    if target is not None:
        target_type = target_type or getattr(target, "__tablename__", type(target).__name__.lower())
        target_id = getattr(target, "id", target_id)
    ip = request.remote_addr if has_request_context() else None
    # Serialise writers on the chain head: on PostgreSQL lock the last row; SQLite has one writer anyway.
    q = select(AuditLog.row_hash).order_by(AuditLog.id.desc()).limit(1)
    if db.engine.dialect.name == "postgresql":
        q = q.with_for_update()
    prev = db.session.scalar(q) or GENESIS
    row = AuditLog(
        at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_login=_sanitize(getattr(actor, "login_id", None)),
        ip=_sanitize(ip),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else _sanitize(str(target_id)),
        outcome=outcome,
        details=details,
        note=_sanitize(note, 2000),
        prev_hash=prev,
    )
    row.row_hash = compute_hash(prev, row)
    db.session.add(row)
    db.session.flush()
    return row


def verify_chain(batch: int = 5000) -> list[str]:
    """Walk the chain in id order; return one message per broken link (empty when intact).

    Each message starts with "row <id>:" naming the first row whose stored link or content does
    not match: an edited row is named itself, a deleted row is found at its successor, a reordered
    pair at the first row that moved.
    """
    problems: list[str] = []
    prev = GENESIS
    last_id = None
    first = True
    while True:
        q = select(AuditLog).order_by(AuditLog.id).limit(batch)
        if last_id is not None:
            q = q.where(AuditLog.id > last_id)
        rows = list(db.session.scalars(q))
        if not rows:
            break
        for row in rows:
            if first and row.prev_hash != GENESIS:
                # Rows before this one are gone: legitimate only when a purge recorded exactly this start.
                if not _purge_recorded(row.id):
                    problems.append(
                        f"row {row.id}: the rows before it were deleted (no audit.purge entry starts the chain here)"
                    )
                prev = row.prev_hash
            first = False
            if row.prev_hash != prev:
                after = f" after row {last_id}" if last_id is not None else ""
                problems.append(
                    f"row {row.id}: previous-hash link broken (a row{after} was deleted or rows were reordered)"
                )
            if compute_hash(row.prev_hash, row) != row.row_hash:
                problems.append(f"row {row.id}: content does not match its hash (the row was edited)")
            prev = row.row_hash
            last_id = row.id
    return problems


def count_rows() -> int:
    return db.session.scalar(select(db.func.count(AuditLog.id))) or 0


def _purge_recorded(first_id: int) -> bool:
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "audit.purge"))
    return any((r.details or {}).get("kept_from_id") == first_id for r in rows)


def purge_older_than(days: int, now: datetime | None = None) -> int:
    """Delete the rows older than `days` whole days (never below 180); returns the count.

    Only a prefix of the chain is deleted (every row before the first one still within the period),
    so the remaining rows still verify; the purge itself is an audit row naming where the chain now
    starts, which `verify_chain` requires.
    """
    if days < 180:
        raise ValueError("audit retention must be at least 180 days")
    # Whole days: a row from the day exactly `days` days ago is kept for the whole of that day.
    cutoff = ((now or utcnow()) - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    first_kept = db.session.scalar(select(db.func.min(AuditLog.id)).where(AuditLog.at >= cutoff))
    q = db.delete(AuditLog)
    if first_kept is not None:
        q = q.where(AuditLog.id < first_kept)
    count = db.session.execute(q.execution_options(synchronize_session=False)).rowcount or 0
    if count:
        # When every row was older, the table is empty and this row starts a new chain from GENESIS.
        log(
            "audit.purge",
            details={"deleted": count, "retention_days": days, "cutoff": cutoff.isoformat(),
                     "kept_from_id": first_kept},
        )
    return count
