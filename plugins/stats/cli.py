"""`flask lms stats-check`: recompute the statistics from the xAPI statements and report any difference."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


@click.command("stats-check")
@click.option("--year", type=int, default=None, help="年度（北京时间），默认今年 / calendar year, default this year.")
@click.option("--unit", "unit_id", type=int, default=None, help="只核对该党组织及其下级 / only this org unit's subtree.")
@with_appcontext
def stats_check(year: int | None, unit_id: int | None):
    """核对统计数据与学习记录语句是否一致（不一致时退出码为 1）。"""
    from lms.extensions import db
    from lms.org.models import OrgUnit
    from lms.plugins import plugin_enabled
    from plugins.stats import checks
    from plugins.stats.services import local_year

    if not plugin_enabled("stats"):
        click.echo("统计插件（stats）未启用 / the stats plugin is not enabled.", err=True)
        sys.exit(2)
    year = year or local_year()
    if unit_id is not None and db.session.get(OrgUnit, unit_id) is None:
        click.echo(f"没有编号为 {unit_id} 的党组织 / no org unit {unit_id}.", err=True)
        sys.exit(2)
    try:
        report = checks.run(year, unit_id)
    except checks.CheckUnavailable as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    counts = "，".join(f"{k} {v}" for k, v in report.checked.items())
    if report.ok:
        click.echo(f"{year} 年度统计数据与学习记录语句一致（已核对：{counts}）。")
        return
    click.echo(f"{year} 年度统计数据与学习记录语句有 {len(report.differences)} 处不一致（已核对：{counts}）：")
    for line in checks.describe(report):
        click.echo("  " + line)
    sys.exit(1)
