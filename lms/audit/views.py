"""The audit viewer (/admin/audit): system administrators and auditors only."""
from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from lms import audit
from lms.audit.forms import AuditFilterForm
from lms.audit.models import AuditLog
from lms.authz import VIEW, require
from lms.extensions import db

bp = Blueprint("audit", __name__, static_folder="static", static_url_path="/static/audit")

_TZ = ZoneInfo("Asia/Shanghai")

# Labels for the events the core writes; other modules' events are shown by their code.
ACTION_LABELS = {
    "auth.login": _l("登录"),
    "auth.logout": _l("退出登录"),
    "auth.lockout": _l("账号锁定"),
    "auth.throttle": _l("登录限流"),
    "auth.password_change": _l("修改密码"),
    "auth.session_end": _l("结束会话"),
    "auth.totp_enable": _l("启用动态口令"),
    "auth.totp_disable": _l("停用动态口令"),
    "auth.totp_verify": _l("动态口令验证"),
    "auth.totp_lockout": _l("动态口令锁定"),
    "auth.admin_end_sessions": _l("管理员结束会话"),
    "auth.admin_reset_password": _l("管理员重置密码"),
    "auth.admin_unlock": _l("管理员解锁账号"),
    "auth.admin_reset_totp": _l("管理员重置动态口令"),
    "authz.denied": _l("越权访问被拒绝"),
    "audit.view": _l("查看审计日志"),
    "audit.purge": _l("清理过期审计日志"),
}
OUTCOME_CLASSES = {"success": "ok", "failure": "warn", "denied": "err"}


def _local_midnight_utc(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=_TZ).astimezone(UTC).replace(tzinfo=None)


def _details(row: AuditLog) -> str:
    if not row.details:
        return ""
    return json.dumps(row.details, ensure_ascii=False, sort_keys=True)[:500]


@bp.route("/admin/audit")
@login_required
def index():
    require(VIEW, "audit")
    form = AuditFilterForm(request.args)
    actions = sorted(set(db.session.scalars(select(AuditLog.action).distinct())) | set(ACTION_LABELS))
    form.action.choices = [SelectChoice("", str(_l("全部事件")))] + [
        SelectChoice(a, f"{ACTION_LABELS[a]}（{a}）" if a in ACTION_LABELS else a) for a in actions
    ]
    q = select(AuditLog)
    filters = {}
    # Invalid filters are shown beside their fields and the list stays unfiltered by them.
    form.validate()
    if form.action.data:
        q = q.where(AuditLog.action == form.action.data)
        filters["action"] = form.action.data
    if form.actor.data and not form.actor.errors:
        actor = form.actor.data.strip()
        q = q.where(AuditLog.actor_login == actor)
        filters["actor"] = actor
    if form.outcome.data and not form.outcome.errors:
        q = q.where(AuditLog.outcome == form.outcome.data)
        filters["outcome"] = form.outcome.data
    if form.date_from.data and not form.date_from.errors:
        q = q.where(AuditLog.at >= _local_midnight_utc(form.date_from.data))
        filters["from"] = form.date_from.data.isoformat()
    if form.date_to.data and not form.date_to.errors:
        q = q.where(AuditLog.at < _local_midnight_utc(form.date_to.data + timedelta(days=1)))
        filters["to"] = form.date_to.data.isoformat()
    page = request.args.get("page", 1, type=int) or 1
    pagination = db.paginate(
        q.order_by(AuditLog.id.desc()),
        page=max(page, 1),
        per_page=int(current_app.config.get("PAGE_SIZE", 20)) * 2,
        error_out=False,
        max_per_page=200,
    )
    rows = list(pagination.items)
    from lms.accounts.dsar import erased_ids

    # rows about a person who was erased are kept for the retention duty (PI-06): flag them
    erased = erased_ids({r.actor_id for r in rows} | {r.target_id for r in rows if r.target_type == "user"})
    if page <= 1:
        # Reading the audit log is itself audited (once per search, not per page turned).
        shown = f"{rows[-1].id}-{rows[0].id}" if rows else "none"
        audit.log("audit.view", target_type="audit_log", target_id=shown, details=filters or None)
        db.session.commit()
    return render_template(
        "audit/index.html",
        form=form,
        rows=rows,
        pagination=pagination,
        labels=ACTION_LABELS,
        outcome_classes=OUTCOME_CLASSES,
        details=_details,
        erased=erased,
    )
