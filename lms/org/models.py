"""The party organization tree (党委 → 党总支/二级学院党委 → 党支部) with a closure table for subtrees."""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext
from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.extensions import db
from lms.timeutil import utcnow

# Stored as the key; the Chinese label is the msgid (lms/translations/runtime_msgids.py), translated when shown.
UNIT_KINDS = {
    "committee": "党委",
    "college_committee": "二级学院党委",
    "general_branch": "党总支",
    "branch": "党支部",
}


class OrgUnit(db.Model):
    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(24), default="branch")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[OrgUnit]] = relationship(
        back_populates="parent", order_by="(OrgUnit.sort_order, OrgUnit.id)"
    )

    __table_args__ = (Index("ix_org_unit_parent_name", "parent_id", "name", unique=True),)

    @property
    def kind_label(self) -> str:
        """The kind in the reader's language."""
        return gettext(UNIT_KINDS[self.kind]) if self.kind in UNIT_KINDS else self.kind

    @property
    def is_branch(self) -> bool:
        return self.kind == "branch"

    def ancestors(self) -> list[OrgUnit]:
        """Root first, self excluded; one indexed query."""
        q = (
            select(OrgUnit)
            .join(OrgUnitClosure, OrgUnitClosure.ancestor_id == OrgUnit.id)
            .where(OrgUnitClosure.descendant_id == self.id, OrgUnitClosure.depth > 0)
            .order_by(OrgUnitClosure.depth.desc())
        )
        return list(db.session.scalars(q))

    @property
    def path_names(self) -> str:
        """"某学院党委/某党支部" — the form used by imports and exports (root excluded when it has a parent)."""
        chain = self.ancestors()[1:] + [self] if self.parent_id else [self]
        return "/".join(u.name for u in chain)

    def __repr__(self) -> str:
        return f"<OrgUnit {self.id} {self.name}>"


class OrgUnitClosure(db.Model):
    """One row per (ancestor, descendant) pair, self included at depth 0."""

    __tablename__ = "org_unit_closure"

    ancestor_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), primary_key=True)
    descendant_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    depth: Mapped[int] = mapped_column(default=0)
