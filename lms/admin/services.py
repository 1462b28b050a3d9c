"""What the admin pages show: installed plugins with their state, and the system's facts (no secrets)."""
from __future__ import annotations

import logging
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

from lms.accounts.models import ROLES
from lms.plugins import Plugin, PluginRegistry

log = logging.getLogger(__name__)

# Packages whose versions the system page lists (the ones a bug report needs).
REPORTED_PACKAGES = ("flask", "sqlalchemy", "alembic", "flask-migrate", "huey", "pluggy", "gunicorn",
                     "psycopg", "redis")


@dataclass
class PluginInfo:
    name: str
    title: str
    version: str
    description: str
    requires: tuple[str, ...]
    uses: tuple[str, ...]
    enabled: bool
    has_migrations: bool
    required_by: list[str] = field(default_factory=list)  # installed plugins that cannot run without this one
    used_by: list[str] = field(default_factory=list)  # installed plugins that use it when present
    uses_missing: list[str] = field(default_factory=list)  # soft dependencies that are not enabled
    enable_setting: str = ""  # LMS_PLUGINS value that turns this plugin on (with what it requires)
    disable_setting: str = ""  # LMS_PLUGINS value that turns it off (with what requires it)
    disable_also: list[str] = field(default_factory=list)  # plugins switched off along with it


def _closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    """`start` and everything reachable from it through `edges`."""
    seen = {start}
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def plugin_infos(registry: PluginRegistry) -> list[PluginInfo]:
    """One row per installed plugin (enabled ones first, in load order), with how to switch it."""
    installed: dict[str, type[Plugin]] = registry.installed
    enabled = list(registry.enabled)
    requires = {n: set(c.requires) for n, c in installed.items()}
    required_by: dict[str, set[str]] = {n: set() for n in installed}
    used_by: dict[str, set[str]] = {n: set() for n in installed}
    for name, cls in installed.items():
        for dep in cls.requires:
            required_by.setdefault(dep, set()).add(name)
        for dep in cls.uses:
            used_by.setdefault(dep, set()).add(name)

    rows: list[PluginInfo] = []
    order = enabled + sorted(n for n in installed if n not in registry.enabled)
    for name in order:
        cls = installed[name]
        is_on = name in registry.enabled
        try:
            has_migrations = any((cls(name).migrations_dir / "versions").glob("*.py"))
        except (TypeError, AttributeError):  # a plugin class defined outside a real module
            has_migrations = False
        on_with = _closure(name, requires) & set(installed)
        off_with = _closure(name, required_by) & set(registry.enabled)
        rows.append(
            PluginInfo(
                name=name,
                title=cls.title or name,
                version=cls.version,
                description=cls.description,
                requires=tuple(cls.requires),
                uses=tuple(cls.uses),
                enabled=is_on,
                has_migrations=has_migrations,
                required_by=sorted(required_by.get(name, ())),
                used_by=sorted(used_by.get(name, ())),
                uses_missing=[u for u in cls.uses if u not in registry.enabled],
                enable_setting=",".join(sorted(set(enabled) | on_with)),
                disable_setting=",".join(n for n in sorted(enabled) if n not in off_with),
                disable_also=sorted(off_with - {name}),
            )
        )
    return rows


def plugins_setting(app: Flask) -> str | None:
    """The LMS_PLUGINS value in effect, or None when it is unset (every installed plugin is on)."""
    wanted = app.config.get("PLUGINS")
    if wanted is None:
        return None
    return ",".join(wanted)


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def database_info(engine) -> dict:
    """Kind, server version and location of the database, with any password removed."""
    url = make_url(str(engine.url))
    info = {"dialect": url.get_backend_name(), "driver": url.get_driver_name()}
    if info["dialect"] == "sqlite":
        info["kind"] = "SQLite"
        info["location"] = url.database or ":memory:"
        try:
            with engine.connect() as conn:
                info["server_version"] = conn.exec_driver_sql("select sqlite_version()").scalar()
                info["journal_mode"] = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        except Exception:  # the page must still show what it knows
            log.warning("could not query the SQLite database for the system page", exc_info=True)
    else:
        info["kind"] = {"postgresql": "PostgreSQL", "mysql": "MySQL"}.get(info["dialect"], info["dialect"])
        host = url.host or "localhost"
        info["location"] = f"{host}:{url.port or ''}/{url.database or ''}".replace(":/", "/")
        try:
            with engine.connect() as conn:
                ver = conn.exec_driver_sql("show server_version").scalar() if info["dialect"] == "postgresql" else None
                info["server_version"] = ver
        except Exception:
            log.warning("could not query the database server version for the system page", exc_info=True)
    return info


def queue_info(huey) -> dict:
    """Which Huey storage the task queue uses, without credentials."""
    kind = type(huey).__name__
    storage = getattr(huey, "storage", None)
    if "Redis" in kind:
        pool = getattr(getattr(storage, "conn", None), "connection_pool", None)
        kw = getattr(pool, "connection_kwargs", {}) or {}
        where = f"{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}" if kw else ""
        return {"kind": "Redis", "location": where, "immediate": bool(huey.immediate)}
    filename = getattr(storage, "filename", None)
    return {"kind": "SQLite", "location": filename or "", "immediate": bool(huey.immediate)}


def migration_status(app: Flask) -> dict:
    """Alembic heads of the code against the revisions applied to the database."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from lms.extensions import db

    try:
        config = app.extensions["migrate"].migrate.get_config()
        script = ScriptDirectory.from_config(config)
        heads = set(script.get_heads())
        with db.engine.connect() as conn:
            applied = set(MigrationContext.configure(conn).get_current_heads())
    except Exception:
        log.warning("could not read the migration state for the system page", exc_info=True)
        return {"known": False}
    known = {r.revision for r in script.walk_revisions()}
    # alembic_version keeps only leaves: a revision other branches depend on is applied but not listed.
    reached = applied_revisions(script, applied & known)
    branches = []
    for head in sorted(heads):
        rev = script.get_revision(head)
        label = ",".join(sorted(rev.branch_labels)) if rev.branch_labels else head
        branches.append({"branch": label, "head": head, "applied": head in reached})
    return {"known": True, "up_to_date": heads <= reached and applied <= known, "branches": branches,
            "unknown_applied": sorted(applied - known)}


def applied_revisions(script, applied: set[str]) -> set[str]:
    """Every revision the database has run, given the ids stored in alembic_version."""
    if not applied:
        return set()
    return {r.revision for r in script.revision_map.iterate_revisions(tuple(applied), "base")}


def system_info(app: Flask) -> dict:
    """Facts for the system page. Deliberately excludes SECRET_KEY, passwords and tokens."""
    from lms import __version__
    from lms.extensions import db

    media_root = Path(app.config["MEDIA_ROOT"])
    return {
        "env": app.config.get("ENV"),
        "base_url": app.config.get("BASE_URL"),
        "instance_path": app.instance_path,
        "database": database_info(db.engine),
        "queue": queue_info(app.extensions["huey"]),
        "media_root": str(media_root),
        "media_root_exists": media_root.is_dir(),
        "lms_version": __version__,
        "python_version": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "packages": [(name, _package_version(name)) for name in REPORTED_PACKAGES if _package_version(name)],
        "migrations": migration_status(app),
        "password_policy": app.config.get("PASSWORD_POLICY"),
        "totp_roles": [ROLES.get(r, (r,))[0] for r in app.config.get("TOTP_REQUIRED_ROLES") or []],
        "audit_retention_days": app.config.get("AUDIT_RETENTION_DAYS"),
    }
