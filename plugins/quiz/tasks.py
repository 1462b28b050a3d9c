"""Periodic work: submit attempts whose deadline passed, remove stale import uploads."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from flask import current_app
from huey import crontab

from lms.tasks import app_periodic_task

log = logging.getLogger(__name__)


@app_periodic_task(crontab(minute="*"))
def quiz_submit_overdue():
    """Attempts left open past their deadline (closed tab, lost network) are submitted with what was saved;
    closed attempts whose grading waited for the quiz to close are graded."""
    from plugins.quiz.services import finalize_overdue, grade_due_attempts

    n = finalize_overdue()
    if n:
        log.info("auto-submitted %s overdue quiz attempts", n)
    graded = grade_due_attempts()
    if graded:
        log.info("graded %s closed quiz attempts", graded)
    purge_import_uploads()
    return n


def purge_import_uploads(max_age_seconds: int = 86400) -> int:
    folder = Path(current_app.instance_path) / "quiz-imports"
    if not folder.is_dir():
        return 0
    removed = 0
    for f in folder.iterdir():
        if f.is_file() and time.time() - f.stat().st_mtime > max_age_seconds:
            f.unlink(missing_ok=True)
            removed += 1
    return removed
