"""Queue tasks of the micro-lecture plugin: the transcode, and the reaper that rescues dead workers' jobs.

The reaper runs in a thread of every worker process (started when the Huey consumer starts), so a
job whose worker was killed with -9 is picked up again without waiting for a periodic schedule.
"""
from __future__ import annotations

import logging
import threading
import time

from lms import tasks as lms_tasks
from lms.tasks import app_task, huey

log = logging.getLogger(__name__)


@app_task()
def transcode_task(job_id: int) -> str:
    from plugins.microlecture.services import run_job

    return run_job(job_id)


@app_task()
def demo_transcode_task(job_id: int, reviewer_id: int | None) -> str:
    """`flask lms demo`'s lecture: the same transcode, then the demo reviewer approves it."""
    from plugins.microlecture.demo import transcode_and_publish

    return transcode_and_publish(job_id, reviewer_id)


_reaper_started = threading.Event()


def _reaper_loop(app) -> None:
    from lms.extensions import db
    from plugins.microlecture.services import reap

    interval = float(app.config.get("MICROLECTURE_REAPER_SECONDS", 15))
    while True:
        try:
            with app.app_context():
                reap()
                db.session.remove()
        except Exception:  # the reaper must outlive a database hiccup
            log.exception("micro-lecture reaper failed; trying again in %.0f s", interval)
        time.sleep(interval)


@huey.on_startup()
def start_reaper() -> None:
    """One reaper thread per worker process (this hook runs once per consumer thread)."""
    app = lms_tasks._worker_app
    if app is None or huey.immediate or _reaper_started.is_set():
        return
    if "microlecture" not in app.extensions.get("lms_plugins").enabled:
        return
    _reaper_started.set()
    threading.Thread(target=_reaper_loop, args=(app,), name="microlecture-reaper", daemon=True).start()
    log.info("micro-lecture reaper started")
