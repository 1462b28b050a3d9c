"""Housekeeping of the login tables (run by `flask lms worker`): expired sessions, old attempts."""
from __future__ import annotations

import logging

from huey import crontab

from lms.tasks import app_periodic_task

log = logging.getLogger(__name__)


@app_periodic_task(crontab(minute="17"))
def prune_auth_tables():
    """Hourly: delete sessions past their limits and login attempts older than a day (PI-07 residual data)."""
    from lms.auth import services, sessions
    from lms.extensions import db

    ended = sessions.prune_expired()
    attempts = services.prune_login_attempts()
    db.session.commit()
    log.info("pruned %d expired sessions and %d old login attempts", ended, attempts)
