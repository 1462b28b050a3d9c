"""The audit tests share the authentication tests' helpers (the real login form, audit rows)."""
import pytest
from auth.conftest import audit_rows, post_login  # noqa: F401
from sqlalchemy import text


@pytest.fixture
def tamper(db):
    """tamper(sql, **params): change audit_log as the owner of the database would, around the triggers.

    PostgreSQL: a superuser switches triggers off for the transaction (session_replication_role).
    SQLite: whoever can write the file drops the triggers, edits, and puts them back.
    """

    def do(sql: str, **params):
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("SET LOCAL session_replication_role = replica"))
            db.session.execute(text(sql), params)
            db.session.commit()
            return
        triggers = db.session.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")).all()
        assert triggers, "the append-only triggers are missing"
        for name, _sql in triggers:
            db.session.execute(text(f'DROP TRIGGER "{name}"'))
        db.session.execute(text(sql), params)
        for _name, create in triggers:
            db.session.execute(text(create))
        db.session.commit()

    return do
