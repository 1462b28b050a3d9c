"""audit_log is append-only in the database itself (LOG-02): triggers on SQLite and PostgreSQL, the purge
as the one deliberate route, the application role's privileges on PostgreSQL, one chain under concurrency.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from lms import audit
from lms.audit.models import AuditLog, AuditPurgePermit
from lms.audit.services import grant_statements, purge_older_than, verify_chain
from lms.testing import pg_url
from lms.timeutil import utcnow


@pytest.fixture
def rows(app, db):
    for i in range(3):
        audit.log("test.event", details={"n": i})
    db.session.commit()
    return [r.id for r in db.session.query(AuditLog).order_by(AuditLog.id)]


def _refused(db, sql: str, **params) -> str:
    with pytest.raises(DBAPIError) as caught:
        db.session.execute(text(sql), params)
        db.session.flush()
    db.session.rollback()
    return str(caught.value.orig)


def test_update_of_an_audit_row_is_refused_by_the_database(db, rows):
    message = _refused(db, "UPDATE audit_log SET outcome = 'failure' WHERE id = :id", id=rows[1])
    assert "append-only" in message
    assert db.session.get(AuditLog, rows[1]).outcome == "success"
    assert verify_chain() == []


def test_delete_of_an_audit_row_is_refused_by_the_database(db, rows):
    assert "append-only" in _refused(db, "DELETE FROM audit_log WHERE id = :id", id=rows[0])
    assert "append-only" in _refused(db, "DELETE FROM audit_log")
    assert db.session.query(AuditLog).count() == 3 and verify_chain() == []


def test_old_rows_cannot_be_deleted_outside_the_purge_either(db):
    from freezegun import freeze_time

    with freeze_time(utcnow() - timedelta(days=400)):
        row = audit.log("test.old")
        db.session.commit()
    # Even a row far beyond the retention period only leaves through a purge permit.
    assert "append-only" in _refused(db, "DELETE FROM audit_log WHERE id = :id", id=row.id)


def test_a_purge_permit_for_rows_younger_than_180_days_is_refused(db, rows):
    db.session.add(AuditPurgePermit(below_id=rows[-1] + 1, cutoff=utcnow() - timedelta(days=179), created_at=utcnow()))
    with pytest.raises(DBAPIError) as caught:
        db.session.flush()
    db.session.rollback()
    assert "180 days" in str(caught.value.orig)
    with pytest.raises(ValueError):
        purge_older_than(30)
    assert db.session.query(AuditLog).count() == 3


def test_a_purge_permit_cannot_be_widened_after_the_check(db, rows):
    permit = AuditPurgePermit(below_id=1, cutoff=utcnow() - timedelta(days=400), created_at=utcnow())
    db.session.add(permit)
    db.session.flush()
    permit.cutoff = utcnow()
    with pytest.raises(DBAPIError):
        db.session.flush()
    db.session.rollback()


def test_the_purge_leaves_no_permit_behind(app, db, runner):
    from freezegun import freeze_time

    with freeze_time(utcnow() - timedelta(days=400)):
        audit.log("test.aged")
        db.session.commit()
    audit.log("test.recent")
    db.session.commit()
    assert purge_older_than(180) == 1
    db.session.commit()
    assert db.session.query(AuditPurgePermit).count() == 0
    assert [r.action for r in db.session.query(AuditLog).order_by(AuditLog.id)] == ["test.recent", "audit.purge"]
    assert verify_chain() == []


def test_concurrent_writers_keep_a_single_chain(app, db):
    """Eight writers at once: every row links to the one before it (no fork of the chain)."""
    per_thread, threads = 15, 8
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def write(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(per_thread):
                    audit.log("test.concurrent", details={"thread": n, "i": i})
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not errors, errors
    assert db.session.query(AuditLog).count() == per_thread * threads
    assert verify_chain() == []


# --- PostgreSQL: the application role -------------------------------------------------------------------------
pg_only = pytest.mark.skipif(not pg_url(), reason="PostgreSQL privileges: set LMS_TEST_DATABASE_URL")


@pytest.fixture
def pg_roles(app, db):
    """Two roles of this test's own (NOLOGIN; the superuser SETs ROLE to them), dropped afterwards."""
    import os

    names = [f"lms_app_t{os.getpid()}", f"lms_purge_t{os.getpid()}"]
    admin = create_engine(pg_url(), isolation_level="AUTOCOMMIT")

    def drop(conn):
        for name in names:
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).scalar():
                conn.execute(text(f'DROP OWNED BY "{name}"'))
                conn.execute(text(f'DROP ROLE "{name}"'))

    with admin.connect() as conn:
        drop(conn)
        for name in names:
            conn.execute(text(f'CREATE ROLE "{name}" NOLOGIN'))
    try:
        yield names
    finally:
        db.session.rollback()
        with admin.connect() as conn:
            drop(conn)
        admin.dispose()


def _as_role(db, role: str, sql: str, **params):
    db.session.execute(text(f'SET LOCAL ROLE "{role}"'))
    return db.session.execute(text(sql), params)


@pg_only
def test_app_role_may_append_but_not_update_delete_or_truncate(app, db, runner, pg_roles, rows):
    app_role, _purge = pg_roles
    result = runner.invoke(args=["lms", "audit-grants", app_role, "--apply"])
    assert result.exit_code == 0, result.output
    # The application appends through the normal path while running as the role.
    db.session.execute(text(f'SET LOCAL ROLE "{app_role}"'))
    audit.log("test.as_app_role")
    db.session.commit()
    for sql in ("UPDATE audit_log SET outcome = 'failure'", "TRUNCATE audit_log"):
        db.session.execute(text(f'SET LOCAL ROLE "{app_role}"'))
        message = _refused(db, sql)
        assert "permission denied" in message, message
    db.session.execute(text(f'SET LOCAL ROLE "{app_role}"'))
    assert "append-only" in _refused(db, "DELETE FROM audit_log WHERE id = :id", id=rows[0])
    # Nor can it switch the triggers off.
    db.session.execute(text(f'SET LOCAL ROLE "{app_role}"'))
    assert "must be owner" in _refused(db, "ALTER TABLE audit_log DISABLE TRIGGER USER")
    assert db.session.query(AuditLog).count() == 4 and verify_chain() == []


@pg_only
def test_with_a_purge_role_the_app_role_has_only_insert_and_select(app, db, runner, pg_roles):
    from freezegun import freeze_time

    app_role, purge_role = pg_roles
    result = runner.invoke(args=["lms", "audit-grants", app_role, "--purge-role", purge_role, "--apply"])
    assert result.exit_code == 0, result.output
    with freeze_time(utcnow() - timedelta(days=400)):
        audit.log("test.aged")
        db.session.commit()
    db.session.execute(text(f'SET LOCAL ROLE "{app_role}"'))
    assert "permission denied" in _refused(db, "DELETE FROM audit_log")
    db.session.execute(text(f'SET LOCAL ROLE "{app_role}"'))
    with pytest.raises(DBAPIError):
        purge_older_than(180)
    db.session.rollback()
    # The purge role purges (and records it).
    db.session.execute(text(f'SET LOCAL ROLE "{purge_role}"'))
    assert purge_older_than(180) == 1
    db.session.commit()
    assert [r.action for r in db.session.query(AuditLog)] == ["audit.purge"] and verify_chain() == []


def test_grant_statements_refuse_odd_role_names():
    with pytest.raises(ValueError):
        grant_statements('lms"; DROP TABLE audit_log; --')
    sql = grant_statements("lms_app", "lms_purge")
    assert 'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log, audit_purge_permit FROM "lms_app"' in sql
    assert not any("DELETE ON audit_log" in s and '"lms_app"' in s and s.startswith("GRANT") for s in sql)


def test_audit_grants_is_for_postgresql(app, runner):
    if pg_url():
        result = runner.invoke(args=["lms", "audit-grants", "lms_app"])
        assert result.exit_code == 0 and 'GRANT USAGE ON SCHEMA "public" TO "lms_app";' in result.output
    else:
        result = runner.invoke(args=["lms", "audit-grants", "lms_app"])
        assert result.exit_code != 0 and "PostgreSQL" in result.output
