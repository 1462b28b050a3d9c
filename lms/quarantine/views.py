"""The system administrator's quarantine page: list, delete and release held uploads (UP-09)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from lms.authz import VIEW, require
from lms.extensions import db
from lms.quarantine import services
from lms.quarantine.forms import DecisionForm
from lms.quarantine.models import STATUSES, QuarantinedFile

bp = Blueprint("quarantine", __name__)


@bp.record_once
def _set_up(state) -> None:
    from lms.courses.services import COVER_SCAN_KIND

    services.check_root(state.app)
    services.register_kind(state.app, COVER_SCAN_KIND, _l("课程封面"))


def _row(file_id: int) -> QuarantinedFile:
    row = db.session.get(QuarantinedFile, file_id)
    if row is None:
        abort(404)
    return row


@bp.route("/admin/quarantine")
@login_required
def index():
    require(VIEW, "admin:system")
    status = request.args.get("status", "held")
    status = status if status in STATUSES or status == "all" else "held"
    page = db.paginate(services.listing(None if status == "all" else status),
                       page=request.args.get("page", 1, type=int), per_page=services.current_app.config["PAGE_SIZE"],
                       error_out=False)
    return render_template("quarantine/index.html", rows=page.items, page=page, status=status, statuses=STATUSES,
                           form=DecisionForm(), scanner=services.current_app.config["UPLOAD_SCANNER"],
                           policy=services.current_app.config["UPLOAD_SCAN_FAIL"])


@bp.post("/admin/quarantine/<int:file_id>/delete")
@login_required
def delete(file_id: int):
    require(VIEW, "admin:system")
    row = _row(file_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.delete(row, current_user, form.note.data or "")
        db.session.commit()
        flash(_("隔离的文件已删除。"), "success")
    except services.QuarantineError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for(".index"))


@bp.post("/admin/quarantine/<int:file_id>/release")
@login_required
def release(file_id: int):
    require(VIEW, "admin:system")
    row = _row(file_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        done = services.release(row, current_user, override=bool(form.override.data), note=form.note.data or "")
        db.session.commit()
    except services.QuarantineError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".index"))
    if done.after_commit:
        done.after_commit()
    flash(_("文件已放行，将继续处理。"), "success")
    return redirect(url_for(".index"))
