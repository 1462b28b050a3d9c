"""Background work of the xAPI plugin: forwarding the outbox to the external LRS."""
from __future__ import annotations

import logging

from huey import crontab

from lms.tasks import app_periodic_task, app_task

log = logging.getLogger(__name__)


@app_task(retries=3, retry_delay=30)
def forward_statements():
    """Send what is due now (failures stay in the outbox with their back-off)."""
    from plugins.xapi.forwarding import send_pending

    return send_pending()


@app_periodic_task(crontab(minute="*"))
def forward_statements_periodically():
    """Pick up rows whose back-off has passed and rows queued outside a request (CLI, event path)."""
    from flask import current_app

    if not current_app.config.get("XAPI_FORWARD_URL"):
        return (0, 0)
    from plugins.xapi.forwarding import send_pending

    return send_pending()


@app_periodic_task(crontab(minute="17"))
def refresh_query_statistics():
    """Hourly: the planner statistics of the statement tables (SQLite)."""
    from plugins.xapi.services import refresh_statistics

    refresh_statistics()
