"""The exports page (requests waiting for a second approver, one's own requests) and `send_export`, which every
view that exports personal data answers with."""
from __future__ import annotations

import io
import re

from flask import Blueprint, abort, current_app, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from lms.errors import user_error
from lms.exports import services
from lms.exports.models import ExportRequest
from lms.extensions import db

bp = Blueprint("exports", __name__, url_prefix="/exports")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ActionForm(FlaskForm):
    """An empty form: only the CSRF token of the approve/refuse buttons."""


def _safe_filename(text: str) -> str:
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", text).strip(" ._")[:100] or "export"


def _send(content: bytes, name: str):
    resp = send_file(io.BytesIO(content), as_attachment=True, download_name=_safe_filename(name) + ".xlsx",
                     mimetype=XLSX)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def send_export(kind_name: str, params: dict):
    """Answer an export request: 403 when the person may not export it, 429 over the hourly limit, a request held
    for a second approver above EXPORT_APPROVAL_ROWS rows, else the watermarked workbook (audited)."""
    kind = services.kind_of(kind_name)
    user = current_user._get_current_object()
    if not kind.may_export(user, params):
        abort(403)
    refusal = services.rate_refusal(user)
    if refusal:
        raise user_error(429, refusal)
    scope = kind.scope(user, params)
    rows = kind.count(user, params)
    if services.needs_approval(rows):
        db.session.rollback()  # end the read transaction (SQLite snapshot) before the writes
        req = services.hold(kind, user, params, scope, rows, url=url_for("exports.index"))
        db.session.commit()
        flash(_("这次导出有 %(rows)s 行，超过 %(n)s 行，需要另一位有权限的管理员批准。已提交申请并通知审批人，"
                "批准后可在本页下载（仅一次）。", rows=rows, n=current_app.config["EXPORT_APPROVAL_ROWS"]),
              "warning")
        return redirect(url_for("exports.index", _anchor=f"r{req.id}"), code=303)
    stamp = services.Stamp.of(user)
    content, rows = kind.build(user, params, scope, stamp)
    db.session.rollback()  # end the read transaction (SQLite snapshot) before the audit write
    services.log_export(kind, user, params, scope, rows)
    db.session.commit()
    return _send(content, kind.filename(params, scope, stamp))


def _request(request_id: int) -> ExportRequest:
    req = db.session.get(ExportRequest, request_id)
    if req is None:
        abort(404)
    return req


def _may_use_page(user) -> bool:
    return bool(user.role_names & set(services.APPROVER_ROLES))


@bp.route("/")
@login_required
def index():
    user = current_user._get_current_object()
    mine = services.requests_of(user)
    pending = services.pending_for(user)
    if not (_may_use_page(user) or mine or pending):
        abort(403)
    offers = [(kind, kind.offers(user)) for kind in services.kinds().values() if kind.offers]
    return render_template(
        "exports/index.html", pending=pending, mine=mine, offers=[(k, o) for k, o in offers if o],
        kinds=services.kinds(), state=services.request_state, form=ActionForm(),
        threshold=current_app.config["EXPORT_APPROVAL_ROWS"],
        per_hour=current_app.config["EXPORTS_PER_HOUR"],
        hours=current_app.config["EXPORT_DOWNLOAD_HOURS"],
    )


def _decide(request_id: int, approve: bool):
    req = _request(request_id)
    if not ActionForm().validate_on_submit():
        flash(_("页面已过期或表单校验失败，请刷新页面后重试。"), "error")
        return redirect(url_for(".index"), code=303)
    try:
        if approve:
            services.approve(req, current_user, url=url_for(".index", _anchor=f"r{req.id}"))
        else:
            services.refuse(req, current_user, url=url_for(".index", _anchor=f"r{req.id}"))
    except services.ExportError as e:
        db.session.rollback()
        raise user_error(e.code, e.message) from None
    db.session.commit()
    flash(_("已批准，申请人可以下载这项导出（仅一次）。") if approve else _("已驳回这项导出申请。"), "success")
    return redirect(url_for(".index"), code=303)


@bp.route("/<int:request_id>/approve", methods=["POST"])
@login_required
def approve(request_id: int):
    return _decide(request_id, True)


@bp.route("/<int:request_id>/refuse", methods=["POST"])
@login_required
def refuse(request_id: int):
    return _decide(request_id, False)


@bp.route("/<int:request_id>/download")
@login_required
def download(request_id: int):
    req = _request(request_id)
    user = current_user._get_current_object()
    try:
        kind = services.downloadable(req, user)
    except services.ExportError as e:
        raise user_error(e.code, e.message) from None
    refusal = services.rate_refusal(user)
    if refusal:
        raise user_error(429, refusal)
    params, scope = dict(req.params), req.scope
    stamp = services.Stamp.of(user, approver=req.decided_by)
    content, rows = kind.build(user, params, scope, stamp)
    db.session.rollback()  # end the read transaction (SQLite snapshot) before the writes
    req = _request(request_id)
    if not services.claim(req):  # another download of the same approval got there first
        db.session.rollback()
        raise user_error(410, _("这项导出已经下载过；每次批准只能下载一次，如需再次导出请重新申请。"))
    services.log_export(kind, user, params, scope, rows, request=req)
    db.session.commit()
    return _send(content, kind.filename(params, scope, stamp))
