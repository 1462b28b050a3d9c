"""Tables of 党员e家: assignments of required courses, pushed study materials, offline sessions with
check-in (trainings and branch life), and issued certificates with their verification token."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.courses.models import Course
from lms.extensions import db
from lms.org.models import OrgUnit
from lms.timeutil import utcnow

assignment_course = db.Table(
    "party_school_assignment_course",
    db.Column("assignment_id", db.ForeignKey("party_school_assignment.id", ondelete="CASCADE"), primary_key=True),
    db.Column("course_id", db.ForeignKey("course.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Assignment(db.Model):
    """Required courses (必修) for the people of an org subtree, optionally only some member categories."""

    __tablename__ = "party_school_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)
    categories: Mapped[list] = mapped_column(JSON, default=list)  # keys of MEMBER_CATEGORIES; [] = everyone
    starts_on: Mapped[date]
    due_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | withdrawn
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()
    created_by: Mapped[User | None] = relationship()
    courses: Mapped[list[Course]] = relationship(secondary=assignment_course, order_by="Course.id")

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class AssignmentTarget(db.Model):
    """A person an assignment reached (resolved when it was made, on transfer, or when they open their list)."""

    __tablename__ = "party_school_assignment_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("party_school_assignment.id", ondelete="CASCADE"),
                                               index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(16), default="initial")  # initial | joined | transfer
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)

    assignment: Mapped[Assignment] = relationship()

    __table_args__ = (UniqueConstraint("assignment_id", "user_id"),)


class Material(db.Model):
    """A study material (学习资料) pushed to the people of a subtree: an article or a document."""

    __tablename__ = "party_school_material"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="article")  # article | pdf | docx
    html: Mapped[str] = mapped_column(Text, default="")  # sanitised (article text or the converted Word file)
    text_length: Mapped[int] = mapped_column(default=0)
    file_path: Mapped[str | None] = mapped_column(String(255))  # PDF, relative to MEDIA_ROOT
    file_name: Mapped[str | None] = mapped_column(String(255))  # the uploader's file name (metadata)
    file_pages: Mapped[int | None]
    required_seconds: Mapped[int] = mapped_column(default=60)  # reading time that must really be spent
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)
    send_email: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    pushed_at: Mapped[datetime | None]

    org_unit: Mapped[OrgUnit] = relationship()
    created_by: Mapped[User | None] = relationship()


class MaterialReceipt(db.Model):
    """One recipient of a material and how far they really read it."""

    __tablename__ = "party_school_material_receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("party_school_material.id", ondelete="CASCADE"),
                                             index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)
    emailed_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    last_beat_at: Mapped[datetime | None]
    effective_seconds: Mapped[int] = mapped_column(default=0)
    reached_end_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    material: Mapped[Material] = relationship()
    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("material_id", "user_id"),)


class MailAddress(db.Model):
    """The e-mail address a person chose for study-material notices (opt-in; PIPL: only with consent)."""

    __tablename__ = "party_school_mail_address"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(200), info={"pi": True})
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


SESSION_KINDS = {"training": "培训交流", "branch_life": "支部组织生活"}
BRANCH_LIFE_TYPES = {
    "party_meeting": "支部党员大会",
    "committee_meeting": "支部委员会",
    "group_meeting": "党小组会",
    "party_lecture": "党课",
    "theme_day": "主题党日",
}
TRAINING_TYPES = {"training": "专题培训", "exchange": "交流研讨"}
DURATION_KINDS = {"full_day": "全天", "half_day": "半天", "hours": "按小时"}


class Session(db.Model):
    """An offline session: a training (培训交流) or a branch-life meeting (三会一课、主题党日)."""

    __tablename__ = "party_school_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="training")  # training | branch_life
    subtype: Mapped[str] = mapped_column(String(24), default="training")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), index=True)
    organizer_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    duration_kind: Mapped[str] = mapped_column(String(16), default="hours")  # full_day | half_day | hours
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("2"))
    capacity: Mapped[int | None]
    signup_required: Mapped[bool] = mapped_column(default=False)
    checkin_code: Mapped[str] = mapped_column(String(8))
    checkin_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    org_unit: Mapped[OrgUnit] = relationship()
    organizer: Mapped[User | None] = relationship()

    @property
    def kind_label(self) -> str:
        return SESSION_KINDS.get(self.kind, self.kind)

    @property
    def subtype_label(self) -> str:
        return {**BRANCH_LIFE_TYPES, **TRAINING_TYPES}.get(self.subtype, self.subtype)


class Attendance(db.Model):
    """A person's sign-up for and check-in at a session."""

    __tablename__ = "party_school_attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("party_school_session.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    signed_up_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    method: Mapped[str] = mapped_column(String(16), default="")  # code | qr
    credit_entry_id: Mapped[int | None] = mapped_column(ForeignKey("credit_entry.id", ondelete="SET NULL"))

    session: Mapped[Session] = relationship()
    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("session_id", "user_id"),)


class Certificate(db.Model):
    """An issued 年度学时证明 or course certificate; the token in its QR code opens the public check page."""

    __tablename__ = "party_school_certificate"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # annual | course
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    year: Mapped[int | None]
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="SET NULL"))
    issuer: Mapped[str] = mapped_column(String(200))
    figures: Mapped[dict] = mapped_column(JSON, default=dict)
    entry_ids: Mapped[list] = mapped_column(JSON, default=list)
    ledger_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_party_school_certificate_lookup", "user_id", "kind", "year", "course_id"),)
