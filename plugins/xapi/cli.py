"""`flask xapi …`: LRS clients, forwarding replay."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from lms.extensions import db


@click.group("xapi", help="学习记录库（xAPI）管理 / xAPI learning record store.")
def xapi_group():
    pass


@xapi_group.command("create-client")
@click.argument("name")
@click.option("--scope", default="read,write", show_default=True, help="read, write or read,write")
@click.option("--json", "as_json", is_flag=True, help='Print {"key": …, "secret": …, "expires_at": …} as JSON.')
@with_appcontext
def create_client_command(name: str, scope: str, as_json: bool):
    """Create an HTTP Basic credential for the LRS; the secret is shown once."""
    from plugins.xapi.clients import create_client

    scopes = {s.strip() for s in scope.split(",") if s.strip()}
    unknown = scopes - {"read", "write"}
    if unknown or not scopes:
        raise click.BadParameter("scope must be read, write or read,write", param_hint="--scope")
    client, secret = create_client(name, read="read" in scopes, write="write" in scopes)
    db.session.commit()
    if as_json:
        click.echo(json.dumps({"key": client.key, "secret": secret,
                               "expires_at": client.expires_at.replace(microsecond=0).isoformat() + "Z"}))
    else:
        click.echo(f"key:     {client.key}\nsecret:  {secret}\nexpires: {client.expires_at:%Y-%m-%d %H:%M} UTC\n"
                   "(the secret is not shown again)")


@xapi_group.command("revoke-client")
@click.argument("key")
@with_appcontext
def revoke_client_command(key: str):
    """Revoke a credential by its key."""
    from sqlalchemy import select

    from plugins.xapi.clients import revoke_client
    from plugins.xapi.models import XapiClient

    client = db.session.scalar(select(XapiClient).where(XapiClient.key == key))
    if client is None:
        raise click.ClickException(f"no client with key {key}")
    revoke_client(client)
    db.session.commit()
    click.echo(f"revoked {client.name} ({key})")


def _when(value: str | None, name: str):
    if value is None:
        return None
    from plugins.xapi.validation import ValidationError, parse_timestamp

    text = value if "T" in value else value + "T00:00:00Z"
    try:
        return parse_timestamp(text, name)
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{name}") from None


@xapi_group.command("replay")
@click.option("--since", help="Stored at or after (ISO 8601, e.g. 2026-01-01 or 2026-01-01T08:00:00+08:00).")
@click.option("--until", help="Stored at or before (ISO 8601).")
@click.option("--send/--queue-only", default=True, show_default=True, help="Send now or leave it to the worker.")
@with_appcontext
def replay_command(since: str | None, until: str | None, send: bool):
    """Forward the statements stored in a time range to the external LRS again."""
    from flask import current_app

    from plugins.xapi.forwarding import replay, send_pending

    if not current_app.config.get("XAPI_FORWARD_URL"):
        raise click.ClickException("XAPI_FORWARD_URL is not configured")
    n = replay(_when(since, "since"), _when(until, "until"))
    db.session.commit()
    click.echo(f"queued {n} statements")
    if send:
        sent, failed = send_pending()
        click.echo(f"sent {sent}, still pending {failed}")


@xapi_group.command("optimize")
@with_appcontext
def optimize_command():
    """Refresh the query planner's statistics of the statement tables (also done hourly by the worker)."""
    from plugins.xapi.services import refresh_statistics

    refresh_statistics()
    click.echo("statistics refreshed")
