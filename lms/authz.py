"""The one authorization function: may this user see/act on that person, org unit or object?

Every view asks `can()` / `require()`; lists are restricted with `scope_filter()` so that what a
secretary or organization admin sees in lists, counts and exports is exactly their scope.

Targets and actions:
- a `User`: VIEW (own record, or a person in the viewer's people scope), MANAGE (edit, deactivate,
  transfer out; never a person who holds a role above the manager's own).
- an `OrgUnit`: VIEW (in the people scope), MANAGE (change the tree: organization admins only),
  MANAGE_MEMBERS (add, import or transfer people into it: secretaries and organization admins).
- a `RoleGrant` (who grants which role to whom, scoped where): GRANT.
- a string area ("people", "audit", "admin:plugins" …): site-wide capabilities.
- any object with an `authz(user, action)` method (courses, lessons …).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, has_request_context
from flask_babel import gettext
from sqlalchemy import false, select, true

from lms.accounts.models import ROLES, User
from lms.org.models import OrgUnit, OrgUnitClosure

VIEW = "view"
MANAGE = "manage"
MANAGE_MEMBERS = "manage_members"
GRANT = "grant"

# Roles whose scope covers people and org units: secretary = one branch, org_admin = a subtree.
_SCOPED_PEOPLE_ROLES = ("org_admin", "secretary")
# Global roles only a system administrator hands out or holds authority over (三员分立).
_SYSTEM_ROLES = ("sysadmin", "auditor")


def _(message: str) -> str:
    """Translated in a request (the user's language); the Chinese msgid elsewhere (CLI, tasks)."""
    return gettext(message) if has_request_context() else message


def _scope_roots(user: User, roles=_SCOPED_PEOPLE_ROLES) -> list[int]:
    return [r.org_unit_id for r in user.roles if r.role in roles and r.org_unit_id is not None]


def _unit_in_scope(user: User, unit_id: int | None, roles=_SCOPED_PEOPLE_ROLES) -> bool:
    if unit_id is None:
        return False
    roots = _scope_roots(user, roles)
    if not roots:
        return False
    from lms.extensions import db

    hit = db.session.scalar(
        select(OrgUnitClosure.descendant_id)
        .where(OrgUnitClosure.ancestor_id.in_(roots), OrgUnitClosure.descendant_id == unit_id)
        .limit(1)
    )
    return hit is not None


def _active(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


def can(user, action: str, target) -> bool:
    """True when `user` may perform `action` on `target` (see the module docstring)."""
    if not _active(user):
        return False
    if isinstance(target, User):
        return _can_person(user, action, target)
    if isinstance(target, OrgUnit):
        if user.is_sysadmin:
            return True
        if action == MANAGE:  # changing the tree itself (units, roles within it)
            return _unit_in_scope(user, target.id, ("org_admin",))
        if action in (VIEW, MANAGE_MEMBERS):
            return _unit_in_scope(user, target.id)
        return False
    if isinstance(target, RoleGrant):
        return action == GRANT and grant_refusal(user, target) is None
    if isinstance(target, str):
        return _can_global(user, action, target)
    checker = getattr(target, "authz", None)
    if checker is None:
        raise TypeError(f"can(): no authorization rule for {type(target).__name__}")
    return bool(checker(user, action))


def _can_person(user: User, action: str, target: User) -> bool:
    if action == VIEW and target.id == user.id:
        return True
    if user.is_sysadmin:
        return action in (VIEW, MANAGE)
    # A branch secretary sees and manages the records of their own branch's people
    # (三会一课, check-ins, reminders); an organization admin those of their subtree.
    if not _unit_in_scope(user, target.org_unit_id):
        return False
    if action == VIEW:
        return True
    if action == MANAGE:
        return _outranks(user, target)
    return False


def _outranks(user: User, target: User) -> bool:
    """A manager may not manage someone holding authority the manager does not hold over them."""
    for r in target.roles:
        if r.role in _SYSTEM_ROLES:
            return False
        if r.role == "org_admin" and not _unit_in_scope(user, r.org_unit_id, ("org_admin",)):
            return False
    return True


@dataclass(frozen=True)
class RoleGrant:
    """The target of a GRANT check: give (or take away) `role`, scoped to `unit`, to/from `person`."""

    person: User
    role: str
    unit: OrgUnit | None = None


def grant_refusal(user: User, grant: RoleGrant) -> str | None:
    """Why `user` may not grant or revoke `grant`, as a sentence for the user; None when allowed."""
    if not _active(user):
        return _("请先登录。")
    role, unit, person = grant.role, grant.unit, grant.person
    if role not in ROLES or role == "member":
        return _("该角色不能单独授予（所有账号都是党员/学员）。")
    if person.id == user.id:
        return _("不能给自己授予或撤销角色。")
    scoped = ROLES[role][1]
    if scoped and unit is None:
        return _("请选择该角色负责的党组织。")
    if not scoped and unit is not None:
        return _("该角色不限定党组织。")
    if role == "secretary" and not unit.is_branch:
        return _("支部书记只能对应一个党支部。")
    if user.is_sysadmin:
        return None
    if role in _SYSTEM_ROLES:
        return _("只有系统管理员可以授予或撤销系统管理员、审计管理员角色。")
    if not user.has_role("org_admin"):
        return _("只有组织管理员可以授予或撤销角色。")
    if not _unit_in_scope(user, person.org_unit_id, ("org_admin",)):
        return _("此人不在您管理的党组织范围内。")
    if scoped and not _unit_in_scope(user, unit.id, ("org_admin",)):
        return _("所选党组织不在您的管理范围内。")
    return None


def _can_global(user: User, action: str, area: str) -> bool:
    """Site-wide capabilities that have no object: "admin:plugins", "audit", "people" …"""
    roles = user.role_names
    if area == "audit":
        return bool(roles & {"sysadmin", "auditor"}) and action == VIEW
    if area in {"admin:plugins", "admin:system", "admin:xapi"}:
        return "sysadmin" in roles
    if area == "people":  # the people/org admin area at all (what is shown is scoped further)
        return bool(roles & {"sysadmin", "org_admin", "secretary"})
    if area == "teach":
        return bool(roles & {"sysadmin", "teacher", "org_admin"})
    if area == "review":
        return bool(roles & {"sysadmin", "reviewer"})
    return False


def require(action: str, target) -> None:
    from flask_login import current_user

    if not can(current_user, action, target):
        abort(403)


def scope_roots(user: User, action: str = VIEW) -> list[int]:
    """The ids of the units at the top of `user`'s scope (for VIEW/MANAGE_MEMBERS: the people scope of
    secretaries and organization admins; for MANAGE: the organization admins' subtrees)."""
    return _scope_roots(user, ("org_admin",) if action == MANAGE else _SCOPED_PEOPLE_ROLES)


def scope_unit_ids(user: User, action: str = VIEW):
    """A SELECT of the org unit ids `user` may see (or manage), or None when unrestricted.

    For MANAGE the tree-changing scope (organization admins) is returned; for VIEW and
    MANAGE_MEMBERS the people scope (secretaries and organization admins).
    """
    if user.is_sysadmin:
        return None
    roots = _scope_roots(user, ("org_admin",) if action == MANAGE else _SCOPED_PEOPLE_ROLES)
    return select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id.in_(roots or [-1]))


def scope_filter(user: User, column, action: str = VIEW):
    """A WHERE clause restricting `column` (an org_unit_id column) to the user's scope."""
    if not _active(user):
        return false()
    ids = scope_unit_ids(user, action)
    if ids is None:
        return true()
    if not _scope_roots(user, ("org_admin",) if action == MANAGE else _SCOPED_PEOPLE_ROLES):
        return false()
    return column.in_(ids)
