"""People (party members, teachers, administrators) and their scoped roles.

Only what the organization department keeps is collected: real name, login id, branch, member
category, date joined and an optional phone number (PIPL art. 6, minimum necessary).
"""
from __future__ import annotations

from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.crypto import EncryptedText
from lms.extensions import db
from lms.org.models import OrgUnit
from lms.timeutil import utcnow

MEMBER_CATEGORIES = {
    "full": "正式党员",
    "probationary": "预备党员",
    "candidate": "发展对象",
    "activist": "入党积极分子",
    "masses": "群众",
}
CATEGORY_BY_LABEL = {v: k for k, v in MEMBER_CATEGORIES.items()}

# role -> (label, scoped to an org unit?)
ROLES = {
    "member": ("党员/学员", False),
    "teacher": ("教师", False),
    "reviewer": ("审核员", True),
    "secretary": ("支部书记", True),
    "org_admin": ("组织管理员", True),
    "sysadmin": ("系统管理员", False),
    "auditor": ("审计管理员", False),
}


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    login_id: Mapped[str] = mapped_column(String(64), unique=True, info={"pi": True})  # 学号/工号
    name: Mapped[str] = mapped_column(String(64), info={"pi": True})
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True, info={"pi": True})
    category: Mapped[str] = mapped_column(String(16), default="full", info={"pi": True})
    joined_on: Mapped[date | None] = mapped_column(info={"pi": True})
    phone: Mapped[str | None] = mapped_column(EncryptedText("user.phone"), info={"pi": True})  # AES-GCM at rest (PI-03)

    password_hash: Mapped[str | None] = mapped_column(String(255), info={"pi": True})
    must_change_password: Mapped[bool] = mapped_column(default=True)
    password_changed_at: Mapped[datetime | None]
    is_active_account: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText("user.totp_secret"), info={"pi": True})
    totp_last_step: Mapped[int | None]
    totp_failures: Mapped[int] = mapped_column(default=0)
    totp_locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    org_unit: Mapped[OrgUnit | None] = relationship()
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", foreign_keys="RoleAssignment.user_id"
    )

    # Flask-Login: inactive accounts cannot log in or keep a session.
    @property
    def is_active(self) -> bool:
        return self.is_active_account

    @property
    def category_label(self) -> str:
        return MEMBER_CATEGORIES.get(self.category, self.category)

    def has_role(self, role: str) -> bool:
        return any(r.role == role for r in self.roles)

    def role_units(self, role: str) -> list[int]:
        return [r.org_unit_id for r in self.roles if r.role == role and r.org_unit_id is not None]

    @property
    def role_names(self) -> set[str]:
        names = {r.role for r in self.roles}
        names.add("member")
        return names

    @property
    def is_sysadmin(self) -> bool:
        return self.has_role("sysadmin")

    def __repr__(self) -> str:
        return f"<User {self.login_id}>"


class RoleAssignment(db.Model):
    __tablename__ = "role_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(24))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="roles", foreign_keys=[user_id])
    org_unit: Mapped[OrgUnit | None] = relationship()

    __table_args__ = (UniqueConstraint("user_id", "role", "org_unit_id"),)

    @property
    def label(self) -> str:
        return ROLES.get(self.role, (self.role, False))[0]


class PersonTransfer(db.Model):
    """One 组织关系转接: a person's party relationship moved from one unit to another.

    The unit names are kept as they were at the time, so the history survives renames and deletions.
    """

    __tablename__ = "person_transfer"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    from_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"))
    to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"))
    from_name: Mapped[str] = mapped_column(String(255), default="", info={"pi": True})
    to_name: Mapped[str] = mapped_column(String(255), default="", info={"pi": True})
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    by: Mapped[User | None] = relationship(foreign_keys=[by_id])


# PrivacyRecord.kind values
PRIVACY_CONSENT = "consent"  # the person agreed to the notice of `notice_version` (PIPL art. 14, 29)
PRIVACY_DECLINE = "decline"  # the person refused it (logged out; the organization follows up)
PRIVACY_WITHDRAW = "withdraw"  # the person withdrew their consent (PIPL art. 15); the notice is asked again
PRIVACY_BASIS = "basis"  # the organization recorded its lawful basis for holding the person's data (art. 13)

# Lawful bases (PIPL art. 13 para. 1) an organization can record for membership data.
PRIVACY_BASES = {
    "hr_management": "按照依法制定的规章制度实施人员管理所必需（个人信息保护法第十三条第一款第二项）",
    "legal_duty": "履行法定职责或者法定义务所必需（个人信息保护法第十三条第一款第三项）",
}


class PrivacyRecord(db.Model):
    """One recorded notice consent or lawful basis for a person's data (PI-02); rows are only added.

    Party membership is sensitive personal information (特定身份, PIPL art. 28): the person sees the
    privacy notice at first login and agrees (a `consent` row with the notice version and time), and
    the organization department that entered the person records its basis (`basis` row, source
    `import` / `form` / `cli` / `migration`).
    """

    __tablename__ = "privacy_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    notice_version: Mapped[str | None] = mapped_column(String(32))
    basis: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # login | import | form | cli | migration | demo
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    ip: Mapped[str | None] = mapped_column(String(64), info={"pi": True})


# PrivacyRequest.kind / .status values (PI-06: data-subject requests)
REQUEST_CORRECTION = "correction"
REQUEST_OPEN = "open"
REQUEST_DONE = "done"


class PrivacyRequest(db.Model):
    """A person's request that the organization correct their data (PIPL art. 46), until a manager closes it."""

    __tablename__ = "privacy_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default=REQUEST_CORRECTION)
    field: Mapped[str] = mapped_column(String(32))  # which item is wrong (CORRECTION_FIELDS key)
    detail: Mapped[str] = mapped_column(Text, info={"pi": True})  # what is wrong and what is right, in the person's words
    status: Mapped[str] = mapped_column(String(16), default=REQUEST_OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    handled_at: Mapped[datetime | None]
    reply: Mapped[str | None] = mapped_column(Text, info={"pi": True})

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    handled_by: Mapped[User | None] = relationship(foreign_keys=[handled_by_id])


class PersonErasure(db.Model):
    """The register of erased people (PIPL art. 47): whose personal data was removed, when and by whom.

    `person_id` has no foreign key on purpose, like `audit_log.actor_id`: the row is the flag on the audit
    rows that are kept about that id (retention duty), and it names no one (the user row is anonymised).
    """

    __tablename__ = "person_erasure"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(unique=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
    by_login: Mapped[str | None] = mapped_column(String(64), info={"pi": True})  # who erased (the actor's login id; "cli")
    audit_rows_kept: Mapped[int] = mapped_column(default=0)
    audit_kept_until: Mapped[datetime | None]  # the youngest kept row's time + the retention period
    summary: Mapped[dict | None] = mapped_column(JSON)  # {table: rows deleted / anonymised}
