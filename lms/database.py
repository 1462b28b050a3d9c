"""Database engine set-up: SQLite in WAL mode with foreign keys, PostgreSQL through psycopg."""
from __future__ import annotations

import fcntl
import itertools
import re
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


WRITE_LOCK_TIMEOUT = 30.0  # seconds a writer waits for the database before "database is locked"
_WRITING_THREADS: dict[int, weakref.WeakSet] = {}  # thread id → its connections holding the write lock
_WRITING_LOCK = threading.Lock()
CHECKPOINT_EVERY = 100  # write commits of a process between its checkpoints (SQLite's own: every 1000 pages)
AUTOCHECKPOINT_PAGES = 10000  # SQLite's automatic checkpoint stays as a backstop only
_COMMITS = itertools.count(1)


class QueuedWriterConnection(sqlite3.Connection):
    """A pysqlite connection whose writers queue on a lock file instead of SQLite's busy handler.

    SQLite lets one writer in at a time; the others are turned away and its busy handler retries after
    sleeping 1, 2, 5, 10 … 100 ms, so under concurrent writes (a contest's autosaves, batches of statements) most
    of a write's latency is sleep. Here the first data-changing statement of a transaction takes an exclusive
    `flock` on `<database>-wlock` (shared by every thread and process that opens the file), held until the
    commit or rollback, exactly the span in which SQLite itself holds its write lock: the next writer goes in
    within a millisecond of the commit. Reads never wait. A thread that already writes through another
    connection does not queue behind itself (SQLite's own handling applies then, as before).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock_path: str | None = None
        self._lock_fh = None
        self._lock_thread: int | None = None  # the thread that took the lock (None: not held)

    def cursor(self, factory=None):  # noqa: D102
        return super().cursor(factory or _QueuedWriterCursor)

    def execute(self, sql, parameters=(), /):  # noqa: D102  (the C shortcut would bypass cursor())
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):  # noqa: D102
        return self.cursor().executemany(sql, seq_of_parameters)

    def _take_write_lock(self) -> None:
        if self._lock_thread is not None:
            return
        if self._lock_path is None:
            row = super().execute("PRAGMA database_list").fetchone()
            path = row[2] if row else ""
            self._lock_path = f"{path}-wlock" if path else ""  # "" for an in-memory database
        thread = threading.get_ident()
        if not self._lock_path or len(_WRITING_THREADS.get(thread, ())):
            return
        if self._lock_fh is None:
            self._lock_fh = open(self._lock_path, "a+b")  # noqa: SIM115  (kept open with the connection)
        deadline = time.monotonic() + WRITE_LOCK_TIMEOUT
        delay = 0.0002
        while True:
            try:
                fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.002)
        self._lock_thread = thread
        with _WRITING_LOCK:
            _WRITING_THREADS.setdefault(thread, weakref.WeakSet()).add(self)

    def _release_write_lock(self) -> None:
        thread = self._lock_thread
        if thread is None:
            return
        self._lock_thread = None
        fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
        with _WRITING_LOCK:
            holders = _WRITING_THREADS.get(thread)
            if holders is not None:
                holders.discard(self)
                if not holders:
                    del _WRITING_THREADS[thread]

    def commit(self):  # noqa: D102
        wrote = self._lock_thread is not None
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release_write_lock()
        if wrote and next(_COMMITS) % CHECKPOINT_EVERY == 0:
            # Copy the WAL back into the database file here, after the lock is handed on, rather than in
            # SQLite's automatic checkpoint inside a commit, where the next writers would wait for it.
            super().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def rollback(self):  # noqa: D102
        try:
            super().rollback()
        finally:
            if not self.in_transaction:
                self._release_write_lock()

    def __del__(self):
        # A connection dropped without close() (or a rollback) must not keep the lock: hand it on here.
        fh, self._lock_fh = getattr(self, "_lock_fh", None), None
        if fh is not None:
            fh.close()  # closing the file releases its flock

    def close(self):  # noqa: D102
        try:
            super().close()
        finally:
            self._release_write_lock()
            if self._lock_fh is not None:
                self._lock_fh.close()
                self._lock_fh = None


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
# Statements that change only the connection's own temporary database (e.g. the statistics' scope table):
# SQLite takes no lock on the database file for them, so they do not queue either.
_TEMP_ONLY = re.compile(r"\s*(CREATE\s+TEMP(ORARY)?\s|CREATE\s+(UNIQUE\s+)?INDEX\s+(IF\s+NOT\s+EXISTS\s+)?temp\.|"
                        r"INSERT\s+INTO\s+temp\.|DELETE\s+FROM\s+temp\.)", re.IGNORECASE)


def _writes(sql: str) -> bool:
    if _TEMP_ONLY.match(sql):
        return False
    head = sql.lstrip()[:8].upper()
    if head.startswith("WITH"):  # a CTE in front of a data-changing statement
        return any(w in sql.upper() for w in ("INSERT", "UPDATE", "DELETE"))
    return head.startswith(_WRITES)


class _QueuedWriterCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):  # noqa: D102
        if not _writes(sql):
            return super().execute(sql, parameters)
        conn = self.connection
        conn._take_write_lock()
        try:
            return super().execute(sql, parameters)
        finally:
            if not conn.in_transaction:  # autocommit, or the statement ended the transaction
                conn._release_write_lock()

    def executemany(self, sql, seq_of_parameters, /):  # noqa: D102
        if not _writes(sql):
            return super().executemany(sql, seq_of_parameters)
        conn = self.connection
        conn._take_write_lock()
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            if not conn.in_transaction:
                conn._release_write_lock()


def configure_engine_options(app: Flask) -> None:
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    opts = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        # Several threads of one server process share the file; writers queue on a lock file next to it.
        opts.setdefault("connect_args", {}).setdefault("timeout", 30)
        opts["connect_args"].setdefault("check_same_thread", False)
        opts["connect_args"].setdefault("factory", QueuedWriterConnection)
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
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    if isinstance(dbapi_connection, QueuedWriterConnection):
        cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
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
