"""SQLite writers queue on a lock file (lms.database.QueuedWriterConnection) instead of SQLite's busy handler."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from lms import database
from lms.database import QueuedWriterConnection


def connect(path, **kw) -> QueuedWriterConnection:
    conn = sqlite3.connect(path, factory=QueuedWriterConnection, check_same_thread=False, **kw)
    database._sqlite_pragmas(conn, None)
    return conn


@pytest.fixture
def dbfile(tmp_path):
    path = str(tmp_path / "w.sqlite3")
    conn = connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)")
    conn.commit()
    conn.close()
    return path


def test_a_second_writer_waits_for_the_first_commit_and_then_goes_in_at_once(dbfile):
    a, b = connect(dbfile), connect(dbfile)
    a.execute("INSERT INTO t (who) VALUES ('a')")  # a holds the write lock until it commits
    went_in = []

    def write_b():
        b.execute("INSERT INTO t (who) VALUES ('b')")
        went_in.append(time.monotonic())
        b.commit()

    t = threading.Thread(target=write_b)
    t.start()
    time.sleep(0.3)
    assert went_in == []  # queued behind a, not failed
    committed = time.monotonic()
    a.commit()
    t.join(5)
    assert went_in and went_in[0] - committed < 0.05  # SQLite's busy handler would sleep up to 100 ms per try
    assert [r[0] for r in a.execute("SELECT who FROM t ORDER BY id")] == ["a", "b"]


def test_readers_never_wait_for_a_writer(dbfile):
    a, reader = connect(dbfile), connect(dbfile)
    a.execute("INSERT INTO t (who) VALUES ('a')")
    t0 = time.monotonic()
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert time.monotonic() - t0 < 0.05
    a.rollback()


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_rollback_and_close_hand_the_lock_on(dbfile, end):
    a, b = connect(dbfile), connect(dbfile)
    b.execute("PRAGMA busy_timeout=200")
    a.execute("INSERT INTO t (who) VALUES ('a')")
    getattr(a, end)()
    b.execute("INSERT INTO t (who) VALUES ('b')")  # would time out if a still held the lock
    b.commit()
    assert [r[0] for r in b.execute("SELECT who FROM t")] == ["b"]


def test_autocommit_statements_release_the_lock_after_each_statement(dbfile):
    a = connect(dbfile, isolation_level=None)
    b = connect(dbfile)
    a.execute("INSERT INTO t (who) VALUES ('a')")
    b.execute("INSERT INTO t (who) VALUES ('b')")
    b.commit()
    assert b.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_writes_to_the_temporary_database_do_not_queue(dbfile):
    a, b = connect(dbfile), connect(dbfile)
    b.execute("PRAGMA busy_timeout=200")
    a.execute("CREATE TEMP TABLE IF NOT EXISTS scope (k INTEGER PRIMARY KEY)")
    a.execute("CREATE INDEX IF NOT EXISTS temp.ix_scope ON scope (k)")
    a.execute("DELETE FROM temp.scope")
    a.execute("INSERT INTO temp.scope (k) SELECT id FROM t")  # a's transaction writes only its temp tables
    assert a.in_transaction
    b.execute("INSERT INTO t (who) VALUES ('b')")  # would wait for a's rollback if a held the lock
    b.commit()
    a.rollback()
    a.execute("INSERT INTO temp.scope (k) VALUES (7)")
    a.execute("INSERT INTO t (who) VALUES ('a')")  # a write to the database file queues as before
    assert a._lock_thread is not None
    a.commit()
    assert [r[0] for r in b.execute("SELECT who FROM t ORDER BY id")] == ["b", "a"]
    a.close()
    b.close()


def test_a_thread_writing_through_two_connections_does_not_wait_for_itself(dbfile):
    a, b = connect(dbfile), connect(dbfile)
    b.execute("PRAGMA busy_timeout=200")
    a.execute("INSERT INTO t (who) VALUES ('a')")
    t0 = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        b.execute("INSERT INTO t (who) VALUES ('b')")  # SQLite's own answer, after its 0.2 s timeout
    assert time.monotonic() - t0 < 5
    a.commit()
    b.rollback()
    b.execute("INSERT INTO t (who) VALUES ('b')")
    b.commit()
    a.close()
    b.close()


def test_a_connection_dropped_while_writing_does_not_keep_its_thread_from_queueing(dbfile):
    import gc

    a = connect(dbfile)
    a.execute("INSERT INTO t (who) VALUES ('a')")
    del a  # never committed, rolled back or closed
    gc.collect()
    b, c = connect(dbfile), connect(dbfile)
    b.execute("INSERT INTO t (who) VALUES ('b')")
    assert b._lock_thread is not None  # this thread queued normally (the dropped connection left no trace)
    b.commit()
    c.close()


def test_a_writer_that_never_gets_the_lock_fails_with_database_is_locked(dbfile, monkeypatch):
    monkeypatch.setattr(database, "WRITE_LOCK_TIMEOUT", 0.3)
    a, b = connect(dbfile), connect(dbfile)
    a.execute("INSERT INTO t (who) VALUES ('a')")
    err = []

    def write_b():
        try:
            b.execute("INSERT INTO t (who) VALUES ('b')")
        except sqlite3.OperationalError as exc:
            err.append(str(exc))

    t = threading.Thread(target=write_b)
    t.start()
    t.join(5)
    assert err == ["database is locked"]
    a.commit()


def test_many_concurrent_writers_all_succeed_and_the_wal_is_checkpointed(dbfile, monkeypatch):
    monkeypatch.setattr(database, "CHECKPOINT_EVERY", 10)
    errors = []

    def writer(i):
        conn = connect(dbfile)
        try:
            for j in range(25):
                conn.execute("INSERT INTO t (who) VALUES (?)", (f"{i}-{j}",))
                conn.commit()
        except sqlite3.Error as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    check = connect(dbfile)
    assert check.execute("SELECT count(*) FROM t").fetchone() == (200,)
    # the periodic checkpoints copied the WAL back: at most the last few commits are still only in the WAL
    busy, log, done = check.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert check.execute("PRAGMA wal_autocheckpoint").fetchone() == (database.AUTOCHECKPOINT_PAGES,)
    assert busy == 0 and log == done


def test_the_app_uses_queued_writers_on_sqlite(app):
    from lms.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL run: writers queue on row locks there")
        raw = db.session.connection().connection.driver_connection
        assert isinstance(raw, QueuedWriterConnection)
