"""People and roles: searching in scope, creating and editing people, roles, transfers, exports.

No request objects here: views, the CLI and the importer call these functions; the caller commits.
Every change that touches personal data or authority writes its audit row in the same transaction.
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from lms import audit
from lms.accounts.models import (
    CATEGORY_BY_LABEL,
    MEMBER_CATEGORIES,
    ROLES,
    PersonTransfer,
    RoleAssignment,
    User,
)
from lms.authz import GRANT, MANAGE, MANAGE_MEMBERS, RoleGrant, can, grant_refusal, scope_filter
from lms.extensions import db
from lms.org.models import OrgUnit
from lms.org.services import paths_for, subtree_ids_query
from lms.plugins import hook
from lms.timeutil import utcnow

log = logging.getLogger(__name__)

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
LOGIN_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)


class AccountError(ValueError):
    """A change that cannot be made; the message is a sentence for the user."""


# --- values ------------------------------------------------------------------------------------------
def mask_phone(phone: str | None) -> str:
    """138****5678: enough to recognise a number, not enough to call it."""
    if not phone:
        return ""
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * len(phone)


def shows_phone(viewer, person: User) -> bool:
    return viewer is not None and (getattr(viewer, "id", None) == person.id or can(viewer, MANAGE, person))


def normalize_phone(raw) -> str | None:
    """An 11-digit mainland mobile number without separators, None when empty; ValueError when bad."""
    if raw is None:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = re.sub(r"[\s\-]", "", str(raw))
    if text.startswith("+86"):
        text = text[3:]
    if not text:
        return None
    if not PHONE_RE.match(text):
        raise ValueError(text)
    return text


def parse_date(raw) -> date | None:
    """A date from a date cell or text YYYY-MM-DD / YYYY/MM/DD / YYYY年M月D日; ValueError when bad."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    if not text:
        return None
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))  # ValueError for 2023-02-30
    raise ValueError(text)


def normalize_login_id(raw) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    return str(raw).strip()


def check_initial_password(password: str, user=None) -> list[str]:
    """Problems with an initial password, in the reader's language; empty when it is acceptable.

    Uses the authentication module's policy (`lms.auth.services.check_password_policy`) when present.
    """
    from lms.auth import services as auth_services

    policy = getattr(auth_services, "check_password_policy", None)
    if policy is None:
        return [] if len(password or "") >= 8 else [_("密码至少需要 8 个字符")]
    try:
        result = policy(password, user) if user is not None else policy(password)
    except ValueError as exc:
        return [str(exc) or _("密码不符合安全要求")]
    if result is None or result is True:
        return []
    if result is False:
        return [_("密码不符合安全要求")]
    if isinstance(result, str):
        return [result] if result else []
    return [str(m) for m in result]


# --- queries -----------------------------------------------------------------------------------------
@dataclass
class PeopleFilter:
    q: str = ""
    unit_id: int | None = None
    category: str = ""
    state: str = ""  # "" (active), "inactive", "all"


def people_query(viewer: User, flt: PeopleFilter):
    """SELECT of the people `viewer` may see, narrowed by `flt`, in a stable order."""
    q = select(User).where(scope_filter(viewer, User.org_unit_id))
    text = (flt.q or "").strip()
    if text:
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(or_(User.name.like(like, escape="\\"), User.login_id.like(like, escape="\\")))
    if flt.unit_id:
        q = q.where(User.org_unit_id.in_(subtree_ids_query(flt.unit_id)))
    if flt.category in MEMBER_CATEGORIES:
        q = q.where(User.category == flt.category)
    if flt.state == "inactive":
        q = q.where(User.is_active_account.is_(False))
    elif flt.state != "all":
        q = q.where(User.is_active_account.is_(True))
    return q.options(selectinload(User.org_unit), selectinload(User.roles)).order_by(User.org_unit_id, User.login_id)


def count_people(viewer: User, flt: PeopleFilter) -> int:
    return db.session.scalar(select(func.count()).select_from(people_query(viewer, flt).order_by(None).subquery()))


def manageable_units(viewer: User) -> list[tuple[OrgUnit, str]]:
    """(unit, path) of the units `viewer` may place people in, tree-ordered."""
    from lms.authz import scope_roots
    from lms.org.services import all_paths

    if viewer.is_sysadmin:
        return all_paths(None)
    roots = scope_roots(viewer)
    return all_paths(roots) if roots else []


def transfers_of(person: User) -> list[PersonTransfer]:
    return list(
        db.session.scalars(
            select(PersonTransfer).where(PersonTransfer.user_id == person.id).order_by(PersonTransfer.at.desc())
        )
    )


# --- changes -----------------------------------------------------------------------------------------
PERSON_FIELDS = ("name", "login_id", "category", "joined_on", "phone")


def login_id_taken(login_id: str, exclude_id: int | None = None) -> bool:
    q = select(User.id).where(func.lower(User.login_id) == login_id.lower())
    if exclude_id is not None:
        q = q.where(User.id != exclude_id)
    return db.session.scalar(q.limit(1)) is not None


def create_person(
    actor, *, name: str, login_id: str, unit: OrgUnit, category: str, joined_on: date | None,
    phone: str | None, password_hash: str, source: str = "form",
) -> User:
    if actor is not None and not can(actor, MANAGE_MEMBERS, unit):
        raise AccountError(_("所选党组织不在您的管理范围内"))
    if login_id_taken(login_id):
        raise AccountError(_("该学号/工号已被使用"))
    if category not in MEMBER_CATEGORIES:
        raise AccountError(_("未知的党员类别"))
    person = User(
        name=name.strip(), login_id=login_id.strip(), org_unit_id=unit.id, category=category,
        joined_on=joined_on, phone=phone or None, password_hash=password_hash, must_change_password=True,
    )
    db.session.add(person)
    db.session.flush()
    if source == "form":
        from lms.accounts.privacy import record_basis

        record_basis(person, actor=actor, source="form")  # the importer records its own (PI-02)
        audit.log("people.create", person, actor=actor, details={"unit_id": unit.id})
    return person


def update_person(actor, person: User, **values) -> list[str]:
    """Set the given PERSON_FIELDS; returns the names of the fields that changed (audited)."""
    if actor is not None and not can(actor, MANAGE, person):
        raise AccountError(_("您无权修改此人的信息"))
    if "login_id" in values and login_id_taken(values["login_id"], exclude_id=person.id):
        raise AccountError(_("该学号/工号已被使用"))
    changed = []
    for key, value in values.items():
        if key not in PERSON_FIELDS:
            raise TypeError(f"update_person(): {key} is not an editable field")
        if isinstance(value, str):
            value = value.strip() or (None if key == "phone" else value.strip())
        if getattr(person, key) != value:
            setattr(person, key, value)
            changed.append(key)
    if changed:
        audit.log("people.update", person, actor=actor, details={"fields": changed})
    return changed


def set_active(actor, person: User, active: bool) -> None:
    if actor is not None and not can(actor, MANAGE, person):
        raise AccountError(_("您无权管理此人的账号"))
    if actor is not None and actor.id == person.id and not active:
        raise AccountError(_("不能停用自己的账号"))
    if not active and person.is_sysadmin and _sysadmin_count(exclude=person.id) == 0:
        raise AccountError(_("不能停用最后一位系统管理员"))
    if person.is_active_account == active:
        return
    person.is_active_account = active
    if not active:
        from lms.auth.sessions import end_sessions

        end_sessions(person.id)
    audit.log("people.reactivate" if active else "people.deactivate", person, actor=actor)


def _sysadmin_count(exclude: int | None = None) -> int:
    q = (
        select(func.count(func.distinct(RoleAssignment.user_id)))
        .join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.role == "sysadmin", User.is_active_account.is_(True))
    )
    if exclude is not None:
        q = q.where(RoleAssignment.user_id != exclude)
    return db.session.scalar(q) or 0


def grant_role(actor, person: User, role: str, unit: OrgUnit | None) -> RoleAssignment:
    grant = RoleGrant(person, role, unit)
    if actor is not None:
        reason = grant_refusal(actor, grant)
        if reason:
            raise AccountError(reason)
    elif role not in ROLES or role == "member":
        raise AccountError(_("未知的角色"))
    unit_id = unit.id if unit is not None else None
    for r in person.roles:
        if r.role == role and r.org_unit_id == unit_id:
            raise AccountError(_("此人已经拥有该角色"))
    ra = RoleAssignment(user_id=person.id, role=role, org_unit_id=unit_id, granted_by_id=getattr(actor, "id", None))
    db.session.add(ra)
    person.roles.append(ra)
    db.session.flush()
    audit.log(
        "role.grant", person, actor=actor,
        details={"role": role, "unit_id": unit_id, "person": person.login_id,
                 "by": getattr(actor, "login_id", "cli")},
    )
    return ra


def revoke_role(actor, assignment: RoleAssignment) -> None:
    person = assignment.user
    if actor is not None and not can(actor, GRANT, RoleGrant(person, assignment.role, assignment.org_unit)):
        raise AccountError(grant_refusal(actor, RoleGrant(person, assignment.role, assignment.org_unit)))
    if assignment.role == "sysadmin" and _sysadmin_count(exclude=person.id) == 0:
        raise AccountError(_("不能撤销最后一位系统管理员的角色"))
    details = {"role": assignment.role, "unit_id": assignment.org_unit_id, "person": person.login_id,
               "by": getattr(actor, "login_id", "cli")}
    person.roles.remove(assignment)
    db.session.delete(assignment)
    db.session.flush()
    audit.log("role.revoke", person, actor=actor, details=details)


def transfer_refusal(actor, person: User, new_unit: OrgUnit) -> str | None:
    if actor is None:
        return None
    if not can(actor, MANAGE, person):
        return _("您无权转接此人的组织关系")
    if not can(actor, MANAGE_MEMBERS, new_unit):
        return _("转入的党组织不在您的管理范围内")
    if person.org_unit_id == new_unit.id:
        return _("此人已在该党组织")
    return None


def transfer_person(actor, person: User, new_unit: OrgUnit) -> PersonTransfer:
    """组织关系转接: move `person` to `new_unit`, tell the plugins (same transaction) and keep history."""
    reason = transfer_refusal(actor, person, new_unit)
    if reason:
        raise AccountError(reason)
    old_unit = person.org_unit
    names = paths_for([new_unit.id] + ([old_unit.id] if old_unit else []))
    row = PersonTransfer(
        user_id=person.id, from_unit_id=old_unit.id if old_unit else None, to_unit_id=new_unit.id,
        from_name=names.get(old_unit.id, "") if old_unit else "", to_name=names.get(new_unit.id, new_unit.name),
        at=utcnow(), by_id=getattr(actor, "id", None),
    )
    db.session.add(row)
    person.org_unit_id = new_unit.id
    person.org_unit = new_unit
    db.session.flush()
    hook().lms_event_person_transferred(user=person, old_unit=old_unit, new_unit=new_unit)
    audit.log(
        "people.transfer", person, actor=actor,
        details={"from_unit_id": row.from_unit_id, "to_unit_id": new_unit.id},
    )
    return row


# --- export ------------------------------------------------------------------------------------------
EXPORT_HEADERS = ("姓名", "学号/工号", "所属党组织", "党员类别", "入党时间", "手机号")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Text that a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_people(viewer: User, flt: PeopleFilter, scope_label: str, stamp=None) -> tuple[bytes, int]:
    """An A4-friendly .xlsx of the people `viewer` sees with `flt`; returns (content, row count).

    Export controls (lms.exports): login ids masked for people `viewer` does not administer, phones masked
    unless `viewer` may manage the person, and the `stamp` (who, when) on every printed page and in the
    document properties."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from lms.exports.services import Stamp, id_masker, watermark

    show_id = id_masker(viewer)
    people = list(db.session.scalars(people_query(viewer, flt)))
    paths = paths_for({p.org_unit_id for p in people})
    wb = Workbook()
    ws = wb.active
    ws.title = "人员名单"
    ws.append(list(EXPORT_HEADERS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F3E9E6")
        cell.alignment = Alignment(horizontal="center", vertical="center")
    for p in people:
        phone = p.phone if shows_phone(viewer, p) else mask_phone(p.phone)
        ws.append([
            safe_cell(p.name), safe_cell(show_id(p.org_unit_id, p.login_id)), safe_cell(paths.get(p.org_unit_id, "")),
            p.category_label, p.joined_on, safe_cell(phone or ""),
        ])
    for row in ws.iter_rows(min_row=2, min_col=1, max_col=len(EXPORT_HEADERS)):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula
        row[1].number_format = "@"
        row[4].number_format = "yyyy-mm-dd"
        row[5].number_format = "@"
    for i, width in enumerate((10, 14, 36, 12, 12, 14), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_PORTRAIT
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.oddHeader.center.text = safe_cell(scope_label)[:200].replace("&", "&&")
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    watermark(wb, stamp or Stamp.of(viewer), title=scope_label)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), len(people)


def category_from_label(label: str) -> str | None:
    return CATEGORY_BY_LABEL.get((label or "").strip())
