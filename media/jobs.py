"""Job state in the database: claim, heartbeat, finish and reap, each one conditional UPDATE.

The queue (Huey) only delivers "run job N"; the database row decides. A delivery claims a job only
when it is `queued` (a second delivery is `skipped`), every write of a running attempt names its
attempt number (an attempt that was declared dead can no longer report or publish), and the reaper
turns a `running` job whose heartbeat went silent (worker killed with -9, machine lost) back into
`queued` so a live worker runs it again, until its attempts are used up.

The functions take the SQLAlchemy session and the job model (columns: id, state, attempt,
max_attempts, progress, error, worker, heartbeat_at, started_at, finished_at) and commit.
"""
from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import select, update

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def claim(session, Job, job_id: int, now: datetime, worker: str | None = None) -> int | None:
    """Take a queued job; returns the new attempt number, or None when someone else has it."""
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == QUEUED)
        .values(state=RUNNING, attempt=Job.attempt + 1, worker=worker or worker_id(), heartbeat_at=now,
                started_at=now, progress=0.0, error=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if res.rowcount != 1:
        return None
    return session.scalar(select(Job.attempt).where(Job.id == job_id))


def heartbeat(session, Job, job_id: int, attempt: int, now: datetime, progress: float | None = None) -> bool:
    """Report life (and progress); False when the attempt lost the job (cancelled or reaped)."""
    values: dict = {"heartbeat_at": now}
    if progress is not None:
        values["progress"] = round(float(progress), 1)
    res = session.execute(
        update(Job).where(Job.id == job_id, Job.attempt == attempt, Job.state == RUNNING).values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def finish(session, Job, job_id: int, attempt: int, state: str, now: datetime, error: str | None = None,
           commit: bool = True, **values) -> bool:
    """End a running attempt as done/failed/queued (retry); False when the attempt no longer owns it."""
    vals = dict(values, state=state, error=error, heartbeat_at=now)
    if state in (DONE, FAILED):
        vals["finished_at"] = now
    if state == DONE:
        vals["progress"] = 100.0
    res = session.execute(
        update(Job).where(Job.id == job_id, Job.attempt == attempt, Job.state == RUNNING).values(**vals)
        .execution_options(synchronize_session=False)
    )
    if commit:
        session.commit()
    return res.rowcount == 1


def cancel(session, Job, job_id: int, now: datetime) -> bool:
    res = session.execute(
        update(Job).where(Job.id == job_id, Job.state.in_(ACTIVE))
        .values(state=CANCELLED, finished_at=now, error=None).execution_options(synchronize_session=False)
    )
    return res.rowcount == 1


def reap(session, Job, now: datetime, stale_after: float) -> tuple[list[int], list[int]]:
    """Running jobs whose heartbeat is older than `stale_after` s: back to queued, or failed when
    their attempts are used up. Returns (requeued ids, failed ids)."""
    cutoff = now - timedelta(seconds=stale_after)
    stale = list(session.execute(
        select(Job.id, Job.attempt, Job.max_attempts).where(Job.state == RUNNING, Job.heartbeat_at < cutoff)
    ))
    requeued, failed = [], []
    for job_id, attempt, max_attempts in stale:
        retry = attempt < max_attempts
        res = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.attempt == attempt, Job.state == RUNNING, Job.heartbeat_at < cutoff)
            .values(state=QUEUED if retry else FAILED, worker=None,
                    error=f"worker stopped responding (attempt {attempt})",
                    finished_at=None if retry else now)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount == 1:
            (requeued if retry else failed).append(job_id)
    session.commit()
    return requeued, failed
