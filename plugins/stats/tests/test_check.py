"""`flask lms stats-check`: figures recomputed from the statements; a tampered projection is reported."""
from __future__ import annotations

import pytest


@pytest.fixture
def learned(users, make_course, learn):
    c = make_course(quiz=True)
    learn.complete(users.member, c)
    learn.enroll(users.member_a2, c)
    learn.quiz(users.member, c, 0.8)
    learn.complete(users.member_b, c)
    return c


def test_check_agrees_with_untouched_projections(runner, learned, year):
    result = runner.invoke(args=["lms", "stats-check", "--year", str(year)])
    assert result.exit_code == 0, result.output
    assert "一致" in result.output


def test_check_reports_a_tampered_enrolment(runner, db, users, learned, year):
    from lms.courses.models import Enrollment
    from lms.timeutil import utcnow

    enr = db.session.query(Enrollment).filter_by(user_id=users.member_a2.id, course_id=learned.id).one()
    enr.completed_at = utcnow()  # a completion without its statement
    db.session.commit()
    result = runner.invoke(args=["lms", "stats-check", "--year", str(year)])
    assert result.exit_code == 1, result.output
    assert "1 处不一致" in result.output
    assert f"[课程完成] 计算机学院党委/计算机学院学生第一党支部 {users.member_a2.name}" in result.output
    assert "统计=已完成，语句=无完成语句" in result.output


def test_check_reports_a_tampered_score_and_ledger_line(runner, db, users, org, learned, year):
    from lms.courses.models import LessonProgress
    from lms.credits.models import CreditEntry

    row = db.session.query(LessonProgress).filter(LessonProgress.user_id == users.member.id,
                                                  LessonProgress.score.is_not(None)).one()
    row.score = 0.99
    db.session.add(CreditEntry(user_id=users.member_a2.id, year=year, org_unit_id=org.a2.id, source_type="course",
                               source_id=str(learned.id), course_id=learned.id, title=learned.title, hours=2))
    db.session.commit()
    result = runner.invoke(args=["lms", "stats-check", "--year", str(year)])
    assert result.exit_code == 1
    assert "[测验成绩]" in result.output and "统计=99.00，语句=80.00" in result.output
    assert "[学时台账]" in result.output and users.member_a2.name in result.output


def test_check_can_be_limited_to_a_subtree(runner, db, users, org, learned, year):
    from lms.courses.models import Enrollment

    db.session.query(Enrollment).filter_by(user_id=users.member_b.id).delete()
    db.session.commit()
    assert runner.invoke(args=["lms", "stats-check", "--unit", str(org.a.id)]).exit_code == 0
    result = runner.invoke(args=["lms", "stats-check", "--unit", str(org.b.id)])
    assert result.exit_code == 1 and "有选课语句" in result.output
    assert runner.invoke(args=["lms", "stats-check", "--unit", "999999"]).exit_code == 2
