"""Daily audit retention run (the same as `flask lms audit-purge`)."""
from __future__ import annotations

import logging

from flask import current_app
from huey import crontab

from lms.tasks import app_periodic_task

log = logging.getLogger(__name__)


@app_periodic_task(crontab(minute="41", hour="3"))
def purge_audit_log():
    from lms.audit.services import purge_older_than
    from lms.extensions import db

    if not current_app.config.get("AUDIT_PURGE_IN_WORKER", True):
        log.info("audit retention: left to `flask lms audit-purge` run as the purge role (AUDIT_PURGE_IN_WORKER off)")
        return
    days = int(current_app.config["AUDIT_RETENTION_DAYS"])
    count = purge_older_than(days)
    db.session.commit()
    log.info("audit retention: %d rows older than %d days deleted", count, days)
