"""The core's export of personal data: the people list (人员名单) of the people area, as an export kind."""
from __future__ import annotations

from lms.exports.services import ExportKind, Stamp


def _filter(params: dict):
    from lms.accounts.services import PeopleFilter

    return PeopleFilter(q=str(params.get("q") or "")[:64], unit_id=params.get("unit_id"),
                        category=params.get("category") or "", state=params.get("state") or "")


def _may_export(user, params: dict) -> bool:
    from lms.authz import VIEW, can

    return can(user, VIEW, "people")


def _may_approve(user, params: dict, requester) -> bool:
    """Someone whose people scope covers what the requester exported: the filtered unit, else the requester's
    whole scope (a system administrator's export of everyone: another system administrator)."""
    from lms.authz import VIEW, can, scope_roots
    from lms.extensions import db
    from lms.org.models import OrgUnit

    if not _may_export(user, params):
        return False
    if user.is_sysadmin:
        return True
    if requester.is_sysadmin and not params.get("unit_id"):
        return False
    roots = [params["unit_id"]] if params.get("unit_id") else scope_roots(requester)
    units = [db.session.get(OrgUnit, unit_id) for unit_id in roots]
    return bool(units) and all(u is not None and can(user, VIEW, u) for u in units)


def _count(user, params: dict) -> int:
    from lms.accounts.services import count_people

    return count_people(user, _filter(params))


def _build(user, params: dict, scope: str, stamp: Stamp) -> tuple[bytes, int]:
    from flask_babel import gettext

    from lms.accounts.services import export_people

    return export_people(user, _filter(params), gettext("人员名单 · %(scope)s", scope=scope), stamp=stamp)


def _scope(user, params: dict) -> str:
    from flask_babel import gettext
    from sqlalchemy import select

    from lms.authz import VIEW, can, scope_roots
    from lms.extensions import db
    from lms.org.models import OrgUnit

    if params.get("unit_id"):
        unit = db.session.get(OrgUnit, params["unit_id"])
        if unit is not None and can(user, VIEW, unit):
            return unit.name
    if user.is_sysadmin:
        return gettext("全部")
    roots = scope_roots(user)
    names = [u.name for u in db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(roots)))] if roots else []
    return "、".join(names) or gettext("无")


def _filename(params: dict, scope: str, stamp: Stamp) -> str:
    from lms.templating import local_dt

    return f"人员名单_{scope}_{local_dt(stamp.at, '%Y%m%d')}"  # Beijing date


PEOPLE = ExportKind(
    name="people", action="people.export", label="人员名单", may_export=_may_export, count=_count, build=_build,
    scope=_scope, filename=_filename, may_approve=_may_approve, target=lambda params: ("org_unit", params.get("unit_id") or "scope"),
)
