"""Organization tree operations; subtree queries go through the closure table, never Python recursion."""
from __future__ import annotations

from sqlalchemy import delete, insert, select

from lms.extensions import db
from lms.org.models import UNIT_KINDS, OrgUnit, OrgUnitClosure


class OrgError(ValueError):
    """A tree change that would break the tree; the message is for the user."""


def create_unit(name: str, kind: str = "branch", parent: OrgUnit | None = None, sort_order: int = 0) -> OrgUnit:
    if kind not in UNIT_KINDS:
        raise OrgError(f"未知的组织类型：{kind}")
    name = name.strip()
    if not name:
        raise OrgError("组织名称不能为空")
    unit = OrgUnit(name=name, kind=kind, parent_id=parent.id if parent else None, sort_order=sort_order)
    db.session.add(unit)
    db.session.flush()
    db.session.add(OrgUnitClosure(ancestor_id=unit.id, descendant_id=unit.id, depth=0))
    if parent is not None:
        db.session.execute(
            insert(OrgUnitClosure).from_select(
                ["ancestor_id", "descendant_id", "depth"],
                select(OrgUnitClosure.ancestor_id, unit.id, OrgUnitClosure.depth + 1).where(
                    OrgUnitClosure.descendant_id == parent.id
                ),
            )
        )
    return unit


def subtree_ids_query(unit_id: int):
    """A SELECT of the ids of `unit_id` and all its descendants, for use in `.in_()`."""
    return select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit_id)


def subtree_ids(unit_id: int) -> set[int]:
    return set(db.session.scalars(subtree_ids_query(unit_id)))


def is_within(unit_id: int | None, ancestor_id: int) -> bool:
    """True when `unit_id` is `ancestor_id` or below it."""
    if unit_id is None:
        return False
    return (
        db.session.scalar(
            select(OrgUnitClosure.depth).where(
                OrgUnitClosure.ancestor_id == ancestor_id, OrgUnitClosure.descendant_id == unit_id
            )
        )
        is not None
    )


def move_unit(unit: OrgUnit, new_parent: OrgUnit) -> None:
    """Re-hang `unit` (with its subtree) under `new_parent`."""
    if is_within(new_parent.id, unit.id):
        raise OrgError("不能把组织移动到它自己或其下级组织之下")
    sub = subtree_ids(unit.id)
    # Drop links from the old ancestors into the subtree, keep links inside it.
    db.session.execute(
        delete(OrgUnitClosure).where(
            OrgUnitClosure.descendant_id.in_(sub), OrgUnitClosure.ancestor_id.not_in(sub)
        )
    )
    inner = select(OrgUnitClosure).where(OrgUnitClosure.ancestor_id == unit.id).subquery()
    outer = select(OrgUnitClosure).where(OrgUnitClosure.descendant_id == new_parent.id).subquery()
    db.session.execute(
        insert(OrgUnitClosure).from_select(
            ["ancestor_id", "descendant_id", "depth"],
            select(outer.c.ancestor_id, inner.c.descendant_id, outer.c.depth + inner.c.depth + 1).select_from(
                outer.join(inner, db.true())
            ),
        )
    )
    unit.parent_id = new_parent.id


def find_by_path(path: str, root: OrgUnit | None = None) -> OrgUnit | None:
    """Resolve "某学院党委/某党支部" (names separated by '/') from the root's children downwards.

    A path may also start with the root's own name.
    """
    parts = [p.strip() for p in path.replace("／", "/").split("/") if p.strip()]
    if not parts:
        return None
    if root is None:
        root = db.session.scalar(select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id))
        if root is None:
            return None
    current = root
    if parts[0] == root.name:
        parts = parts[1:]
    for name in parts:
        current = db.session.scalar(
            select(OrgUnit).where(OrgUnit.parent_id == current.id, OrgUnit.name == name)
        )
        if current is None:
            return None
    return current


def roots() -> list[OrgUnit]:
    return list(db.session.scalars(select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id)))
