"""Organization tree operations; subtree queries go through the closure table, never Python recursion."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import delete, insert, select

from lms.extensions import db
from lms.org.models import UNIT_KINDS, OrgUnit, OrgUnitClosure


class OrgError(ValueError):
    """A tree change that would break the tree; the message is for the user."""


def create_unit(name: str, kind: str = "branch", parent: OrgUnit | None = None, sort_order: int = 0) -> OrgUnit:
    if kind not in UNIT_KINDS:
        raise OrgError(_("未知的组织类型：%(kind)s", kind=kind))
    name = name.strip()
    if not name:
        raise OrgError(_("组织名称不能为空"))
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
        raise OrgError(_("不能把组织移动到它自己或其下级组织之下"))
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


def rename_unit(unit: OrgUnit, name: str) -> None:
    name = (name or "").strip()
    if not name:
        raise OrgError(_("组织名称不能为空"))
    if len(name) > 120:
        raise OrgError(_("组织名称不能超过 120 个字"))
    if name == unit.name:
        return
    _check_sibling_name(name, unit.parent_id, exclude_id=unit.id)
    unit.name = name


def _check_sibling_name(name: str, parent_id: int | None, exclude_id: int | None = None) -> None:
    q = select(OrgUnit.id).where(OrgUnit.name == name)
    q = q.where(OrgUnit.parent_id == parent_id) if parent_id is not None else q.where(OrgUnit.parent_id.is_(None))
    if exclude_id is not None:
        q = q.where(OrgUnit.id != exclude_id)
    if db.session.scalar(q.limit(1)) is not None:
        raise OrgError(_("同一上级组织下已有名为“%(name)s”的组织", name=name))


def check_new_unit(name: str, kind: str, parent: OrgUnit | None) -> None:
    """Raise OrgError when a unit with this name and kind cannot be created under `parent`."""
    name = (name or "").strip()
    if not name:
        raise OrgError(_("组织名称不能为空"))
    if len(name) > 120:
        raise OrgError(_("组织名称不能超过 120 个字"))
    if kind not in UNIT_KINDS:
        raise OrgError(_("未知的组织类型：%(kind)s", kind=kind))
    if parent is not None and parent.is_branch:
        raise OrgError(_("党支部下不能再设下级组织"))
    _check_sibling_name(name, parent.id if parent else None)


def check_move(unit: OrgUnit, new_parent: OrgUnit) -> None:
    if unit.parent_id is None:
        raise OrgError(_("不能移动最上级的党组织"))
    if new_parent.is_branch:
        raise OrgError(_("党支部下不能再设下级组织"))
    if is_within(new_parent.id, unit.id):
        raise OrgError(_("不能把组织移动到它自己或其下级组织之下"))
    if new_parent.id == unit.parent_id:
        raise OrgError(_("该组织已经在所选上级组织之下"))
    _check_sibling_name(unit.name, new_parent.id, exclude_id=unit.id)


def delete_refusal(unit: OrgUnit) -> str | None:
    """Why `unit` cannot be deleted (it must be empty), or None."""
    from lms.accounts.models import RoleAssignment, User

    if db.session.scalar(select(OrgUnit.id).where(OrgUnit.parent_id == unit.id).limit(1)) is not None:
        return _("该组织还有下级组织，请先移走或删除下级组织")
    if db.session.scalar(select(User.id).where(User.org_unit_id == unit.id).limit(1)) is not None:
        return _("该组织还有人员（包括已停用的账号），请先转出")
    if db.session.scalar(select(RoleAssignment.id).where(RoleAssignment.org_unit_id == unit.id).limit(1)):
        return _("仍有人员在该组织担任角色，请先撤销这些角色")
    return None


def delete_unit(unit: OrgUnit) -> None:
    """Delete an empty unit; other records that still point at it make this fail with OrgError
    (the session must then be rolled back)."""
    from sqlalchemy.exc import IntegrityError

    from lms.accounts.models import PersonTransfer

    reason = delete_refusal(unit)
    if reason:
        raise OrgError(reason)
    # The transfer history keeps the unit's name; only the link goes.
    db.session.execute(
        PersonTransfer.__table__.update().where(PersonTransfer.from_unit_id == unit.id).values(from_unit_id=None)
    )
    db.session.execute(
        PersonTransfer.__table__.update().where(PersonTransfer.to_unit_id == unit.id).values(to_unit_id=None)
    )
    try:
        db.session.execute(delete(OrgUnitClosure).where(OrgUnitClosure.descendant_id == unit.id))
        db.session.delete(unit)
        db.session.flush()
    except IntegrityError as exc:
        raise OrgError(_("该组织仍被课程或其他记录引用，不能删除")) from exc


def units_under(root_ids) -> list[tuple[OrgUnit, int]]:
    """Units below any of `root_ids` (None: every unit), tree-ordered, with their depth in the tree.

    Two queries whatever the size of the tree: the units, and their depth from the top of the tree.
    """
    q = select(OrgUnit)
    if root_ids is not None:
        q = q.where(
            OrgUnit.id.in_(select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id.in_(root_ids)))
        )
    units = list(db.session.scalars(q))
    if not units:
        return []
    by_id = {u.id: u for u in units}
    children: dict[int | None, list[OrgUnit]] = {}
    for u in units:
        parent = u.parent_id if u.parent_id in by_id else None
        children.setdefault(parent, []).append(u)
    for lst in children.values():
        lst.sort(key=lambda u: (u.sort_order, u.id))
    out: list[tuple[OrgUnit, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for u in children.get(parent, []):
            out.append((u, depth))
            walk(u.id, depth + 1)

    walk(None, 0)
    return out


def member_counts(unit_ids, user_filter=None) -> dict[int, int]:
    """Active people in the subtree of each unit: one grouped query through the closure table."""
    from sqlalchemy import func

    from lms.accounts.models import User

    q = (
        select(OrgUnitClosure.ancestor_id, func.count(User.id))
        .join(User, User.org_unit_id == OrgUnitClosure.descendant_id)
        .where(User.is_active_account.is_(True))
        .group_by(OrgUnitClosure.ancestor_id)
    )
    if unit_ids is not None:
        q = q.where(OrgUnitClosure.ancestor_id.in_(unit_ids))
    if user_filter is not None:
        q = q.where(user_filter)
    return {uid: n for uid, n in db.session.execute(q)}


def paths_for(unit_ids) -> dict[int, str]:
    """The "某学院党委/某党支部" path (as `OrgUnit.path_names`) of many units in one query."""
    ids = {i for i in unit_ids if i is not None}
    if not ids:
        return {}
    anc = OrgUnit.__table__.alias("anc")
    rows = db.session.execute(
        select(OrgUnitClosure.descendant_id, anc.c.name, anc.c.parent_id, OrgUnitClosure.depth)
        .join(anc, anc.c.id == OrgUnitClosure.ancestor_id)
        .where(OrgUnitClosure.descendant_id.in_(ids))
        .order_by(OrgUnitClosure.descendant_id, OrgUnitClosure.depth.desc())
    )
    chains: dict[int, list[tuple[str, int | None]]] = {}
    for desc_id, name, parent_id, _depth in rows:
        chains.setdefault(desc_id, []).append((name, parent_id))
    out = {}
    for uid, chain in chains.items():
        # chain is root first; the root is left out unless the unit is the root itself
        names = [n for n, p in chain if p is not None] or [chain[-1][0]]
        out[uid] = "/".join(names)
    return out


def all_paths(root_ids=None) -> list[tuple[OrgUnit, str]]:
    """(unit, path) for the units under `root_ids` (None: all), tree-ordered."""
    units = units_under(root_ids)
    paths = paths_for([u.id for u, _ in units])
    return [(u, paths.get(u.id, u.name)) for u, _ in units]
