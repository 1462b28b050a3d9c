"""Views of the data-subject requests (PI-06): 我的数据 (see, copy, ask to correct), the managers' list of
correction requests, and erasing a person who has left."""
from __future__ import annotations

import io

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from lms.accounts import dsar
from lms.accounts.forms import ActionForm, CorrectionForm, EraseForm, RequestDoneForm
from lms.accounts.models import REQUEST_OPEN, PrivacyRequest, User
from lms.authz import VIEW, can, require
from lms.errors import user_error
from lms.extensions import db
from lms.templating import local_dt
from lms.timeutil import utcnow

bp = Blueprint("dsar", __name__)
SAMPLE_ROWS = 5  # rows of each section shown on the page (all of them are in the copy)


def _my_page(form: CorrectionForm, status: int = 200):
    user = current_user._get_current_object()
    sections = dsar.gather(user)
    requests = db.session.scalars(
        db.select(PrivacyRequest).where(PrivacyRequest.user_id == user.id).order_by(PrivacyRequest.id.desc())
    ).all()
    limit = dsar.export_limit()
    return render_template(
        "privacy/my_data.html", sections=sections, sample=SAMPLE_ROWS, form=form, requests=requests,
        fields=dsar.CORRECTION_FIELDS, export_form=ActionForm(), limit=limit,
        exports_left=max(0, limit - dsar.exports_in_last_hour(user)),
    ), status


@bp.route("/account/data")
@login_required
def my_data():
    return _my_page(CorrectionForm())


@bp.route("/account/data/export", methods=["POST"])
@login_required
def export():
    if not ActionForm().validate_on_submit():
        abort(400)
    user = current_user._get_current_object()
    limit = dsar.export_limit()
    if dsar.exports_in_last_hour(user) >= limit:
        raise user_error(429, _("一小时内最多下载 %(n)s 次个人信息副本，请稍后再试。", n=limit))
    sections = dsar.gather(user)
    content = dsar.build_export(user, sections)
    dsar.record_export(user, sections)
    db.session.commit()
    name = f"personal-data_{user.login_id}_{local_dt(utcnow(), '%Y%m%d')}.zip"
    resp = send_file(io.BytesIO(content), as_attachment=True, download_name=name, mimetype="application/zip")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/account/data/correction", methods=["POST"])
@login_required
def correction():
    form = CorrectionForm()
    if form.validate_on_submit():
        try:
            dsar.request_correction(current_user._get_current_object(), form.field.data, form.detail.data)
        except dsar.DsarError as exc:
            db.session.rollback()
            form.detail.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("更正申请已提交，您所在党组织的管理人员会尽快处理（最长不超过 30 天）。"), "success")
            return redirect(url_for("dsar.my_data"))
    return _my_page(form, 400)


@bp.route("/account/data/withdraw-consent", methods=["POST"])
@login_required
def withdraw_consent():
    """PIPL art. 15: the person withdraws their consent to the privacy notice; the notice is asked again."""
    if not ActionForm().validate_on_submit():
        abort(400)
    from lms.accounts import privacy

    privacy.record_withdrawal(current_user._get_current_object())
    db.session.commit()
    session.pop("privacy_ok", None)  # the per-session note that the notice was agreed to
    flash(_("您已撤回对隐私声明的同意，您所在党组织的管理人员已收到通知。继续使用平台需要重新同意。"), "success")
    return redirect(url_for("auth.privacy_notice") if privacy.notice_required() else url_for("dsar.my_data"))


# --- managers ----------------------------------------------------------------------------------------
@bp.route("/people/data-requests")
@login_required
def requests():
    require(VIEW, "people")
    show_all = request.args.get("state") == "all"
    page = db.paginate(dsar.requests_query(current_user, status=None if show_all else REQUEST_OPEN),
                       page=request.args.get("page", 1, type=int), per_page=current_app.config["PAGE_SIZE"],
                       error_out=False)
    return render_template("privacy/requests.html", page=page, show_all=show_all, fields=dsar.CORRECTION_FIELDS,
                           done_form=RequestDoneForm())


@bp.route("/people/data-requests/<int:request_id>/done", methods=["POST"])
@login_required
def request_done(request_id: int):
    require(VIEW, "people")
    req = db.session.get(PrivacyRequest, request_id)
    if req is None or not can(current_user, VIEW, req.user):
        abort(404)
    form = RequestDoneForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        dsar.close_request(current_user, req, form.reply.data or "")
    except dsar.DsarError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("已标记为处理完毕，并已通知申请人。"), "success")
    return redirect(url_for("dsar.requests"))


@bp.route("/people/<int:user_id>/erase", methods=["GET", "POST"])
@login_required
def erase(user_id: int):
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    require(VIEW, person)
    refusal = dsar.erase_refusal(current_user, person)
    form = EraseForm()
    if refusal is None and form.validate_on_submit():
        if form.login_id.data.strip() != person.login_id:
            form.login_id.errors.append(_("输入的学号/工号与此人不符。"))
        else:
            try:
                dsar.erase(current_user, person)
            except dsar.DsarError as exc:
                db.session.rollback()
                form.login_id.errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("已删除此人的个人信息；操作日志按规定保留并已标注。"), "success")
                return redirect(url_for("people.index"))
    status = 403 if refusal and request.method == "POST" else (400 if form.errors else 200)
    return render_template("privacy/erase.html", person=person, form=form, refusal=refusal), status
