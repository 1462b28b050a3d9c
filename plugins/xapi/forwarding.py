"""Forwarding stored statements to an external LRS (XAPI_FORWARD_URL) through a database outbox.

Rows are written in the storing transaction, sent by a Huey task with tincan's RemoteLRS, and kept
(with a growing back-off) until the external LRS acknowledges them, so a down LRS loses nothing and
slows no request: the request only inserts a row. A sender first claims its batch with one conditional
UPDATE (the rows' next attempt moves CLAIM into the future), so two deliveries of the task running at
the same time (two workers, the periodic run and the after-request run) never send a row twice; the rows
of a sender that died are due again once the claim has run out.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from flask import current_app, g, has_request_context
from sqlalchemy import insert, select, update
from tincan import RemoteLRS, StatementList

from lms.extensions import db
from lms.timeutil import utcnow
from plugins.xapi.models import XapiOutbox, XapiStatement

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=1)
CLAIM = timedelta(minutes=10)  # longer than any send of one batch


def enabled() -> bool:
    return bool(current_app.config.get("XAPI_FORWARD_URL"))


def enqueue(statement_ids: list[str]) -> None:
    if not statement_ids or not enabled():
        return
    now = utcnow()
    db.session.execute(insert(XapiOutbox), [{"statement_id": sid, "created_at": now, "next_attempt_at": now,
                                             "attempts": 0} for sid in statement_ids])
    if has_request_context():
        g.xapi_forward_pending = True  # the after-request hook starts the sender once the request is done


class _RawStatements(StatementList):
    """A StatementList that sends our stored JSON as is (tincan would re-serialize and drop what it does not model)."""

    def __init__(self, raw_json: str):
        super().__init__()
        object.__setattr__(self, "_raw", raw_json)  # tincan objects only accept their modelled properties

    def to_json(self, *args, **kwargs) -> str:
        return self._raw


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=15 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _claim(now: datetime, batch: int) -> list[XapiOutbox]:
    """Take up to `batch` due rows for this sender (commits); rows another sender claimed first are left out."""
    due = (XapiOutbox.sent_at.is_(None), XapiOutbox.next_attempt_at <= now)
    ids = list(db.session.scalars(select(XapiOutbox.id).where(*due).order_by(XapiOutbox.id).limit(batch)))
    if not ids:
        return []
    claimed = list(db.session.scalars(
        update(XapiOutbox).where(XapiOutbox.id.in_(ids), *due).values(next_attempt_at=utcnow() + CLAIM)
        .returning(XapiOutbox.id).execution_options(synchronize_session=False)
    ))
    db.session.commit()
    if not claimed:
        return []
    return list(db.session.scalars(select(XapiOutbox).where(XapiOutbox.id.in_(claimed)).order_by(XapiOutbox.id)))


def send_pending(batch: int = 100, now: datetime | None = None) -> tuple[int, int]:
    """Send due outbox rows in batches; returns (sent, failed). Commits after each batch."""
    cfg = current_app.config
    if not cfg.get("XAPI_FORWARD_URL"):
        return 0, 0
    lrs = RemoteLRS(endpoint=cfg["XAPI_FORWARD_URL"], username=cfg.get("XAPI_FORWARD_KEY"),
                    password=cfg.get("XAPI_FORWARD_SECRET"), version="1.0.3")
    sent = failed = 0
    while True:
        now = now or utcnow()
        rows = _claim(now, batch)
        if not rows:  # nothing due, or another sender has just claimed it
            break
        data = dict(db.session.execute(
            select(XapiStatement.statement_id, XapiStatement.data)
            .where(XapiStatement.statement_id.in_([r.statement_id for r in rows]))
        ).all())
        # one row per statement in a batch (a replay may have queued a statement twice)
        # ASCII-only JSON (\uXXXX escapes): tincan hands http.client a str body, which it encodes as Latin-1.
        body = json.dumps([json.loads(d) for d in dict.fromkeys(data[r.statement_id] for r in rows)],
                          ensure_ascii=True, separators=(",", ":"))
        try:
            resp = lrs.save_statements(_RawStatements(body))
            ok = resp.success
            error = None if ok else f"HTTP {resp.response.status}: {resp.data[:200]!r}"
        except Exception as exc:  # any failure to deliver keeps the rows for the next attempt
            ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
        stamp = utcnow()
        for r in rows:
            r.attempts += 1
            if ok:
                r.sent_at = stamp
                r.last_error = None
            else:
                r.last_error = error
                r.next_attempt_at = stamp + backoff(r.attempts)
        db.session.commit()
        if ok:
            sent += len(rows)
        else:
            failed += len(rows)
            log.warning("forwarding to the external LRS failed (%s rows kept): %s", len(rows), error)
            break
    return sent, failed


def replay(since: datetime | None, until: datetime | None) -> int:
    """Queue again every statement stored in [since, until] (the caller commits); returns how many."""
    q = select(XapiStatement.statement_id).order_by(XapiStatement.id)
    if since is not None:
        q = q.where(XapiStatement.stored >= since)
    if until is not None:
        q = q.where(XapiStatement.stored <= until)
    pending = set(db.session.scalars(select(XapiOutbox.statement_id).where(XapiOutbox.sent_at.is_(None))))
    sids = [sid for sid in db.session.scalars(q) if sid not in pending]
    now = utcnow()
    for i in range(0, len(sids), 1000):
        db.session.execute(insert(XapiOutbox), [{"statement_id": sid, "created_at": now, "next_attempt_at": now,
                                                 "attempts": 0} for sid in sids[i:i + 1000]])
    return len(sids)


def stats() -> dict:
    from sqlalchemy import func

    pending = db.session.scalar(select(func.count()).select_from(XapiOutbox).where(XapiOutbox.sent_at.is_(None)))
    last_error = db.session.scalar(
        select(XapiOutbox.last_error).where(XapiOutbox.sent_at.is_(None), XapiOutbox.last_error.is_not(None))
        .order_by(XapiOutbox.id.desc()).limit(1)
    )
    return {"pending": pending or 0, "last_error": last_error}
