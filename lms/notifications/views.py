"""Views of a person's notifications: the list (all / unread), open one, mark read, mark all read."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from lms.extensions import db
from lms.notifications import services

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PER_PAGE = 20


@bp.app_template_filter("notification_text")
def notification_text(text: str | None) -> str:
    """A stored notification title or body in the reader's language."""
    return services.shown(text)


class ActionForm(FlaskForm):
    """An empty form: only the CSRF token of the mark-read buttons."""


@bp.route("/")
@login_required
def index():
    # Notifications are always the current person's own: the query is restricted to their id.
    unread_only = request.args.get("filter") == "unread"
    page = request.args.get("page", 1, type=int)
    pagination = db.paginate(services.list_query(current_user, unread_only=unread_only), page=max(page, 1),
                             per_page=PER_PAGE, error_out=False)
    return render_template("notifications/index.html", pagination=pagination, unread_only=unread_only,
                           unread=services.unread_count(current_user), form=ActionForm())


@bp.route("/<int:notification_id>/open", methods=["POST"])
@login_required
def open_(notification_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    row = services.mark_read(current_user, notification_id)
    if row is None:
        abort(404)
    db.session.commit()
    return redirect(services.safe_url(row.url) or url_for(".index"))


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if services.mark_read(current_user, notification_id) is None:
        abort(404)
    db.session.commit()
    if request.accept_mimetypes.best == "application/json":
        return {"ok": True, "unread": services.unread_count(current_user)}
    return redirect(_back())


@bp.route("/read-all", methods=["POST"])
@login_required
def read_all():
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    n = services.mark_all_read(current_user)
    db.session.commit()
    flash(_("已将 %(n)s 条通知标记为已读。", n=n) if n else _("没有未读通知。"), "success")
    return redirect(_back())


def _back() -> str:
    nxt = services.safe_url(request.form.get("next"))
    return nxt if nxt and nxt.startswith("/notifications") else url_for(".index")
