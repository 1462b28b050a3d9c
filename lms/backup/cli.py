"""`flask lms backup`, `backup-check` (the restore drill) and `restore` (REL-06)."""
from __future__ import annotations

import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from lms import audit
from lms.backup import services
from lms.cli import lms_group
from lms.extensions import db

log = logging.getLogger(__name__)


def _audit(action: str, details: dict, outcome: str = "success", note: str | None = None) -> None:
    try:
        target = Path(str(details["file"])).name if details.get("file") else None
        audit.log(action, target_type="backup", target_id=target, details=details, outcome=outcome, note=note)
        db.session.commit()
    except Exception:
        if outcome == "success":
            raise
        # A failure is reported on the terminal anyway; a database that cannot take the row must not hide it.
        db.session.rollback()
        log.warning("could not audit the failed %s", action, exc_info=True)


@lms_group.command("backup")
@click.option("--to", "to_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the backup (default BACKUP_DIR, i.e. <instance>/backups).")
@click.option("--keep", type=int, default=None,
              help="Afterwards delete all but this many newest backups in that folder.")
@with_appcontext
def backup_command(to_dir: Path | None, keep: int | None):
    """Back up the database (SQLite online backup / pg_dump -Fc) with a manifest of every table's rows."""
    app = current_app._get_current_object()
    try:
        result = services.create_backup(app, to_dir)
    except services.BackupError as exc:
        _audit("backup.create", {"error": str(exc)[:500]}, outcome="failure", note="flask lms backup")
        raise click.ClickException(str(exc)) from exc
    _audit("backup.create", {"file": str(result.path), "sha256": result.manifest["file_sha256"],
                             "tables": result.tables, "rows": result.rows}, note="flask lms backup")
    click.echo(str(result.path))
    click.echo(f"backup written: {result.tables} tables, {result.rows} rows, "
               f"{result.manifest['file_bytes']} bytes in {result.manifest['seconds']:.1f} s; "
               f"manifest {result.manifest_path.name}")
    if keep is not None:
        for removed in services.prune(result.path.parent, keep):
            click.echo(f"removed old backup {removed.name}")


@lms_group.command("backup-check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_check_command(file: Path):
    """Restore FILE into a scratch database and compare every table with its manifest (exit 1 on a difference)."""
    app = current_app._get_current_object()
    try:
        result = services.check_backup(app, file)
    except services.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    details = {"file": str(file), "tables": result.tables, "rows": result.rows, "seconds": round(result.seconds, 1)}
    if not result.ok:
        for problem in result.problems:
            click.echo(f"MISMATCH {problem}", err=True)
        _audit("backup.check", {**details, "problems": len(result.problems)}, outcome="failure")
        click.echo(f"backup check FAILED: {len(result.problems)} problem(s) in {file}", err=True)
        raise SystemExit(1)
    _audit("backup.check", details)
    click.echo(f"ok: {result.tables} tables, {result.rows} rows, restored in {result.seconds:.1f} s")


@lms_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Really replace everything in the configured database with FILE.")
@click.option("--allow-other-version", is_flag=True,
              help="Restore a backup made by another release (then run `flask db upgrade heads`).")
@with_appcontext
def restore_command(file: Path, yes: bool, allow_other_version: bool):
    """Replace the configured database's content with the backup FILE, then verify it against the manifest."""
    app = current_app._get_current_object()
    if not yes:
        raise click.UsageError(
            "restore replaces everything in the configured database with the backup. Stop the web server and the "
            "task worker first, make a backup of the current state if you may need it (flask lms backup), then "
            "run again with --yes.")
    try:
        result = services.restore_backup(app, file, allow_other_version=allow_other_version)
    except services.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    details = {"file": str(file), "tables": result.tables, "rows": result.rows}
    if not result.ok:
        for problem in result.problems:
            click.echo(f"MISMATCH {problem}", err=True)
        _audit("backup.restore", {**details, "problems": len(result.problems)}, outcome="failure")
        click.echo(f"restore FAILED verification: {len(result.problems)} problem(s); restore an earlier backup",
                   err=True)
        raise SystemExit(1)
    _audit("backup.restore", details, note="flask lms restore")
    click.echo(f"restored and verified: {result.tables} tables, {result.rows} rows in {result.seconds:.1f} s")
    if allow_other_version:
        click.echo("now run: flask --app wsgi db upgrade heads")
