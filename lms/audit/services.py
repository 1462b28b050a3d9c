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
from sqlalchemy import select, text

from lms.audit.models import AuditLog, AuditPurgePermit
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
    _lock_chain_head()
    prev = db.session.scalar(select(AuditLog.row_hash).order_by(AuditLog.id.desc()).limit(1)) or GENESIS
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


# pg_advisory_xact_lock key of the audit chain head ("lmsA").
CHAIN_LOCK_KEY = 0x6C6D7341


def _lock_chain_head() -> None:
    """Serialise audit writers until the end of the transaction, before the head is read.

    Locking the last row (`SELECT … FOR UPDATE`) is not enough on PostgreSQL: a writer that waited
    for the lock gets the old head back, not the row the other writer just added, and the chain
    forks. It would also need the UPDATE privilege that the application role must not have. An
    advisory lock taken first makes the next statement see the other writer's committed row. On
    SQLite a write statement that changes nothing takes the database's write lock just the same
    (outside an explicit transaction a plain SELECT would read a head another process is replacing).
    """
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
    elif dialect == "sqlite":
        db.session.execute(text("DELETE FROM audit_purge_permit WHERE 0"))


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

    The database refuses to delete audit rows by any other route (migration core_0002): the purge
    first inserts an `audit_purge_permit` row covering exactly this prefix (refused by the database
    when its cutoff is less than 180 days old by the database's clock), deletes, then removes the
    permit, all in the caller's transaction.
    """
    if days < 180:
        raise ValueError("audit retention must be at least 180 days")
    # Whole days: a row from the day exactly `days` days ago is kept for the whole of that day.
    cutoff = ((now or utcnow()) - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    first_kept = db.session.scalar(select(db.func.min(AuditLog.id)).where(AuditLog.at >= cutoff))
    below = first_kept if first_kept is not None else (db.session.scalar(select(db.func.max(AuditLog.id))) or 0) + 1
    if db.session.scalar(select(AuditLog.id).where(AuditLog.id < below).limit(1)) is None:
        return 0
    permit = AuditPurgePermit(below_id=below, cutoff=cutoff, created_at=utcnow())
    db.session.add(permit)
    db.session.flush()
    q = db.delete(AuditLog).where(AuditLog.id < below)
    count = db.session.execute(q.execution_options(synchronize_session=False)).rowcount or 0
    db.session.delete(permit)
    db.session.flush()
    if count:
        # When every row was older, the table is empty and this row starts a new chain from GENESIS.
        log(
            "audit.purge",
            details={"deleted": count, "retention_days": days, "cutoff": cutoff.isoformat(),
                     "kept_from_id": first_kept},
        )
    return count


# --- PostgreSQL privileges of the application role -------------------------------------------------------
_ROLE_RE = __import__("re").compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_statements(app_role: str, purge_role: str | None = None, schema: str = "public") -> list[str]:
    """SQL (run by the owner of the tables) that lets `app_role` use the database but never rewrite the audit log.

    The application role gets every table except UPDATE, TRUNCATE (and DELETE beyond what the
    triggers allow) on `audit_log`. Without `purge_role` it keeps DELETE on `audit_log` and the
    permit table, so the worker's daily purge runs as the application (the triggers still refuse any
    row younger than 180 days). With `purge_role` only that role may purge; the application role
    has just SELECT and INSERT on `audit_log`, and the worker's purge must be switched off
    (`AUDIT_PURGE_IN_WORKER = False`; run `flask lms audit-purge` as the purge role from cron).
    The application role must not own the tables: an owner can drop the triggers.
    """
    for role in (app_role, purge_role, schema):
        if role is not None and not _ROLE_RE.match(role):
            raise ValueError(f"not a plain PostgreSQL name: {role!r}")
    app, sch = f'"{app_role}"', f'"{schema}"'
    audit_tables = "audit_log, audit_purge_permit"
    sql = [
        f"GRANT USAGE ON SCHEMA {sch} TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {sch} TO {app}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {sch} TO {app}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {audit_tables} FROM {app}",
    ]
    if purge_role is None:
        sql.append(f"GRANT DELETE ON {audit_tables} TO {app}")
    else:
        purge = f'"{purge_role}"'
        sql += [
            f"REVOKE INSERT ON audit_purge_permit FROM {app}",
            f"GRANT USAGE ON SCHEMA {sch} TO {purge}",
            f"GRANT SELECT, INSERT, DELETE ON {audit_tables} TO {purge}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {sch} TO {purge}",
        ]
    return sql
