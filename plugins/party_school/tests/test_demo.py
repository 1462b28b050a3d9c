"""`flask lms demo` seeds 党员e家: the year's assignment, a pushed material, a training and a 主题党日; twice is once."""
from __future__ import annotations

from sqlalchemy import func, select

from lms.credits.models import CreditEntry
from plugins.party_school.models import Assignment, AssignmentTarget, Material, MaterialReceipt, Session


def test_demo_has_assignment_material_training_and_theme_day(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["lms", "demo"])
    assert result.exit_code == 0, result.output
    a = db.session.scalar(select(Assignment))
    assert a is not None and "32学时" in a.title and a.courses
    assert db.session.scalar(select(func.count(AssignmentTarget.id))) > 10
    assert db.session.scalar(select(Material)) is not None
    assert db.session.scalar(select(func.count(MaterialReceipt.id))) > 10
    kinds = sorted(s.subtype for s in db.session.scalars(select(Session)))
    assert kinds == ["theme_day", "training"]
    assert db.session.scalar(select(func.count(CreditEntry.id)).where(CreditEntry.source_type == "branch_life")) == 2
    counts = [db.session.scalar(select(func.count()).select_from(t)) for t in (Assignment, Material, Session)]
    result = runner.invoke(args=["lms", "demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert [db.session.scalar(select(func.count()).select_from(t)) for t in (Assignment, Material, Session)] == counts
