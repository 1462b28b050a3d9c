"""Credit hours (学时): versioned rules per org unit and year, the ledger, requirements and exemptions."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.extensions import db
from lms.integrity import seal_column
from lms.org.models import OrgUnit
from lms.timeutil import utcnow

# Rule kinds. "online" rules turn course/lesson completions into hours; the "offline" rule prices
# in-person activities (trainings, branch study) recorded through lms.credits.services.
RULE_KINDS = {
    "course_fixed": "按课程固定学时（完成课程计该课程学时）",
    "media_tiers": "按课时时长分档",
    "effective_time": "按有效学习时长折算",
    "in_person": "线下学习（培训、支部学习）",
}
ONLINE_KINDS = ("course_fixed", "media_tiers", "effective_time")
OFFLINE_KINDS = ("in_person",)


def scope_of_kind(kind: str) -> str:
    return "offline" if kind in OFFLINE_KINDS else "online"


SOURCE_TYPES = {
    "course": "课程",
    "lesson": "课时",
    "reading": "阅读",
    "quiz": "测验",
    "training": "培训",
    "branch_life": "支部学习",
    "in_person": "线下学习",
}

# Requirement categories: ordinary members, and branch secretaries / committee members (支委委员).
REQUIREMENT_CATEGORIES = {
    "member": "党员",
    "secretary": "支部书记、委员",
}


class CreditRule(db.Model):
    """One version of the rule of an org unit for a year; editing a rule adds a new version."""

    __tablename__ = "credit_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(index=True)
    scope: Mapped[str] = mapped_column(String(16), default="online")  # online | offline
    version: Mapped[int] = mapped_column(default=1)
    kind: Mapped[str] = mapped_column(String(24))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("org_unit_id", "year", "scope", "version"),)

    @property
    def kind_label(self) -> str:
        return RULE_KINDS.get(self.kind, self.kind)


class CreditEntry(db.Model):
    """One line of a person's credit-hour ledger: what was earned, from what, by which rule version."""

    __tablename__ = "credit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"), index=True)
    source_type: Mapped[str] = mapped_column(String(24))
    source_id: Mapped[str] = mapped_column(String(64))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    # Hours given by the caller (e.g. a reviewed training record) are not re-priced by recompute.
    hours_fixed: Mapped[bool] = mapped_column(default=False)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("credit_rule.id", ondelete="SET NULL"))
    rule_version: Mapped[int | None]
    rule_kind: Mapped[str] = mapped_column(String(24), default="")
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    earned_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    seal: Mapped[str | None] = seal_column()  # PI-04, lms.integrity

    user: Mapped[User] = relationship()
    org_unit: Mapped[OrgUnit | None] = relationship()
    rule: Mapped[CreditRule | None] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "source_type", "source_id"),
        Index("ix_credit_entry_unit_year", "org_unit_id", "year"),
        # With the hours (and, by year, the time earned): the statistics sum a subtree's hours per person
        # and per month from the indexes alone.
        Index("ix_credit_entry_user_year", "user_id", "year", "hours"),
        Index("ix_credit_entry_year_earned", "year", "earned_at", "user_id", "hours"),
    )

    @property
    def source_label(self) -> str:
        return SOURCE_TYPES.get(self.source_type, self.source_type)


class CreditRequirement(db.Model):
    """A yearly requirement override for a category of people in an org unit's subtree."""

    __tablename__ = "credit_requirement"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)
    year: Mapped[int]
    category: Mapped[str] = mapped_column(String(16))  # member | secretary
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()

    __table_args__ = (UniqueConstraint("org_unit_id", "year", "category"),)

    @property
    def category_label(self) -> str:
        return REQUIREMENT_CATEGORIES.get(self.category, self.category)


class CreditExemption(db.Model):
    """A reduced (or waived) requirement for one person and year (党员教育管理工作条例 第二十三条)."""

    __tablename__ = "credit_exemption"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    year: Mapped[int]
    reason: Mapped[str] = mapped_column(Text, info={"pi": True})
    reduced_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))  # the requirement that applies instead
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])

    __table_args__ = (UniqueConstraint("user_id", "year"),)
