"""The daily backup (BACKUP_SCHEDULE), keeping the BACKUP_KEEP newest in BACKUP_DIR."""
from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from huey import crontab
from huey.exceptions import TaskLockedException

from lms.tasks import app_periodic_task, huey

log = logging.getLogger(__name__)


# 18:23 UTC is 02:23 in China (Huey's schedules are UTC): the quietest hour of a school site.
@app_periodic_task(crontab(minute="23", hour="18"))
def daily_backup():
    from lms.backup import services

    app = current_app._get_current_object()
    if not services.schedule_enabled(app):
        return
    # Every consumer with a scheduler enqueues periodic tasks: with several workers on one queue only one backs up.
    try:
        with huey.lock_task("lms-daily-backup"):
            _daily_backup(app)
    except TaskLockedException:
        log.info("daily backup: another worker is making it")


def _daily_backup(app):
    from lms import audit
    from lms.backup import services
    from lms.extensions import db

    made = services.complete_backups(services.backup_dir(app))
    if made and dt.datetime.now(dt.UTC) - services.backup_time(made[0]) < dt.timedelta(hours=1):
        log.info("daily backup: %s is less than an hour old (another worker's run)", made[0].name)
        return
    try:
        result = services.create_backup(app)
    except Exception as exc:
        log.exception("daily backup failed")
        audit.log("backup.create", target_type="backup", outcome="failure", details={"error": str(exc)[:500]},
                  note="daily backup")
        db.session.commit()
        return
    removed = services.prune(result.path.parent, int(app.config.get("BACKUP_KEEP", 7)))
    audit.log("backup.create", target_type="backup", target_id=result.path.name, note="daily backup",
              details={"file": str(result.path), "sha256": result.manifest["file_sha256"],
                       "tables": result.tables, "rows": result.rows, "pruned": len(removed)})
    db.session.commit()
    log.info("daily backup: %s (%d rows), %d old file(s) removed", result.path, result.rows, len(removed))
