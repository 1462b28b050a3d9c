"""The audit chain: tampering found at the exact row, CLI exit codes, retention purge (LOG-02/03)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time

from lms import audit
from lms.audit.models import AuditLog
from lms.audit.services import purge_older_than, verify_chain


@pytest.fixture
def chain(app, db):
    """Ten audit rows, ids 1..10."""
    for i in range(10):
        audit.log("test.event", details={"n": i}, target_type="thing", target_id=i)
    db.session.commit()
    return [r.id for r in db.session.query(AuditLog).order_by(AuditLog.id)]


def test_intact_chain_verifies(chain, runner):
    assert verify_chain() == []
    result = runner.invoke(args=["lms", "audit-check"])
    assert result.exit_code == 0
    assert "10 row(s) verified" in result.output


def test_edited_row_is_named(chain, db, runner, tamper):
    tamper("UPDATE audit_log SET outcome = 'failure' WHERE id = :id", id=chain[4])
    problems = verify_chain()
    assert len(problems) == 1 and problems[0].startswith(f"row {chain[4]}:") and "edited" in problems[0]
    result = runner.invoke(args=["lms", "audit-check"])
    assert result.exit_code == 1
    assert f"row {chain[4]}:" in result.output


def test_edited_details_are_found(chain, db, tamper):
    tamper("UPDATE audit_log SET details = '{\"n\": 99}' WHERE id = :id", id=chain[7])
    assert [p.split(":")[0] for p in verify_chain()] == [f"row {chain[7]}"]


def test_deleted_row_is_found_at_its_successor(chain, db, runner, tamper):
    tamper("DELETE FROM audit_log WHERE id = :id", id=chain[5])
    problems = verify_chain()
    assert len(problems) == 1
    assert problems[0].startswith(f"row {chain[6]}:") and f"after row {chain[4]}" in problems[0]
    assert runner.invoke(args=["lms", "audit-check"]).exit_code == 1


def test_reordered_rows_are_found(chain, db, tamper):
    # Swap the contents of rows 3 and 4 (ids stay in place), as a reordering attacker would.
    a, b = chain[2], chain[3]
    tamper("UPDATE audit_log SET id = -1 WHERE id = :a", a=a)
    tamper("UPDATE audit_log SET id = :a WHERE id = :b", a=a, b=b)
    tamper("UPDATE audit_log SET id = :b WHERE id = -1", b=b)
    problems = verify_chain()
    assert problems and problems[0].startswith(f"row {a}:")


def test_deleting_the_oldest_rows_without_a_purge_is_found(chain, db, tamper):
    tamper("DELETE FROM audit_log WHERE id <= :id", id=chain[2])
    problems = verify_chain()
    assert problems and problems[0].startswith(f"row {chain[3]}:")


def test_purge_keeps_180_days_and_the_chain_still_verifies(app, db, runner):
    with freeze_time("2026-01-01 00:00:00") as clock:
        for age in (400, 181, 180, 179, 1):
            clock.move_to("2026-01-01 00:00:00")
            clock.tick(-timedelta(days=age))
            audit.log("test.aged", details={"age": age})
        db.session.commit()
        clock.move_to("2026-01-01 00:00:00")
        clock.tick(timedelta(seconds=1))  # "180 days" old means 180 days and one second
        result = runner.invoke(args=["lms", "audit-purge"])
        assert result.exit_code == 0, result.output
        assert "2 row(s)" in result.output
    ages = sorted(r.details["age"] for r in db.session.query(AuditLog).filter_by(action="test.aged"))
    assert ages == [1, 179, 180]
    purge = db.session.query(AuditLog).filter_by(action="audit.purge").one()
    assert purge.details["deleted"] == 2
    assert verify_chain() == []


def test_retention_below_180_days_is_refused(app, runner):
    with pytest.raises(ValueError):
        purge_older_than(179)
    result = runner.invoke(args=["lms", "audit-purge", "--days", "30"])
    assert result.exit_code != 0
    from lms import create_app

    with pytest.raises(RuntimeError):
        create_app({"ENV": "testing", "AUDIT_RETENTION_DAYS": 90, "INSTANCE_PATH": app.instance_path,
                    "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})


def test_audit_fields_are_sanitised_against_log_injection(app, db, client):
    client.post("/login", data={"login_id": "evil\r\nFAKE 200 OK", "password": "x"})
    row = db.session.query(AuditLog).filter_by(action="auth.login").one()
    assert "\r" not in (row.actor_login or "") and row.outcome == "failure"
    assert verify_chain() == []
