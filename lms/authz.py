"""The one authorization function: may this user see/act on that person, org unit or object?

Every view asks `can()` / `require()`; lists are restricted with `scope_filter()` so that what a
secretary or organization admin sees in lists, counts and exports is exactly their scope.
"""
from __future__ import annotations

from flask import abort
from sqlalchemy import false, select, true

from lms.accounts.models import User
from lms.org.models import OrgUnit, OrgUnitClosure

VIEW = "view"
MANAGE = "manage"

# Roles whose scope covers people and org units: secretary = one branch, org_admin = a subtree.
_SCOPED_PEOPLE_ROLES = ("org_admin", "secretary")


def _scope_roots(user: User, roles=_SCOPED_PEOPLE_ROLES) -> list[int]:
    return [r.org_unit_id for r in user.roles if r.role in roles and r.org_unit_id is not None]


def _unit_in_scope(user: User, unit_id: int | None, roles=_SCOPED_PEOPLE_ROLES) -> bool:
    from lms.org.services import is_within

    if unit_id is None:
        return False
    return any(is_within(unit_id, root) for root in _scope_roots(user, roles))


def can(user, action: str, target) -> bool:
    """True when `user` may perform `action` ("view" or "manage", or a target-specific verb) on `target`."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if not user.is_active:
        return False
    if isinstance(target, User):
        if target.id == user.id and action == VIEW:
            return True
        if user.is_sysadmin:
            return True
        # A branch secretary sees and manages the records of their own branch's people
        # (三会一课, check-ins, reminders); an organization admin those of their subtree.
        return _unit_in_scope(user, target.org_unit_id)
    if isinstance(target, OrgUnit):
        if user.is_sysadmin:
            return True
        # Changing the tree itself (units, roles within it) is for organization admins only.
        roles = ("org_admin",) if action == MANAGE else _SCOPED_PEOPLE_ROLES
        return _unit_in_scope(user, target.id, roles)
    if isinstance(target, str):
        return _can_global(user, action, target)
    checker = getattr(target, "authz", None)
    if checker is None:
        raise TypeError(f"can(): no authorization rule for {type(target).__name__}")
    return bool(checker(user, action))


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


def scope_unit_ids(user: User, action: str = VIEW):
    """A SELECT of the org unit ids `user` may see (or manage), or None when unrestricted."""
    if user.is_sysadmin:
        return None
    roots = _scope_roots(user)
    return select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id.in_(roots or [-1]))


def scope_filter(user: User, column, action: str = VIEW):
    """A WHERE clause restricting `column` (an org_unit_id column) to the user's scope."""
    ids = scope_unit_ids(user, action)
    if ids is None:
        return true()
    if not _scope_roots(user):
        return false()
    return column.in_(ids)
