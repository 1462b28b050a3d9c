"""Export controls shared by every export of personal data (PI-05), without request objects.

An export kind (the people list, the statistics ledgers, quiz results …) is registered once per app with
`register()`; the views hand their exports to `lms.exports.views.send_export`, which applies, in order:
who may export it (403), at most EXPORTS_PER_HOUR exports per person in a rolling hour (429), and, above
EXPORT_APPROVAL_ROWS rows, a request held for a second approver. The kind's builder masks identifiers with
`id_masker()` and stamps the workbook with `watermark()`; one audit row per export carries kind, scope and rows.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, has_request_context
from flask_babel import gettext
from sqlalchemy import func, select, update

from lms import audit
from lms.accounts.models import RoleAssignment, User
from lms.audit.models import AuditLog
from lms.exports.models import ExportRequest
from lms.extensions import db
from lms.notifications.services import message, notify, register
from lms.timeutil import utcnow

log = logging.getLogger(__name__)

REQUEST_ACTION = "export.request"
APPROVE_ACTION = "export.approve"
REFUSE_ACTION = "export.refuse"
# Roles whose holders may be asked to approve another person's export (each kind decides further).
APPROVER_ROLES = ("sysadmin", "org_admin", "secretary", "reviewer", "teacher")

N_PENDING = register("待审批的数据导出：%(what)s（%(scope)s，%(rows)s 行），申请人 %(name)s")
N_APPROVED = register("您的数据导出申请已批准：%(what)s（%(scope)s），请在 %(time)s 前下载（仅可下载一次）")
N_REFUSED = register("您的数据导出申请未获批准：%(what)s（%(scope)s）")


def _(text: str, chinese: bool = False, **values) -> str:
    """Translated in a request (the user's language); the Chinese msgid elsewhere (CLI, tasks) or when asked."""
    if has_request_context() and not chinese:
        return gettext(text, **values)
    return text % values if values else text


class ExportError(Exception):
    """An export that cannot go ahead now; `message` is a sentence for the user, `code` the HTTP status."""

    def __init__(self, message: str, code: int = 409):
        super().__init__(message)
        self.message, self.code = message, code


# --- the kinds of export ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stamp:
    """Who exported a workbook and when (the watermark), and who approved it when a second person had to."""

    name: str
    login_id: str
    at: datetime  # naive UTC
    approved_by: str | None = None

    @classmethod
    def of(cls, user: User, approver: User | None = None, at: datetime | None = None) -> Stamp:
        return cls(user.name, user.login_id, at or utcnow(),
                   f"{approver.name}（{approver.login_id}）" if approver is not None else None)

    @property
    def local_time(self) -> str:
        from lms.templating import local_dt

        return local_dt(self.at, "%Y-%m-%d %H:%M")

    def text(self, chinese: bool = False) -> str:
        """The watermark line; `chinese` for documents written in Chinese whatever the exporter's language."""
        who = f"{self.name}（{self.login_id}）"
        text = _("导出人：%(who)s　导出时间：%(time)s", chinese, who=who, time=self.local_time)
        if self.approved_by:
            text += "　" + _("批准人：%(who)s", chinese, who=self.approved_by)
        return text


@dataclass(frozen=True)
class ExportKind:
    """One export of personal data. `params` is a small JSON-able dict: what the kind needs to build the same
    export again (a held request is built when the approved requester downloads it)."""

    name: str  # "people", "stats.ledger", "quiz.results"
    action: str  # the audit action of one export of this kind
    label: str  # a Chinese msgid: 人员名单, 学时台账 …
    may_export: Callable[[User, dict], bool]
    count: Callable[[User, dict], int]  # the rows the export would have (cheap: decides whether it is held)
    build: Callable[[User, dict, str, Stamp], tuple[bytes, int]]  # (user, params, scope, stamp) → (xlsx, rows)
    scope: Callable[[User, dict], str]  # the scope in words, as the exporter sees it
    filename: Callable[[dict, str, Stamp], str]  # (params, scope, stamp) → download name
    # (approver, params, requester) → may this person approve the requester's export? Default: may_export.
    may_approve: Callable[[User, dict, User], bool] | None = None
    target: Callable[[dict], tuple[str, object]] | None = None  # audit (target_type, target_id)
    offers: Callable[[User], list[tuple[str, str]]] | None = None  # (label, url) listed on the exports page
    extra: dict = field(default_factory=dict)

    def approvable_by(self, user: User, params: dict, requester: User) -> bool:
        if user.id == requester.id:
            return False
        if self.may_approve is not None:
            return self.may_approve(user, params, requester)
        return self.may_export(user, params)


def _registry(app=None) -> dict[str, ExportKind]:
    app = app or current_app
    kinds = app.extensions.get("lms.exports")
    if kinds is None:
        from lms.exports.people import PEOPLE

        kinds = app.extensions["lms.exports"] = {PEOPLE.name: PEOPLE}
    return kinds


def register_kind(app, kind: ExportKind) -> None:
    """Called by a plugin's `init_app` for each export of personal data it offers."""
    _registry(app)[kind.name] = kind


def kinds() -> dict[str, ExportKind]:
    return dict(_registry())


def kind_of(name: str) -> ExportKind:
    kind = _registry().get(name)
    if kind is None:
        raise ExportError(_("这种导出已不再提供（相应功能可能已停用）。"), 404)
    return kind


# --- masking -------------------------------------------------------------------------------------------------
def mask_id(value) -> str | None:
    """`1101********1234`: an identifier with its first and last four characters kept and the rest starred.

    Shorter values keep fewer (a quarter at each end at most, so at least half is always hidden):
    a 10-digit student number shows 2 + 2, a value under 4 characters is all stars.
    """
    if value is None:
        return None
    text = str(value)
    keep = min(4, len(text) // 4)
    if not keep:
        return "*" * len(text)
    return text[:keep] + "*" * (len(text) - 2 * keep) + text[-keep:]


def id_masker(user: User) -> Callable[[int | None, object], object]:
    """`show(org_unit_id, value)`: the value in clear when `user` administers people of that unit (system
    administrators everyone; organization admins and branch secretaries their people scope), masked otherwise
    (reviewers, teachers, anyone looking at people outside their scope)."""
    from lms.authz import scope_roots, scope_unit_ids

    if user.is_sysadmin:
        return lambda _unit_id, value: value
    units = set(db.session.scalars(scope_unit_ids(user))) if scope_roots(user) else set()
    if not units:
        return lambda _unit_id, value: mask_id(value)
    return lambda unit_id, value: value if unit_id in units else mask_id(value)


def sees_ids_in_clear(user: User) -> bool:
    """True when `user` sees identifiers of at least the people of their scope in clear (for the audit row)."""
    from lms.authz import scope_roots

    return user.is_sysadmin or bool(scope_roots(user))


# --- the watermark ---------------------------------------------------------------------------------------------
def _hf(text: str) -> str:
    return text.replace("&", "&&")[:120]


def watermark(wb, stamp: Stamp, title: str = "", chinese: bool = False) -> None:
    """Who exported the workbook and when: in the header and footer of every printed page of every sheet and in
    the document properties (creator, description). What a sheet already prints in the middle is kept."""
    text = stamp.text(chinese)
    for ws in wb.worksheets:
        for hf in (ws.oddHeader, ws.evenHeader, ws.firstHeader):
            hf.right.text = _hf(text)
        for hf in (ws.oddFooter, ws.evenFooter, ws.firstFooter):
            hf.left.text = _hf(text)
        if ws.oddFooter.center.text:
            ws.evenFooter.center.text = ws.firstFooter.center.text = ws.oddFooter.center.text
    props = wb.properties
    props.creator = props.lastModifiedBy = f"{stamp.name}（{stamp.login_id}）"[:255]
    props.description = text[:1000]
    if title:
        props.title = title[:255]
    props.created = props.modified = stamp.at


# --- rate limit ------------------------------------------------------------------------------------------------
def _counted_actions() -> list[str]:
    return sorted({k.action for k in _registry().values()} | {REQUEST_ACTION})


def rate_refusal(user: User, now: datetime | None = None) -> str | None:
    """Why `user` may not export now (EXPORTS_PER_HOUR in a rolling hour), as a sentence; None when allowed.

    Counted from the audit rows, so it holds across processes and restarts: each export of personal data and
    each request held for approval is one."""
    from lms.templating import local_dt

    limit = current_app.config["EXPORTS_PER_HOUR"]
    now = now or utcnow()
    since = now - timedelta(hours=1)
    q = select(func.count(AuditLog.id), func.min(AuditLog.at)).where(
        AuditLog.actor_id == user.id, AuditLog.action.in_(_counted_actions()), AuditLog.outcome == "success",
        AuditLog.at > since)
    count, first = db.session.execute(q).one()
    if (count or 0) < limit:
        return None
    again = (first or now) + timedelta(hours=1)
    return _("一小时内最多导出 %(n)s 次含个人信息的数据（人员名单、台账、成绩等），请在 %(time)s 之后再试。",
             n=limit, time=local_dt(again, "%H:%M"))


def needs_approval(rows: int) -> bool:
    return rows > current_app.config["EXPORT_APPROVAL_ROWS"]


# --- audit -----------------------------------------------------------------------------------------------------
def log_export(kind: ExportKind, user: User, params: dict, scope: str, rows: int, request: ExportRequest | None = None):
    """The one audit row of an export: kind, scope, rows, and whether identifiers were in clear."""
    details = {**params, "kind": kind.name, "scope": scope, "rows": rows,
               "ids": "clear" if sees_ids_in_clear(user) else "masked"}
    if request is not None:
        details["request"] = request.id
        details["approved_by"] = request.decided_by_id
    target_type, target_id = kind.target(params) if kind.target else (None, None)
    return audit.log(kind.action, actor=user, target_type=target_type, target_id=target_id, details=details)


# --- held requests -----------------------------------------------------------------------------------------------
def request_state(req: ExportRequest, now: datetime | None = None) -> str:
    """pending | approved | refused | downloaded | expired."""
    now = now or utcnow()
    if req.status == "pending" and req.requested_at + timedelta(days=current_app.config["EXPORT_REQUEST_DAYS"]) <= now:
        return "expired"
    if req.status == "approved" and (req.expires_at is None or req.expires_at <= now):
        return "expired"
    return req.status


def approvers(kind: ExportKind, params: dict, requester: User) -> list[User]:
    """Everyone (but the requester) who may approve this export: active holders of an administrative role whom
    the kind allows to export (and approve) the same scope."""
    ids = select(RoleAssignment.user_id).where(RoleAssignment.role.in_(APPROVER_ROLES)).distinct()
    people = db.session.scalars(select(User).where(User.id.in_(ids), User.id != requester.id).order_by(User.id))
    return [u for u in people if u.is_active and kind.approvable_by(u, params, requester)]


def hold(kind: ExportKind, user: User, params: dict, scope: str, rows: int, url: str | None = None) -> ExportRequest:
    """Record a request for an export above the approval threshold and tell the people who may approve it."""
    req = ExportRequest(kind=kind.name, params=params, scope=scope[:255], rows=rows, requested_by_id=user.id,
                        requested_at=utcnow())
    db.session.add(req)
    db.session.flush()
    target_type, target_id = kind.target(params) if kind.target else (None, None)
    audit.log(REQUEST_ACTION, actor=user, target_type=target_type, target_id=target_id,
              details={"kind": kind.name, "scope": scope, "rows": rows, "params": params, "request": req.id})
    title = message(N_PENDING, what=kind.label, scope=scope[:60], rows=rows, name=user.name)
    for person in approvers(kind, params, user):
        notify(person, kind="review", title=title, url=url)
    return req


def _decidable(req: ExportRequest, user: User) -> ExportKind:
    kind = kind_of(req.kind)
    if req.requested_by_id == user.id:
        raise ExportError(_("不能批准或驳回自己提出的导出申请，请由另一位有权限的管理员审批。"), 403)
    if not kind.approvable_by(user, req.params, req.requested_by):
        raise ExportError(_("您无权审批这项导出（需要对同一范围有导出权限）。"), 403)
    if request_state(req) != "pending":
        raise ExportError(_("这项导出申请已经处理过或已过期，无需再审批。"), 409)
    return kind


def approve(req: ExportRequest, user: User, url: str | None = None) -> None:
    """A second person allows the held export: its requester may download it once within EXPORT_DOWNLOAD_HOURS."""
    from lms.templating import local_dt

    kind = _decidable(req, user)
    now = utcnow()
    req.status, req.decided_by_id, req.decided_at = "approved", user.id, now
    req.expires_at = now + timedelta(hours=current_app.config["EXPORT_DOWNLOAD_HOURS"])
    audit.log(APPROVE_ACTION, req, actor=user,
              details={"kind": kind.name, "scope": req.scope, "rows": req.rows, "requested_by": req.requested_by_id})
    notify(req.requested_by, kind="review", url=url,
           title=message(N_APPROVED, what=kind.label, scope=req.scope[:60], time=local_dt(req.expires_at)))


def refuse(req: ExportRequest, user: User, url: str | None = None) -> None:
    kind = _decidable(req, user)
    req.status, req.decided_by_id, req.decided_at = "refused", user.id, utcnow()
    audit.log(REFUSE_ACTION, req, actor=user,
              details={"kind": kind.name, "scope": req.scope, "rows": req.rows, "requested_by": req.requested_by_id})
    notify(req.requested_by, kind="review", url=url, title=message(N_REFUSED, what=kind.label, scope=req.scope[:60]))


def downloadable(req: ExportRequest, user: User) -> ExportKind:
    """The kind of an approved request its requester may download now; ExportError otherwise."""
    if req.requested_by_id != user.id:
        raise ExportError(_("只有申请人本人可以下载已批准的导出。"), 403)
    state = request_state(req)
    if state == "downloaded":
        raise ExportError(_("这项导出已经下载过；每次批准只能下载一次，如需再次导出请重新申请。"), 410)
    if state != "approved":
        raise ExportError(_("这项导出申请尚未批准或已过期。"), 409)
    kind = kind_of(req.kind)
    if not kind.may_export(user, req.params):
        raise ExportError(_("您已不再有导出这一范围数据的权限。"), 403)
    return kind


def claim(req: ExportRequest) -> bool:
    """Mark an approved request downloaded, once: a conditional UPDATE, so two concurrent downloads (any process)
    cannot both succeed. The caller commits with the audit row."""
    now = utcnow()
    res = db.session.execute(update(ExportRequest).where(
        ExportRequest.id == req.id, ExportRequest.status == "approved", ExportRequest.expires_at > now,
    ).values(status="downloaded", downloaded_at=now).execution_options(synchronize_session=False))
    return res.rowcount == 1


def pending_for(user: User) -> list[ExportRequest]:
    """Requests of other people waiting for a decision that `user` may take."""
    now = utcnow()
    since = now - timedelta(days=current_app.config["EXPORT_REQUEST_DAYS"])
    rows = db.session.scalars(select(ExportRequest).where(
        ExportRequest.status == "pending", ExportRequest.requested_at > since,
        ExportRequest.requested_by_id != user.id).order_by(ExportRequest.requested_at))
    out = []
    for req in rows:
        kind = _registry().get(req.kind)
        if kind is not None and kind.approvable_by(user, req.params, req.requested_by):
            out.append(req)
    return out


def requests_of(user: User, days: int = 30) -> list[ExportRequest]:
    since = utcnow() - timedelta(days=days)
    return list(db.session.scalars(select(ExportRequest).where(
        ExportRequest.requested_by_id == user.id, ExportRequest.requested_at > since)
        .order_by(ExportRequest.requested_at.desc())))
