"""Data-subject requests (PI-06; PIPL art. 44–47): see, copy, correct and erase one's personal data.

Every module that keeps rows about a person answers two hooks (the core in `lms.accounts.personal_data`,
each plugin in its own module), so no module reads another's tables:

- `lms_gather_personal_data(user)` → `Section`s, one per table: the 我的数据 page and the .zip copy;
- `lms_event_person_erase(user, erasure)` → delete or de-identify the module's rows, inside one transaction.

The erasure keeps the `user` row itself, anonymised ("已删除用户 #id", no login, no phone, no TOTP), so that
what others need keeps a valid reference (a reply's thread, a course's creator) without naming anyone.
The audit log is not touched (append-only, retention duty ≥180 days): the rows about the person are kept
and flagged by a `person_erasure` row. No request objects here; the caller commits.
"""
from __future__ import annotations

import base64
import io
import json
import logging
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, inspect, or_, select
from sqlalchemy.orm import Session as OrmSession

from lms import audit
from lms.accounts.models import (
    REQUEST_DONE,
    REQUEST_OPEN,
    PersonErasure,
    PrivacyRequest,
    RoleAssignment,
    User,
)
from lms.audit.models import AuditLog
from lms.authz import MANAGE, can, scope_filter
from lms.extensions import db
from lms.notifications.services import register
from lms.org.models import OrgUnitClosure
from lms.plugins import hook
from lms.timeutil import utcnow

log = logging.getLogger(__name__)

EXPORT_ACTION = "privacy.dsar.export"
ERASED_NAME = "已删除用户 #%(id)s"  # stored text: the anonymised user row's name
# What a person can ask to have corrected (PIPL art. 46): the items the organization entered.
CORRECTION_FIELDS = {
    "name": _l("姓名"),
    "login_id": _l("学号/工号"),
    "org_unit": _l("所在组织"),
    "category": _l("类别"),
    "joined_on": _l("入党时间"),
    "phone": _l("手机号"),
    "learning": _l("学习记录或学时"),
    "other": _l("其他"),
}


class DsarError(ValueError):
    """A request that cannot be carried out; the message is a sentence for the user."""


# --- what the modules hand in ------------------------------------------------------------------------
@dataclass
class Section:
    """The rows of one table that concern a person (a file `<table>.json` in the copy)."""

    table: str
    title: str  # a lazy msgid: shown in the reader's language, Chinese in the copy
    rows: list[dict]
    fields: tuple[str, ...] = ()  # the main fields the 我的数据 page shows (all of them are in the copy)
    note: str = ""  # what the rows are, e.g. "其中您是审核人的发言：只含发言编号和时间"

    @property
    def count(self) -> int:
        return len(self.rows)


@dataclass
class Erasure:
    """Handed to `lms_event_person_erase`: the person's id and the tally of rows per table."""

    person_id: int
    login_id: str
    counts: dict[str, int] = field(default_factory=dict)
    files: list = field(default_factory=list)  # files of deleted rows, removed once the erasure is committed

    def count(self, table: str, n: int | None) -> None:
        self.counts[table] = self.counts.get(table, 0) + int(n or 0)

    def remove_file(self, path) -> None:
        """Remove `path` (an uploaded file of a row deleted here) after the commit; a rollback keeps it."""
        self.files.append(Path(path))


_FILES_KEY = "lms_erasure_files"


def _remove_files_after_commit(paths: list[Path]) -> None:
    """Delete the files once the transaction that deleted their rows commits (never before: a rollback
    must leave rows and files together); a rollback drops the plan."""
    if paths:
        db.session().info.setdefault(_FILES_KEY, []).extend(paths)


@event.listens_for(OrmSession, "after_commit")
def _files_committed(session) -> None:
    for path in session.info.pop(_FILES_KEY, ()):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # the rows are gone; a file left behind is logged, not fatal
            log.warning("erasure: could not remove %s: %s", path, exc)


@event.listens_for(OrmSession, "after_rollback")
def _files_rolled_back(session) -> None:
    session.info.pop(_FILES_KEY, None)


def jsonable(value):
    """A value for the JSON copy: times and dates as ISO text, decimals exact, bytes as text or base64."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode()
    return value


def model_rows(model, *where, only: tuple[str, ...] | None = None, exclude: tuple[str, ...] = (),
               order_by=None) -> list[dict]:
    """The rows of `model` matching `where` as dicts (ORM loading, so encrypted fields come decrypted)."""
    keys = [a.key for a in inspect(model).column_attrs]
    keys = [k for k in keys if (only is None or k in only) and k not in exclude]
    pk = inspect(model).primary_key
    q = select(model).where(*where).order_by(*(order_by if order_by is not None else pk))
    return [{k: jsonable(getattr(obj, k)) for k in keys} for obj in db.session.scalars(q)]


def table_rows(table, *where) -> list[dict]:
    """The rows of a plain Table (an association table) matching `where` as dicts."""
    return [{k: jsonable(v) for k, v in r.items()} for r in db.session.execute(select(table).where(*where)).mappings()]


def delete_rows(erasure: Erasure, model, *where) -> int:
    """DELETE the matching rows of `model` (a model or Table) and count them under its table name."""
    table = getattr(model, "__table__", model)
    n = db.session.execute(table.delete().where(*where).execution_options(synchronize_session=False)).rowcount or 0
    erasure.count(table.name, n)
    return n


def clear_reference(erasure: Erasure, column, value=None) -> int:
    """Set `column` (someone acting on others' records: reviewer, creator…) to `value` where it is the person."""
    table = column.table
    n = db.session.execute(
        table.update().where(column == erasure.person_id).values({column.key: value})
        .execution_options(synchronize_session=False)
    ).rowcount or 0
    erasure.count(table.name, n)
    return n


# --- seeing and copying ------------------------------------------------------------------------------
def gather(user: User) -> list[Section]:
    """Every module's sections about `user`, in table order (empty sections included: the page says 0)."""
    sections: list[Section] = []
    for result in hook().lms_gather_personal_data(user=user):
        sections.extend(result or [])
    return sorted(sections, key=lambda s: s.table)


def exports_in_last_hour(user: User) -> int:
    return db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == EXPORT_ACTION, AuditLog.actor_id == user.id, AuditLog.at > utcnow() - timedelta(hours=1),
    )) or 0


def export_limit() -> int:
    return int(current_app.config.get("DSAR_EXPORTS_PER_HOUR", 3))


README = """个人信息副本（{site}）

本压缩包是平台保存的关于您本人的全部个人信息的副本（《个人信息保护法》第四十五条）。
生成时间：{at}（北京时间）
账号：{login_id}（用户编号 {id}）

每个 .json 文件对应平台的一张数据表，内容是该表中与您有关的记录，格式为
{{"table": 表名, "title": 说明, "count": 记录数, "rows": [记录, …]}}。
时间均为协调世界时（UTC）。加密保存的字段（如手机号）在副本中已解密。
其他人的个人信息不在副本中：例如讨论区只有您本人的发言；您作为审核人、创建人的记录只有编号和时间。
操作日志（audit_log.json）只含您本人的操作。

文件列表：
{files}

如发现信息有误，可在“我的数据”页面提交更正申请，由您所在党组织的管理人员处理。
请妥善保管本文件，不要转发给他人。
"""


def build_export(user: User, sections: list[Section] | None = None) -> bytes:
    """The .zip copy: README.txt in Chinese and one JSON file per section."""
    from lms.templating import local_dt

    sections = gather(user) if sections is None else sections
    buf = io.BytesIO()
    with force_locale("zh"), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        lines = []
        for s in sections:
            title = str(s.title)
            doc = {"table": s.table, "title": title, "count": s.count, "rows": s.rows}
            if s.note:
                doc["note"] = str(s.note)
            zf.writestr(f"{s.table}.json", json.dumps(doc, ensure_ascii=False, indent=1, default=str))
            lines.append(f"  {s.table}.json  {title}：{s.count} 条")
        zf.writestr("README.txt", README.format(
            site=current_app.config.get("SITE_NAME", ""), at=local_dt(utcnow(), "%Y-%m-%d %H:%M"),
            login_id=user.login_id, id=user.id, files="\n".join(lines)))
    return buf.getvalue()


def record_export(user: User, sections: list[Section]) -> None:
    audit.log(EXPORT_ACTION, user, actor=user, details={"sections": len(sections),
                                                         "rows": sum(s.count for s in sections)})


# --- correcting ----------------------------------------------------------------------------------------
N_CORRECTION = register("%(name)s 提交了个人信息更正申请（%(field)s）")
N_CORRECTION_DONE = register("您的个人信息更正申请（%(field)s）已处理")


def managers_of(person: User) -> list[User]:
    """Who handles `person`'s requests: the secretaries whose branch holds them, else the nearest org admins."""
    if person.org_unit_id is None:
        return list(db.session.scalars(select(User).join(RoleAssignment, RoleAssignment.user_id == User.id).where(
            RoleAssignment.role == "sysadmin", User.is_active_account.is_(True))))
    ancestors = select(OrgUnitClosure.ancestor_id, OrgUnitClosure.depth).where(
        OrgUnitClosure.descendant_id == person.org_unit_id).subquery()
    rows = db.session.execute(
        select(User, RoleAssignment.role, ancestors.c.depth)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .join(ancestors, ancestors.c.ancestor_id == RoleAssignment.org_unit_id)
        .where(RoleAssignment.role.in_(("secretary", "org_admin")), User.is_active_account.is_(True),
               User.id != person.id)
    ).all()
    secretaries = [u for u, role, _d in rows if role == "secretary"]
    if secretaries:
        return secretaries
    admins = [(d, u) for u, role, d in rows if role == "org_admin"]
    if not admins:
        return []
    nearest = min(d for d, _u in admins)
    return [u for d, u in admins if d == nearest]


def request_correction(user: User, field_key: str, detail: str) -> PrivacyRequest:
    """Record a correction request and tell the people who manage `user` (audited)."""
    from lms.notifications.services import message, notify

    detail = (detail or "").strip()
    if field_key not in CORRECTION_FIELDS:
        raise DsarError(_("请选择需要更正的信息。"))
    if not detail:
        raise DsarError(_("请写明哪里有误、正确的内容是什么。"))
    req = PrivacyRequest(user_id=user.id, field=field_key, detail=detail[:2000], status=REQUEST_OPEN,
                         created_at=utcnow())
    db.session.add(req)
    db.session.flush()
    label = str(CORRECTION_FIELDS[field_key])
    with force_locale("zh"):
        label_zh = str(CORRECTION_FIELDS[field_key])
    sent = 0
    for manager in managers_of(user):
        if notify(manager, title=message(N_CORRECTION, name=user.name, field=label_zh), body=detail[:500],
                  url="/people/data-requests", kind="system"):
            sent += 1
    audit.log("privacy.dsar.correction", user, actor=user, details={"request_id": req.id, "field": field_key,
                                                                    "notified": sent})
    log.info("correction request %s (%s) by user %s, %s manager(s) notified", req.id, label, user.id, sent)
    return req


def requests_query(viewer: User, *, status: str | None = REQUEST_OPEN):
    """The correction requests of the people `viewer` manages (scope of secretaries/org admins; all for sysadmins)."""
    q = select(PrivacyRequest).join(User, User.id == PrivacyRequest.user_id).where(
        scope_filter(viewer, User.org_unit_id))
    if status:
        q = q.where(PrivacyRequest.status == status)
    return q.order_by(PrivacyRequest.created_at.desc(), PrivacyRequest.id.desc())


def close_request(viewer: User, req: PrivacyRequest, reply: str = "") -> None:
    """Mark a correction request done (the manager changed the data, or answered why not); tells the person."""
    from lms.notifications.services import message, notify

    if not can(viewer, MANAGE, req.user) and not (viewer.is_sysadmin):
        raise DsarError(_("您无权处理此人的申请。"))
    if req.status == REQUEST_DONE:
        raise DsarError(_("该申请已经处理过了。"))
    req.status = REQUEST_DONE
    req.handled_by_id = viewer.id
    req.handled_at = utcnow()
    req.reply = (reply or "").strip()[:2000] or None
    with force_locale("zh"):
        label = str(CORRECTION_FIELDS.get(req.field, req.field))
    notify(req.user, title=message(N_CORRECTION_DONE, field=label), body=req.reply or "",
           url="/account/data", kind="system")
    audit.log("privacy.dsar.correction_done", req.user, actor=viewer, details={"request_id": req.id})


# --- erasing -----------------------------------------------------------------------------------------
def is_erased(person: User) -> bool:
    return db.session.scalar(select(PersonErasure.id).where(PersonErasure.person_id == person.id)) is not None


def erase_refusal(actor: User | None, person: User) -> str | None:
    """Why `actor` may not erase `person` (a sentence for the user); None when allowed. `actor` None: the CLI."""
    if is_erased(person):
        return _("此人的个人信息已经删除。")
    if actor is not None:
        if actor.id == person.id:
            return _("不能删除自己的个人信息，请联系组织管理员。")
        may = actor.is_sysadmin or (
            actor.has_role("org_admin") and can(actor, MANAGE, person)
            and person.org_unit_id is not None
            and db.session.scalar(select(func.count()).select_from(OrgUnitClosure).where(
                OrgUnitClosure.descendant_id == person.org_unit_id,
                OrgUnitClosure.ancestor_id.in_(actor.role_units("org_admin")))) > 0
        )
        if not may:
            return _("只有此人所在党组织的组织管理员或系统管理员可以删除其个人信息。")
    if person.is_sysadmin:
        return _("系统管理员的账号不能删除，请先撤销其系统管理员角色。")
    if person.is_active_account:
        return _("请先停用此人的账号（已离开本组织的人员才能删除个人信息）。")
    return None


def audit_rows_about(person_id: int):
    return or_(AuditLog.actor_id == person_id,
               (AuditLog.target_type == "user") & (AuditLog.target_id == str(person_id)))


def erase(actor: User | None, person: User, *, note: str | None = None) -> PersonErasure:
    """Erase `person`'s personal data everywhere (every module's hook), anonymise the user row, flag the
    audit rows that are kept; one transaction, the caller commits. Raises DsarError when refused."""
    reason = erase_refusal(actor, person)
    if reason:
        raise DsarError(reason)
    erasure = Erasure(person_id=person.id, login_id=person.login_id)
    hook().lms_event_person_erase(user=person, erasure=erasure)
    # the user row last: the modules above may still need the login id (login attempts)
    person.name = ERASED_NAME % {"id": person.id}
    person.login_id = f"erased-{person.id}"
    person.phone = None
    person.joined_on = None
    person.category = "masses"  # a valid code that states no party membership (the real one is gone)
    person.org_unit_id = None
    person.org_unit = None
    person.password_hash = None
    person.must_change_password = True
    person.password_changed_at = None
    person.is_active_account = False
    person.failed_logins = 0
    person.locked_until = None
    person.totp_secret = None
    person.totp_last_step = None
    person.totp_failures = 0
    person.totp_locked_until = None
    erasure.count("user", 1)
    db.session.flush()
    kept, youngest = db.session.execute(
        select(func.count(AuditLog.id), func.max(AuditLog.at)).where(audit_rows_about(person.id))).one()
    days = int(current_app.config.get("AUDIT_RETENTION_DAYS", 180))
    row = PersonErasure(
        person_id=person.id, erased_at=utcnow(), by_login=getattr(actor, "login_id", None) or "cli",
        audit_rows_kept=kept or 0, audit_kept_until=(youngest + timedelta(days=max(days, 180))) if youngest else None,
        summary={k: v for k, v in sorted(erasure.counts.items())},
    )
    db.session.add(row)
    audit.log("privacy.erase", target_type="user", target_id=person.id, actor=actor, note=note,
              details={"rows": row.summary, "audit_rows_kept": row.audit_rows_kept})
    _remove_files_after_commit(erasure.files)
    return row


def erased_ids(ids) -> set[int]:
    """Which of these person ids were erased (the flag the audit pages show on kept rows)."""
    ids = {int(i) for i in ids if i is not None and str(i).isdigit()}
    if not ids:
        return set()
    return set(db.session.scalars(select(PersonErasure.person_id).where(PersonErasure.person_id.in_(ids))))
