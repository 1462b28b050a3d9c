"""Database engine set-up: SQLite in WAL mode with foreign keys, PostgreSQL through psycopg."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def configure_engine_options(app: Flask) -> None:
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    opts = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        # Several threads of one server process share the file; SQLite serialises writers itself.
        opts.setdefault("connect_args", {}).setdefault("timeout", 30)
        opts["connect_args"].setdefault("check_same_thread", False)
    elif uri.startswith("postgresql"):
        opts.setdefault("pool_pre_ping", True)
        opts.setdefault("pool_size", 10)
        opts.setdefault("max_overflow", 20)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = opts


def init_app(app: Flask) -> None:
    from lms.extensions import migrate

    if _configure_alembic not in migrate.configure_callbacks:
        migrate.configure(_configure_alembic)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL for concurrent readers with one writer, FULL sync so an acknowledged write survives a crash."""
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def version_locations(installed: dict | None = None) -> list[str]:
    """Core revisions plus the `migrations/versions` folder of every installed plugin (enabled or not)."""
    from lms.plugins import discover

    locations = [str(MIGRATIONS_DIR / "versions")]
    for cls in (installed or discover()).values():
        folder = cls().migrations_dir / "versions"
        if folder.is_dir():
            locations.append(str(folder))
    return locations


def _configure_alembic(config):
    import os

    from flask import current_app

    installed = current_app.extensions["lms_plugins"].installed
    config.set_main_option("version_locations", os.pathsep.join(version_locations(installed)))
    config.set_main_option("path_separator", "os")
    return config
