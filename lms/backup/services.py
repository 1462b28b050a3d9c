"""Backing up, checking and restoring the database (REL-06), without Flask request objects.

A backup is one file plus a manifest beside it (`<file>.manifest.json`): the time, the dialect, the Alembic
revisions the database had, the file's sha256, and for every table its row count and a content checksum
(sha256 over the rows in primary-key order, each value written in one normal form). The manifest is computed
from exactly what the file holds: from the copy itself (SQLite) or inside the snapshot pg_dump reads
(PostgreSQL). `check_backup` restores the file into a scratch database and compares every table with the
manifest; `restore_backup` does the same into the configured database.

Files are written under a `.partial` name and renamed when complete, the manifest last: a backup without
its manifest is not complete. Backups hold personal data: files are created mode 0600, the folder 0700.
The field-encryption key is never in a backup (it is not in the database); keep it apart from them.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
FORMAT = 1
NAME_RE = re.compile(r"^lms-(\d{8}T\d{6}Z)(?:-(\d+))?\.(sqlite3|dump)$")
FETCH_ROWS = 2000
PG_TOOL_TIMEOUT = 6 * 3600  # seconds; a dump or restore that runs longer than this is stuck


class BackupError(Exception):
    """A backup, check or restore that cannot go on; the message says why and what to do."""


@dataclass
class TableSum:
    rows: int
    sha256: str


@dataclass
class BackupResult:
    path: Path
    manifest_path: Path
    manifest: dict

    @property
    def tables(self) -> int:
        return len(self.manifest["tables"])

    @property
    def rows(self) -> int:
        return sum(t["rows"] for t in self.manifest["tables"].values())


@dataclass
class CheckResult:
    tables: int
    rows: int
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# --- content checksums --------------------------------------------------------------------------------------
def _normal(value):
    """One JSON-able form per value, whatever driver read it (raw DBAPI values, no SQLAlchemy types)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value.normalize()) if value.is_finite() else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return str(value)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def table_sums(conn: Connection) -> dict[str, TableSum]:
    """Row count and content checksum of every table the connection's database holds (its default schema)."""
    insp = inspect(conn)
    sums: dict[str, TableSum] = {}
    pg = conn.dialect.name == "postgresql"
    for name in sorted(insp.get_table_names()):
        if name.startswith("sqlite_"):
            continue
        columns = insp.get_columns(name)
        col_names = [c["name"] for c in columns]
        textual = {c["name"] for c in columns if _is_text(c["type"])}
        pk = insp.get_pk_constraint(name).get("constrained_columns") or []
        select_list = ", ".join(_quote(conn, c) for c in col_names)
        sql = f"SELECT {select_list} FROM {_quote(conn, name)}"  # noqa: S608  (names come from the catalogue)
        digest = hashlib.sha256()
        count = 0
        if pk:
            # A fixed byte order for text keys, whatever collation a restore's server or database has.
            order = ", ".join(_quote(conn, c) + (' COLLATE "C"' if pg and c in textual else "") for c in pk)
            result = conn.execution_options(stream_results=True, yield_per=FETCH_ROWS).exec_driver_sql(
                f"{sql} ORDER BY {order}")
            for row in result:
                digest.update(_row_line(row))
                count += 1
        else:  # no key: the rows as a sorted multiset
            lines = sorted(_row_line(row) for row in conn.exec_driver_sql(sql))
            for line in lines:
                digest.update(line)
            count = len(lines)
        sums[name] = TableSum(count, digest.hexdigest())
    return sums


def _is_text(sqltype) -> bool:
    try:
        return sqltype.python_type is str
    except NotImplementedError:  # types without a Python equivalent (NullType, some reflected ones)
        return False


def _row_line(row) -> bytes:
    return (json.dumps([_normal(v) for v in row], ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def applied_revisions(conn: Connection) -> list[str]:
    if not inspect(conn).has_table("alembic_version"):
        return []
    return sorted(r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version"))


def code_heads(app: Flask) -> list[str]:
    """The Alembic heads of the code that is running (core and every installed plugin)."""
    from alembic.script import ScriptDirectory

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        return sorted(ScriptDirectory.from_config(config).get_heads())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- where backups go ---------------------------------------------------------------------------------------
def backup_dir(app: Flask) -> Path:
    return Path(app.config.get("BACKUP_DIR") or Path(app.instance_path) / "backups")


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def schedule_enabled(app: Flask) -> bool:
    """BACKUP_SCHEDULE: "auto" (daily on SQLite, off on PostgreSQL, whose DBA runs backups), "on", "off"."""
    value = app.config.get("BACKUP_SCHEDULE", "auto")
    if isinstance(value, bool):
        return value
    value = str(value).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value == "auto":
        return app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    return False


def _engine(app: Flask) -> Engine:
    from lms.extensions import db

    with app.app_context():
        return db.engine


def _dialect(app: Flask) -> str:
    return make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _private_file(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_manifest(path: Path, manifest: dict) -> Path:
    target = manifest_path(path)
    tmp = target.with_name(target.name + PARTIAL_SUFFIX)
    _private_file(tmp)
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True))
    _fsync(tmp)
    tmp.replace(target)
    return target


def load_manifest(path: Path) -> dict:
    mpath = manifest_path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    if not mpath.is_file():
        raise BackupError(f"{path}: its manifest {mpath.name} is missing, so the backup is incomplete (interrupted "
                          f"while it was written) or was copied without it; it cannot be checked or restored")
    try:
        manifest = json.loads(mpath.read_text())
    except ValueError as exc:
        raise BackupError(f"{mpath}: not a readable backup manifest ({exc})") from exc
    missing = {"tables", "dialect", "file_sha256"} - set(manifest if isinstance(manifest, dict) else ())
    if missing:
        raise BackupError(f"{mpath}: not a backup manifest (no {', '.join(sorted(missing))})")
    return manifest


# --- making a backup ----------------------------------------------------------------------------------------
def create_backup(app: Flask, to_dir: Path | None = None) -> BackupResult:
    """Back up the configured database into `to_dir` (default BACKUP_DIR); returns the file and its manifest."""
    target_dir = _private_dir(Path(to_dir) if to_dir else backup_dir(app))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dialect = _dialect(app)
    started = time.monotonic()
    if dialect == "sqlite":
        suffix, make = "sqlite3", _backup_sqlite
    elif dialect == "postgresql":
        suffix, make = "dump", _backup_postgresql
    else:
        raise BackupError(f"backups of a {dialect} database are not supported (SQLite and PostgreSQL are)")
    path = target_dir / f"lms-{stamp}.{suffix}"
    n = 1
    while path.exists() or path.with_name(path.name + PARTIAL_SUFFIX).exists() or manifest_path(path).exists():
        path, n = target_dir / f"lms-{stamp}-{n}.{suffix}", n + 1  # a second backup within the same second
    tmp = path.with_name(path.name + PARTIAL_SUFFIX)
    _private_file(tmp)
    try:
        sums, applied = make(app, tmp)
        _fsync(tmp)
        manifest = {
            "format": FORMAT,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "dialect": dialect,
            "file": path.name,
            "file_bytes": tmp.stat().st_size,
            "file_sha256": file_sha256(tmp),
            "alembic_revisions": applied,
            "code_heads": code_heads(app),
            "seconds": round(time.monotonic() - started, 3),
            "tables": {name: {"rows": s.rows, "sha256": s.sha256} for name, s in sums.items()},
        }
        # The manifest first, the file's own name last: a file under its final name always has its manifest.
        mpath = _write_manifest(path, manifest)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("backup written: %s (%d tables, %d rows)", path, len(sums), sum(s.rows for s in sums.values()))
    return BackupResult(path, mpath, manifest)


def _sqlite_path(app: Flask) -> Path:
    database = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    if not database or database == ":memory:":
        raise BackupError("the configured SQLite database is in memory; there is no file to back up")
    return Path(database)


def _backup_sqlite(app: Flask, tmp: Path) -> tuple[dict[str, TableSum], list[str]]:
    source_path = _sqlite_path(app)
    if not source_path.is_file():
        raise BackupError(f"{source_path}: the database file does not exist")
    # The online backup API copies in one step (-1 pages) under a read transaction: in WAL mode writers carry
    # on meanwhile, and the copy is the database as of one commit.
    src = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        check = dst.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not copy {source_path}: {exc}") from exc
    finally:
        dst.close()
        src.close()
    if check != [("ok",)]:
        raise BackupError(f"the copy of {source_path} fails PRAGMA integrity_check: "
                          + "; ".join(r[0] for r in check[:5]))
    return _sums_of_sqlite_file(tmp)


def _sums_of_sqlite_file(path: Path) -> tuple[dict[str, TableSum], list[str]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return table_sums(conn), applied_revisions(conn)
    finally:
        engine.dispose()
        # Every engine's connect hook (lms.database) switches a file to WAL; a backup is one self-contained file.
        plain = sqlite3.connect(path)
        try:
            plain.execute("PRAGMA journal_mode=DELETE")
        finally:
            plain.close()


def pg_tool(name: str, app: Flask | None = None) -> str:
    """The path of pg_dump / pg_restore: BACKUP_PG_BINDIR, then PATH, then Debian's newest /usr/lib/postgresql."""
    bindir = (app or current_app).config.get("BACKUP_PG_BINDIR") or ""
    candidates = [Path(bindir) / name] if bindir else []
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    candidates += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                         key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0, reverse=True)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    raise BackupError(f"{name} not found: install the PostgreSQL client (apt-get install postgresql-client) of the "
                      f"server's major version or newer, or set BACKUP_PG_BINDIR to the folder that holds it")


def pg_conninfo(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment that carries it (PGPASSWORD)."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    # URL.set(password=None) keeps the password; build the URL again without it.
    plain = URL.create("postgresql", username=u.username, host=u.host, port=u.port, database=u.database,
                       query=u.query)
    return plain.render_as_string(hide_password=False), env


def _run_pg(argv: list[str], env: dict[str, str], what: str) -> None:
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=PG_TOOL_TIMEOUT)  # noqa: S603
    if out.returncode != 0:
        raise BackupError(f"{what} failed (exit {out.returncode}): {out.stderr.strip()[-2000:]}")


def _backup_postgresql(app: Flask, tmp: Path) -> tuple[dict[str, TableSum], list[str]]:
    exe = pg_tool("pg_dump", app)
    conninfo, env = pg_conninfo(app.config["SQLALCHEMY_DATABASE_URI"])
    engine = _engine(app)
    # pg_dump reads the snapshot this transaction exports, and the checksums are computed in the same transaction
    # meanwhile: the manifest describes exactly the rows in the dump, however busy the site is.
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        argv = [exe, "--format=custom", "--no-password", f"--snapshot={snapshot}", "--file", str(tmp),
                "--dbname", conninfo]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # noqa: S603
                                text=True)
        try:
            sums, applied = table_sums(conn), applied_revisions(conn)
        finally:
            _, err = proc.communicate(timeout=PG_TOOL_TIMEOUT)
        if proc.returncode != 0:
            raise BackupError(f"pg_dump failed (exit {proc.returncode}): {err.strip()[-2000:]}")
    return sums, applied


# --- checking: restore into a scratch database and compare ---------------------------------------------------
def compare(manifest: dict, sums: dict[str, TableSum]) -> list[str]:
    """One line per table whose rows differ from the manifest (missing, extra, count, content)."""
    problems = []
    expected = manifest["tables"]
    for name in sorted(set(expected) | set(sums)):
        want, got = expected.get(name), sums.get(name)
        if got is None:
            problems.append(f"table {name}: in the manifest ({want['rows']} rows) but not in the restored database")
        elif want is None:
            problems.append(f"table {name}: in the restored database ({got.rows} rows) but not in the manifest")
        elif want["rows"] != got.rows:
            problems.append(f"table {name}: {want['rows']} rows in the manifest, {got.rows} restored")
        elif want["sha256"] != got.sha256:
            problems.append(f"table {name}: {got.rows} rows as in the manifest, but their content differs "
                            f"(checksum {got.sha256[:12]}… instead of {want['sha256'][:12]}…)")
    return problems


def _file_problems(path: Path, manifest: dict) -> list[str]:
    size, want_size = path.stat().st_size, manifest.get("file_bytes")
    if want_size is not None and size != want_size:
        return [f"file {path.name}: {size} bytes, the backup wrote {want_size}: truncated or changed after the backup"]
    if file_sha256(path) != manifest["file_sha256"]:
        return [f"file {path.name}: sha256 differs from the manifest: damaged or changed after the backup"]
    return []


def check_backup(app: Flask, path: Path) -> CheckResult:
    """The restore drill: restore `path` into a scratch database and compare every table with its manifest."""
    path = Path(path)
    manifest = load_manifest(path)
    problems = _file_problems(path, manifest)
    started = time.monotonic()
    if manifest["dialect"] == "sqlite":
        with tempfile.TemporaryDirectory(prefix="lms-backup-check-") as tmpdir:
            scratch = Path(tmpdir) / "restored.sqlite3"
            shutil.copyfile(path, scratch)
            sums = _restored_sqlite_sums(scratch, problems)
    elif manifest["dialect"] == "postgresql":
        if _dialect(app) != "postgresql":
            raise BackupError(f"{path.name} is a PostgreSQL backup: check it with LMS_DATABASE_URL pointing at a "
                              f"PostgreSQL server of the same major version (a scratch database is created there)")
        sums = _restored_postgresql_sums(app, path, problems)
    else:
        raise BackupError(f"{path}: unknown dialect {manifest['dialect']!r} in the manifest")
    if sums is not None:
        problems += compare(manifest, sums)
    seconds = time.monotonic() - started
    rows = sum(s.rows for s in (sums or {}).values())
    return CheckResult(len(sums or {}), rows, seconds, problems)


def _restored_sqlite_sums(scratch: Path, problems: list[str]) -> dict[str, TableSum] | None:
    try:
        conn = sqlite3.connect(scratch)
        try:
            check = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        if check != [("ok",)]:
            problems.append("the restored database fails PRAGMA integrity_check: "
                            + "; ".join(str(r[0]) for r in check[:5]))
            return None
        return _sums_of_sqlite_file(scratch)[0]
    except (sqlite3.DatabaseError, DBAPIError) as exc:
        reason = getattr(exc, "orig", None) or exc
        problems.append(f"the file cannot be restored: it is not an intact SQLite database ({reason})")
        return None


def _restored_postgresql_sums(app: Flask, path: Path, problems: list[str]) -> dict[str, TableSum] | None:
    exe = pg_tool("pg_restore", app)
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    scratch_name = f"{url.database}_check_{os.getpid()}_{int(time.time())}"[:63]
    engine = _engine(app)
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    quoted = engine.dialect.identifier_preparer.quote(scratch_name)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quoted} TEMPLATE template0")
    except Exception as exc:
        raise BackupError(f"cannot create the scratch database {scratch_name} for the check: {exc}. The role "
                          f"{url.username} needs CREATEDB (ALTER ROLE {url.username} CREATEDB)") from exc
    try:
        scratch_url = url.set(database=scratch_name)
        conninfo, env = pg_conninfo(scratch_url.render_as_string(hide_password=False))
        try:
            _run_pg([exe, "--no-owner", "--no-privileges", "--exit-on-error", "--no-password", "--dbname",
                     conninfo, str(path)], env, "pg_restore into the scratch database")
        except BackupError as exc:
            problems.append(f"the file cannot be restored: {exc}")
            return None
        scratch_engine = create_engine(scratch_url)
        try:
            with scratch_engine.connect() as conn:
                return table_sums(conn)
        finally:
            scratch_engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")


# --- restoring into the configured database ------------------------------------------------------------------
def other_openers(paths: list[Path]) -> list[int]:
    """Ids of other processes that have one of these files open (Linux /proc; [] where it cannot tell)."""
    wanted = {str(p.resolve()) for p in paths}
    me = os.getpid()
    found = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        found.add(int(entry.name))
                        break
        except OSError:  # gone, or another user's process
            continue
    return sorted(found)


def restore_backup(app: Flask, path: Path, *, allow_other_version: bool = False) -> CheckResult:
    """Replace the configured database's content with the backup, then verify it against the manifest."""
    path = Path(path)
    manifest = load_manifest(path)
    damaged = _file_problems(path, manifest)
    if damaged:
        raise BackupError(damaged[0] + "; nothing was restored (`flask lms backup-check` shows what differs)")
    dialect = _dialect(app)
    if manifest["dialect"] != dialect:
        raise BackupError(f"{path.name} is a {manifest['dialect']} backup; the configured database is {dialect}")
    heads = code_heads(app)
    if sorted(manifest.get("alembic_revisions") or []) != heads and not allow_other_version:
        raise BackupError(
            f"the backup's schema revisions {', '.join(manifest.get('alembic_revisions') or []) or '(none)'} differ "
            f"from this code's {', '.join(heads)}: restore it with the release that made it, or restore it with "
            f"--allow-other-version and then run `flask --app wsgi db upgrade heads` to migrate it to this release")
    from lms.extensions import db

    started = time.monotonic()
    db.session.remove()  # this command's own connections must not hold locks the restore needs
    db.engine.dispose()
    if dialect == "sqlite":
        _restore_sqlite(app, path)
    else:
        _restore_postgresql(app, path)
    db.engine.dispose()
    with db.engine.connect() as conn:
        sums = table_sums(conn)
    problems = compare(manifest, sums)
    return CheckResult(len(sums), sum(s.rows for s in sums.values()), time.monotonic() - started, problems)


def _restore_sqlite(app: Flask, path: Path) -> None:
    target = _sqlite_path(app)
    side = [target, Path(f"{target}-wal"), Path(f"{target}-shm"), Path(f"{target}-wlock")]
    busy = other_openers([p for p in side if p.exists()])
    if busy:
        raise BackupError(f"{target} is open in other processes ({', '.join(map(str, busy))}): stop the web server "
                          f"and the task worker (flask lms serve / gunicorn / flask lms worker) first; nothing was "
                          f"restored")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Writers of this machine queue on the -wlock file (lms.database); hold it while the pages are replaced.
    with open(f"{target}-wlock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            # The backup API writes the destination in one transaction: a crash leaves the old or the new content.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=WAL")
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            check = dst.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite refused the restore into {target} ({exc}); the database is unchanged") from exc
        finally:
            dst.close()
            src.close()
    if check != [("ok",)]:
        raise BackupError("the restored database fails PRAGMA integrity_check: " + "; ".join(r[0] for r in check[:5]))


def _restore_postgresql(app: Flask, path: Path) -> None:
    exe = pg_tool("pg_restore", app)
    conninfo, env = pg_conninfo(app.config["SQLALCHEMY_DATABASE_URI"])
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    try:
        with engine.connect() as conn:
            others = conn.exec_driver_sql(
                "SELECT pid, coalesce(nullif(application_name, ''), '?'), coalesce(host(client_addr), 'local') "
                "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'").all()
    finally:
        engine.dispose()
    if others:
        who = ", ".join(f"{pid} ({name}, {addr})" for pid, name, addr in others[:10])
        raise BackupError(f"{len(others)} other session(s) use the database: {who}. Stop the web servers and task "
                          f"workers first (pg_restore would wait for their locks); nothing was restored")
    # Should a session connect meanwhile, fail instead of waiting for its locks without end.
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c lock_timeout=30s").strip()
    _run_pg([exe, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error", "--no-password",
             "--dbname", conninfo, str(path)], env, "pg_restore")


# --- keeping the newest --------------------------------------------------------------------------------------
def complete_backups(folder: Path) -> list[Path]:
    """The complete backups (file and manifest) in `folder`, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []

    def newest_first(p: Path):
        m = NAME_RE.match(p.name)
        return m.group(1), int(m.group(2) or 0)

    return sorted((p for p in folder.iterdir() if NAME_RE.match(p.name) and manifest_path(p).is_file()),
                  key=newest_first, reverse=True)


def backup_time(path: Path) -> dt.datetime:
    return dt.datetime.strptime(NAME_RE.match(path.name).group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest complete backups in `folder` (and leftovers of interrupted ones)."""
    folder = Path(folder)
    removed = []
    for p in complete_backups(folder)[max(keep, 1):]:
        for f in (p, manifest_path(p)):
            f.unlink(missing_ok=True)
        removed.append(p)
    if not folder.is_dir():
        return removed
    day_ago = time.time() - 86400
    for p in folder.iterdir():  # leftovers of a backup interrupted a day or more ago
        leftover = p.name.endswith(PARTIAL_SUFFIX) or (
            p.name.endswith(MANIFEST_SUFFIX) and not p.with_name(p.name.removesuffix(MANIFEST_SUFFIX)).exists())
        if leftover and p.name.startswith("lms-") and p.stat().st_mtime < day_ago:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
