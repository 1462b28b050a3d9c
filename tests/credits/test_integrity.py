"""PI-04: completions and credit hours carry an HMAC seal; a change made in SQL is named by the verifier."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text

from lms.audit.models import AuditLog
from lms.courses.models import Enrollment, LessonProgress
from lms.courses.services import update_progress
from lms.credits import services
from lms.credits.models import CreditEntry


def check(runner, *args):
    return runner.invoke(args=["lms", "integrity-check", *args])


def _complete(db, user, course, seconds=0):
    for ls in course.lessons:
        update_progress(user, ls, add_seconds=seconds, complete=True)
    db.session.commit()


def _sql(db, statement, **params):
    db.session.execute(text(statement), params)
    db.session.commit()
    db.session.expire_all()


def test_completions_and_hours_written_by_the_product_verify(runner, db, users, make_course):
    course = make_course("党章学习", credit_hours="3")
    _complete(db, users.member, course, seconds=300)
    services.award(users.member, source_type="reading", source_id="r-1", hours=1.5, evidence={"ids": ["x", 1.25]})
    db.session.commit()
    assert db.session.scalar(select(func.count(CreditEntry.id))) == 2
    result = check(runner)
    # 2 ledger lines, 1 enrolment, 2 lesson progress rows
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ok 5 records"
    assert all(s.startswith("s1:") for s in db.session.scalars(select(CreditEntry.seal)))


def test_hours_changed_in_sql_are_named(runner, db, users, make_course):
    course = make_course("党章学习", credit_hours="3")
    _complete(db, users.member, course)
    entry = db.session.scalar(select(CreditEntry))
    _sql(db, "UPDATE credit_entry SET hours = 30 WHERE id = :i", i=entry.id)
    result = check(runner)
    assert result.exit_code == 1
    tampered = [line for line in result.output.splitlines() if line.startswith("TAMPERED")]
    assert tampered == [f"TAMPERED credit_entry id={entry.id} (学时记录: user_id={users.member.id} "
                        f"source_type=course source_id={course.id})"]


def test_a_ledger_line_moved_to_another_person_or_its_evidence_changed_is_named(runner, db, users):
    a = services.award(users.member, source_type="reading", source_id="r-1", hours=1, evidence={"ids": ["x"]})
    b = services.award(users.member, source_type="reading", source_id="r-2", hours=1, evidence={"ids": ["y"]})
    db.session.commit()
    _sql(db, "UPDATE credit_entry SET user_id = :u WHERE id = :i", u=users.teacher.id, i=a.id)
    _sql(db, "UPDATE credit_entry SET evidence = :e WHERE id = :i", e='{"ids": ["z"]}', i=b.id)
    output = check(runner).output
    assert f"credit_entry id={a.id} " in output and f"credit_entry id={b.id} " in output


def test_completion_and_lesson_status_changed_in_sql_are_named(runner, db, users, make_course):
    course = make_course("党史学习", lessons=2)
    update_progress(users.member, course.lessons[0], add_seconds=60)
    db.session.commit()
    prog = db.session.scalar(select(LessonProgress))
    enr = db.session.scalar(select(Enrollment))
    assert check(runner).exit_code == 0
    # a lesson marked completed and a course completion forged in SQL
    _sql(db, "UPDATE lesson_progress SET status = 'completed', completed_at = :t WHERE id = :i",
         t=datetime(2026, 1, 5), i=prog.id)
    _sql(db, "UPDATE enrollment SET completed_at = :t, progress = 1.0 WHERE id = :i", t=datetime(2026, 1, 5),
         i=enr.id)
    result = check(runner)
    assert result.exit_code == 1
    assert f"TAMPERED lesson_progress id={prog.id} (课时进度: user_id={users.member.id} " in result.output
    assert f"TAMPERED enrollment id={enr.id} (课程完成: user_id={users.member.id} course_id={course.id})" \
        in result.output


def test_a_seal_copied_from_another_row_does_not_verify(runner, db, users):
    a = services.award(users.member, source_type="reading", source_id="r-1", hours=1, evidence={})
    b = services.award(users.member, source_type="reading", source_id="r-2", hours=1, evidence={})
    db.session.commit()
    _sql(db, "UPDATE credit_entry SET seal = (SELECT seal FROM credit_entry WHERE id = :a) WHERE id = :b",
         a=a.id, b=b.id)
    result = check(runner)
    assert result.exit_code == 1 and f"credit_entry id={b.id} " in result.output
    assert f"credit_entry id={a.id} " not in result.output


def test_recompute_rule_switch_and_transfer_keep_the_seals_valid(runner, db, users, org, make_course):
    year = services.local_year()
    course = make_course("换规则", lessons=2, credit_hours="3", durations=[40 * 60, 10 * 60])
    _complete(db, users.member, course, seconds=600)
    tiers = {"tiers": [{"min_minutes": 30, "hours": 1}, {"min_minutes": 0, "hours": 0.25}], "passed_test": 0}
    services.save_rule(org.a1.id, year, "media_tiers", tiers)
    assert services.recompute(org.a1.id, year)["created"] == 2  # lesson entries rebuilt from the completions
    db.session.commit()
    services.save_rule(org.a1.id, year, "media_tiers", {**tiers, "tiers": [{"min_minutes": 0, "hours": 2}]})
    assert services.recompute(None, year)["updated"] == 2  # re-priced in place
    db.session.commit()
    from lms.plugins import hook

    users.member.org_unit_id = org.b1.id
    hook().lms_event_person_transferred(user=users.member, old_unit=org.a1, new_unit=org.b1)
    db.session.commit()
    assert {e.org_unit_id for e in db.session.scalars(select(CreditEntry))} == {org.b1.id}
    result = check(runner)
    assert result.exit_code == 0, result.output


def test_unsealed_rows_are_reported_apart_and_sealed_once_with_seal_missing(runner, db, users):
    a = services.award(users.member, source_type="reading", source_id="r-1", hours=1, evidence={})
    db.session.commit()
    _sql(db, "UPDATE credit_entry SET seal = NULL WHERE id = :i", i=a.id)
    result = check(runner)
    assert result.exit_code == 2
    assert f"UNSEALED credit_entry: 1 row(s) without a seal (ids {a.id})" in result.output
    assert "TAMPERED" not in result.output
    sealed = check(runner, "--seal-missing")
    assert sealed.exit_code == 0, sealed.output
    assert "credit_entry: 1 unsealed row(s) sealed" in sealed.output and "ok 1 records" in sealed.output
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "integrity.seal_missing")) == 1


def test_key_rotation_renews_valid_seals_and_leaves_tampered_ones(app_factory, db, users):
    from flask import current_app

    a = services.award(users.member, source_type="reading", source_id="r-1", hours=1, evidence={})
    b = services.award(users.member, source_type="reading", source_id="r-2", hours=1, evidence={})
    db.session.commit()
    a_id, b_id = a.id, b.id
    _sql(db, "UPDATE credit_entry SET hours = 9 WHERE id = :i", i=b_id)
    old, new = current_app.config["DATA_KEY"], "cd" * 32
    rotated = app_factory(DATA_KEY=new, DATA_KEYS_OLD=[old])
    with rotated.app_context():
        runner = rotated.test_cli_runner()
        before = runner.invoke(args=["lms", "integrity-check"])
        assert before.exit_code == 1 and f"credit_entry id={b_id} " in before.output
        result = runner.invoke(args=["lms", "data-key-rotate"])
        assert result.exit_code == 0, result.output
        assert "credit_entry: 1 record seal(s) renewed" in result.output
        assert f"TAMPERED credit_entry id={b_id} " in result.output  # not blessed with the new key
        db.session.remove()
    only_new = app_factory(DATA_KEY=new)
    with only_new.app_context():
        result = only_new.test_cli_runner().invoke(args=["lms", "integrity-check"])
        assert result.exit_code == 1
        assert f"credit_entry id={b_id} " in result.output and f"credit_entry id={a_id} " not in result.output
        db.session.remove()
