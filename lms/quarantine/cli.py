"""`flask lms quarantine list|delete|release ID`: the quarantine page's actions for the console."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from lms.cli import lms_group


def _actor(login_id: str | None):
    from sqlalchemy import select

    from lms.accounts.models import User
    from lms.extensions import db

    if not login_id:
        raise click.UsageError("--by LOGIN_ID (a system administrator) is required: the decision is audited")
    user = db.session.scalar(select(User).where(User.login_id == login_id))
    if user is None or not user.is_sysadmin:
        raise click.UsageError(f"{login_id!r} is not a system administrator's login id")
    return user


def _row(file_id: int):
    from lms.extensions import db
    from lms.quarantine.models import QuarantinedFile

    row = db.session.get(QuarantinedFile, file_id)
    if row is None:
        raise click.UsageError(f"no quarantined file with id {file_id}")
    return row


@lms_group.group("quarantine", help="隔离的上传文件 / Uploads a malware scan did not pass (UP-09).")
def quarantine_group():
    pass


@quarantine_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also released and deleted files.")
@with_appcontext
def list_command(show_all: bool):
    from lms.extensions import db
    from lms.quarantine import services

    rows = list(db.session.scalars(services.listing(None if show_all else "held")))
    if not rows:
        click.echo("no quarantined files")
    for r in rows:
        click.echo(f"{r.id}\t{r.status}\t{r.created_at:%Y-%m-%d %H:%M}\t{r.kind}\t{r.reason}\t"
                   f"{r.signature or '-'}\t{r.size}\t{r.sha256[:16]}\t{r.filename}")


@quarantine_group.command("delete")
@click.argument("file_id", type=int)
@click.option("--by", "login_id", help="Login id of the system administrator deciding (audited).")
@click.option("--note", default="", help="Why.")
@with_appcontext
def delete_command(file_id: int, login_id: str | None, note: str):
    from lms.extensions import db
    from lms.quarantine import services

    actor = _actor(login_id)
    try:
        services.delete(_row(file_id), actor, note)
    except services.QuarantineError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"quarantined file {file_id} deleted")


@quarantine_group.command("release")
@click.argument("file_id", type=int)
@click.option("--by", "login_id", help="Login id of the system administrator deciding (audited).")
@click.option("--override", is_flag=True, help="Release although a new scan does not say clean (needs --note).")
@click.option("--note", default="", help="Why (required with --override).")
@with_appcontext
def release_command(file_id: int, login_id: str | None, override: bool, note: str):
    from lms.extensions import db
    from lms.quarantine import services

    actor = _actor(login_id)
    try:
        done = services.release(_row(file_id), actor, override=override, note=note)
    except services.QuarantineError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    if done.after_commit:
        done.after_commit()
    click.echo(f"quarantined file {file_id} released (new scan: {done.rescan.status})")
