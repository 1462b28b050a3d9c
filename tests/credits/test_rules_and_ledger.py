"""Credit hours: rule kinds, nearest-ancestor rules, the ledger, versioned changes and recompute, transfer."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from lms.audit.models import AuditLog
from lms.courses.models import LessonProgress
from lms.courses.services import update_progress
from lms.credits import services
from lms.credits.models import CreditEntry

TIERS = {"tiers": [{"min_minutes": 30, "hours": 1}, {"min_minutes": 15, "hours": 0.5},
                   {"min_minutes": 0, "hours": 0.25}], "passed_test": 0.5}


def _entries(db, user):
    return list(db.session.scalars(select(CreditEntry).where(CreditEntry.user_id == user.id)
                                   .order_by(CreditEntry.id)))


def _complete_all(db, user, course, seconds=0):
    for ls in course.lessons:
        update_progress(user, ls, add_seconds=seconds, complete=True)
    db.session.commit()


def test_course_completion_credits_the_course_hours_with_the_rule_version(db, users, org, make_course):
    course = make_course("党章学习", credit_hours="3")
    update_progress(users.member, course.lessons[0], complete=True)
    db.session.commit()
    assert _entries(db, users.member) == []  # the default rule credits whole courses only
    update_progress(users.member, course.lessons[1], complete=True)
    db.session.commit()
    [entry] = _entries(db, users.member)
    assert entry.source_type == "course" and entry.source_id == str(course.id)
    assert entry.hours == Decimal("3") and entry.rule_kind == "course_fixed" and entry.rule_version == 0
    assert entry.org_unit_id == org.a1.id and entry.year == services.local_year()
    assert entry.evidence["enrollment_id"]

    rule = services.save_rule(org.root.id, services.local_year(), "course_fixed", {})
    other = make_course("党史学习", credit_hours="2")
    _complete_all(db, users.member, other)
    entry2 = _entries(db, users.member)[-1]
    assert (entry2.rule_id, entry2.rule_version, entry2.hours) == (rule.id, 1, Decimal("2"))


def test_award_is_idempotent_per_person_and_source(db, users):
    a = services.award(users.member, source_type="reading", source_id="r-1", hours=1,
                       evidence={"statement_ids": ["x"]})
    b = services.award(users.member, source_type="reading", source_id="r-1", hours=5, evidence={})
    assert a.id == b.id and b.hours == Decimal("1")
    assert db.session.scalar(select(func.count(CreditEntry.id))) == 1


def test_media_tier_rule_prices_each_lesson_by_its_length(db, users, org, make_course):
    services.save_rule(org.a.id, services.local_year(), "media_tiers", TIERS)
    db.session.commit()
    course = make_course("分档课程", lessons=3, durations=[40 * 60, 20 * 60, 5 * 60])
    _complete_all(db, users.member, course)
    hours = [e.hours for e in _entries(db, users.member)]
    assert hours == [Decimal("1"), Decimal("0.5"), Decimal("0.25")]
    assert all(e.source_type == "lesson" and e.rule_kind == "media_tiers" for e in _entries(db, users.member))
    quiz = services.award(users.member, source_type="quiz", source_id="paper-7", evidence={"success": True})
    failed = services.award(users.member, source_type="quiz", source_id="paper-8", evidence={"success": False})
    assert quiz.hours == Decimal("0.5") and failed.hours == Decimal("0")


def test_effective_time_rule_is_proportional(db, users, org, make_course):
    services.save_rule(org.a1.id, services.local_year(), "effective_time", {"minutes_per_hour": 45, "step": 0.25})
    db.session.commit()
    course = make_course("按时长", lessons=1)
    update_progress(users.member, course.lessons[0], add_seconds=100 * 60, complete=True)
    db.session.commit()
    [e] = _entries(db, users.member)
    assert e.hours == Decimal("2.00")  # 100 min / 45 = 2.22 → 2 in quarter steps
    assert e.evidence["effective_seconds"] == 6000 and e.evidence["lesson_progress_id"]


def test_in_person_rule_prices_trainings_and_branch_study(db, users, org):
    full = services.record_in_person(users.member, source_type="training", source_id="t-1", session="full_day",
                                     title="党务干部培训班")
    half = services.record_in_person(users.member, source_type="training", source_id="t-2", session="half_day")
    study = services.record_in_person(users.member, source_type="branch_life", source_id="m-3", session="hours",
                                      hours_attended=2.5)
    assert (full.hours, half.hours, study.hours) == (Decimal("8"), Decimal("4"), Decimal("2.5"))
    services.save_rule(org.a.id, services.local_year(), "in_person", {"full_day": 6, "half_day": 3, "per_hour": 1})
    again = services.record_in_person(users.member, source_type="training", source_id="t-4", session="full_day")
    assert again.hours == Decimal("6") and again.rule_version == 1


def test_the_nearest_ancestor_rule_applies(db, org):
    year = services.local_year()
    services.save_rule(org.root.id, year, "course_fixed", {})
    services.save_rule(org.a.id, year, "media_tiers", TIERS)
    services.save_rule(org.a.id, year, "effective_time", {"minutes_per_hour": 30})  # version 2 of org.a
    services.save_rule(org.a2.id, year, "media_tiers", TIERS)
    assert services.rule_for(org.a1.id, year).kind == "effective_time"
    assert services.rule_for(org.a1.id, year).version == 2
    assert services.rule_for(org.a2.id, year).kind == "media_tiers"
    assert services.rule_for(org.b1.id, year).kind == "course_fixed"
    assert services.rule_for(org.b1.id, year - 1).id is None  # no rule that year: the built-in default
    assert services.rule_for(org.a1.id, year, "offline").kind == "in_person"


def test_rule_change_and_recompute_change_hours_but_not_the_evidence(db, users, org, make_course):
    year = services.local_year()
    services.save_rule(org.a.id, year, "media_tiers", TIERS)
    db.session.commit()
    course = make_course("重算课程", lessons=2, durations=[40 * 60, 10 * 60])
    _complete_all(db, users.member, course, seconds=600)
    before = [(e.hours, e.rule_version, dict(e.evidence)) for e in _entries(db, users.member)]
    progress_before = [(p.id, p.effective_seconds, p.completed_at)
                       for p in db.session.scalars(select(LessonProgress).order_by(LessonProgress.id))]
    assert [b[0] for b in before] == [Decimal("1"), Decimal("0.25")]

    doubled = {"tiers": [{"min_minutes": 30, "hours": 2}, {"min_minutes": 0, "hours": 0.5}], "passed_test": 1}
    v2 = services.save_rule(org.a.id, year, "media_tiers", doubled)
    stats = services.recompute(org.a.id, year)
    db.session.commit()
    after = _entries(db, users.member)
    assert [e.hours for e in after] == [Decimal("2"), Decimal("0.5")]
    assert all(e.rule_version == 2 and e.rule_id == v2.id for e in after)
    assert [dict(e.evidence) for e in after] == [b[2] for b in before]
    assert [(p.id, p.effective_seconds, p.completed_at)
            for p in db.session.scalars(select(LessonProgress).order_by(LessonProgress.id))] == progress_before
    assert stats["updated"] == 2
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "credits.rule_save")) == 2


def test_switching_rule_kind_rebuilds_course_and_lesson_entries(db, users, org, make_course):
    year = services.local_year()
    course = make_course("换规则", lessons=2, credit_hours="3", durations=[40 * 60, 40 * 60])
    _complete_all(db, users.member, course)
    assert [e.source_type for e in _entries(db, users.member)] == ["course"]
    services.save_rule(org.a1.id, year, "media_tiers", TIERS)
    stats = services.recompute(org.a1.id, year)
    db.session.commit()
    entries = _entries(db, users.member)
    assert sorted(e.source_type for e in entries) == ["lesson", "lesson"]
    assert sum(e.hours for e in entries) == Decimal("2")
    assert stats == {"updated": 0, "created": 2, "removed": 1, "unchanged": 0}
    # and back: the course entry returns, the lesson entries go
    services.save_rule(org.a1.id, year, "course_fixed", {})
    services.recompute(None, year)
    db.session.commit()
    assert [(e.source_type, e.hours, e.rule_version) for e in _entries(db, users.member)] == [
        ("course", Decimal("3"), 2)]


def test_fixed_hours_given_by_a_plugin_are_not_repriced(db, users, org):
    year = services.local_year()
    e = services.award(users.member, source_type="training", source_id="reviewed-1", hours=3,
                       evidence={"label": "审核通过的培训"})
    services.save_rule(org.a1.id, year, "in_person", {"full_day": 1, "half_day": 1, "per_hour": 0})
    services.recompute(org.a1.id, year)
    assert e.hours == Decimal("3") and e.hours_fixed


def test_transfer_moves_this_years_hours_only(app, db, users, org):
    this_year = services.local_year()
    old = services.award(users.member, source_type="reading", source_id="old", hours=2, evidence={},
                         earned_at=datetime(this_year - 1, 6, 1))
    new = services.award(users.member, source_type="reading", source_id="new", hours=3, evidence={})
    assert old.year == this_year - 1 and new.year == this_year
    from lms.plugins import hook

    users.member.org_unit_id = org.b1.id
    hook().lms_event_person_transferred(user=users.member, old_unit=org.a1, new_unit=org.b1)
    db.session.commit()
    assert db.session.get(CreditEntry, new.id).org_unit_id == org.b1.id
    assert db.session.get(CreditEntry, old.id).org_unit_id == org.a1.id


def test_recompute_cli(runner, db, users, org, make_course):
    year = services.local_year()
    services.save_rule(org.a.id, year, "media_tiers", TIERS)
    db.session.commit()
    course = make_course("命令行", lessons=1, durations=[40 * 60])
    _complete_all(db, users.member, course)
    services.save_rule(org.a.id, year, "media_tiers", {"tiers": [{"min_minutes": 0, "hours": 3}]})
    db.session.commit()
    result = runner.invoke(args=["lms", "credits-recompute", "--year", str(year), "--unit", str(org.a.id)])
    assert result.exit_code == 0, result.output
    assert "updated=1" in result.output
    assert _entries(db, users.member)[0].hours == Decimal("3")
    bad = runner.invoke(args=["lms", "credits-recompute", "--year", str(year), "--unit", "9999"])
    assert bad.exit_code != 0 and "9999" in bad.output


def test_invalid_rule_params_are_refused(db, org):
    import pytest

    with pytest.raises(services.CreditError):
        services.save_rule(org.a.id, 2026, "media_tiers", {"tiers": []})
    with pytest.raises(services.CreditError):
        services.save_rule(org.a.id, 2026, "effective_time", {"minutes_per_hour": 0})
    with pytest.raises(services.CreditError):
        services.save_rule(org.a.id, 2026, "magic", {})
