"""Background work of the credits area: recomputing a large subtree after a rule change."""
from __future__ import annotations

import logging

from lms.tasks import app_task

log = logging.getLogger(__name__)


@app_task(retries=2, retry_delay=30)
def recompute_task(org_unit_id: int | None, year: int, actor_id: int | None = None) -> dict:
    from lms import audit
    from lms.accounts.models import User
    from lms.credits import services
    from lms.extensions import db

    stats = services.recompute(org_unit_id, year)
    actor = db.session.get(User, actor_id) if actor_id else None
    audit.log("credits.recompute", target_type="org_unit", target_id=org_unit_id, actor=actor,
              details={"year": year, **stats}, note="task")
    db.session.commit()
    return stats
