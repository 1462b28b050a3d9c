"""`flask lms credits-recompute`: re-price a year's credit-hour entries after a rule change."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from lms.cli import lms_group


@lms_group.command("credits-recompute")
@click.option("--year", type=int, required=True, help="年度 / the year to recompute")
@click.option("--unit", "unit_id", type=int, default=None, help="组织 ID（含下级）/ org unit id (subtree); all when omitted")
@with_appcontext
def credits_recompute(year: int, unit_id: int | None):
    """按现行学时规则重算某年度的学时记录（不改动学习证据）。"""
    from lms import audit
    from lms.credits import services
    from lms.extensions import db
    from lms.org.models import OrgUnit

    if unit_id is not None and db.session.get(OrgUnit, unit_id) is None:
        raise click.BadParameter(f"组织 {unit_id} 不存在 / no org unit with id {unit_id}", param_hint="--unit")
    stats = services.recompute(unit_id, year)
    audit.log("credits.recompute", target_type="org_unit", target_id=unit_id, details={"year": year, **stats},
              note="cli")
    db.session.commit()
    click.echo(f"updated={stats['updated']} created={stats['created']} removed={stats['removed']} "
               f"unchanged={stats['unchanged']}")
