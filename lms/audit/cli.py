"""`flask lms audit-check`, `audit-purge`, `audit-grants` and `integrity-check` (PI-04 record seals)."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from lms.audit import services
from lms.cli import lms_group
from lms.extensions import db


@lms_group.command("audit-check")
@with_appcontext
def audit_check_command():
    """Verify the audit log's hash chain; exit status 1 and the damaged rows when it was tampered with."""
    problems = services.verify_chain()
    if problems:
        for p in problems:
            click.echo(f"TAMPERED {p}", err=True)
        click.echo(f"audit chain BROKEN: {len(problems)} problem(s)", err=True)
        raise SystemExit(1)
    click.echo(f"audit chain OK: {services.count_rows()} row(s) verified")


@lms_group.command("audit-purge")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Keep this many days (default AUDIT_RETENTION_DAYS; never below 180, 网络安全法 第二十一条).",
)
@with_appcontext
def audit_purge_command(days: int | None):
    """Delete audit rows older than the retention period (the purge is itself audited)."""
    days = days if days is not None else int(current_app.config["AUDIT_RETENTION_DAYS"])
    if days < 180:
        raise click.BadParameter("retention must be at least 180 days", param_hint="--days")
    count = services.purge_older_than(days)
    db.session.commit()
    click.echo(f"audit purge: {count} row(s) older than {days} days deleted")


@lms_group.command("audit-grants")
@click.argument("app_role")
@click.option("--purge-role", default=None, help="A separate role that alone may run audit-purge.")
@click.option("--apply", "apply_", is_flag=True, help="Run the statements (as the owner of the tables).")
@with_appcontext
def audit_grants_command(app_role: str, purge_role: str | None, apply_: bool):
    """PostgreSQL: print (or --apply) the GRANTs for an application role that cannot rewrite the audit log."""
    if db.engine.dialect.name != "postgresql":
        raise click.UsageError("audit-grants is for PostgreSQL; on SQLite the triggers alone guard audit_log")
    try:
        statements = services.grant_statements(app_role, purge_role)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not apply_:
        click.echo("-- run as the owner of the tables (the role that runs `flask db upgrade`), after every upgrade")
        for sql in statements:
            click.echo(sql + ";")
        return
    from sqlalchemy import text

    with db.engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql))
    click.echo(f"granted: {app_role}" + (f", purge role {purge_role}" if purge_role else ""))


@lms_group.command("integrity-check")
@click.option("--seal-missing", is_flag=True,
              help="First seal the rows that have no seal yet (rows written before the upgrade that added "
                   "sealing); audited. Run it once after that upgrade, never to silence a report.")
@with_appcontext
def integrity_check_command(seal_missing: bool):
    """PI-04: verify the HMAC seal of every important record (credit hours, completions, grades).

    Exit status 1 with a line per tampered record; 2 when only unsealed rows were found; 0 otherwise.
    """
    from lms import audit, integrity

    if seal_missing:
        counts = integrity.seal_missing()
        audit.log("integrity.seal_missing", details={"sealed": counts})
        db.session.commit()
        for name, n in counts.items():
            click.echo(f"{name}: {n} unsealed row(s) sealed")
    result = integrity.check_all()
    db.session.rollback()  # read-only: end the read transaction
    for line in result.tampered:
        click.echo(f"TAMPERED {line}", err=True)
    for name, ids in result.unsealed.items():
        if ids:
            shown = ", ".join(str(i) for i in ids[:20]) + (" …" if len(ids) > 20 else "")
            click.echo(f"UNSEALED {name}: {len(ids)} row(s) without a seal (ids {shown}); rows written before "
                       "the upgrade that added sealing are sealed once with --seal-missing", err=True)
    unsealed = sum(len(ids) for ids in result.unsealed.values())
    if result.tampered:
        click.echo(f"integrity BROKEN: {len(result.tampered)} tampered record(s), {unsealed} unsealed, "
                   f"of {result.checked} record(s)", err=True)
        raise SystemExit(1)
    if unsealed:
        click.echo(f"integrity INCOMPLETE: {unsealed} unsealed record(s) of {result.checked}", err=True)
        raise SystemExit(2)
    old = f"; {result.old_key} sealed with an older key (flask lms data-key-rotate re-seals them)" \
        if result.old_key else ""
    click.echo(f"ok {result.checked} records{old}")
