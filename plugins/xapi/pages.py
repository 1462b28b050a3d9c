"""Pages of the xAPI plugin: the learning timeline, members' records, LRS clients, and the browser endpoint."""
from __future__ import annotations

import json

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.audit.services import log as audit
from lms.authz import VIEW, require, scope_filter
from lms.events import actor_for
from lms.extensions import csrf, db
from lms.templating import local_dt
from plugins.xapi import clients as client_services
from plugins.xapi import forwarding
from plugins.xapi import validation as v
from plugins.xapi.blueprint import bp
from plugins.xapi.forms import ClientForm, ConfirmForm
from plugins.xapi.models import XapiClient, XapiProgress, XapiStatement
from plugins.xapi.services import LRSError, save_statements

PER_PAGE = 30
# Results that earn completion or credit are recorded by the server, never by the browser.
SERVER_ONLY_VERBS = {
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/passed",
    "http://adlnet.gov/expapi/verbs/failed",
    "http://adlnet.gov/expapi/verbs/mastered",
    "http://adlnet.gov/expapi/verbs/scored",
    "http://adlnet.gov/expapi/verbs/voided",
    "http://adlnet.gov/expapi/verbs/registered",
}




def _statements_of(person_id: int, activity_id: str | None = None, page: int = 1):
    q = select(XapiStatement).where(XapiStatement.person_id == person_id)
    if activity_id:
        q = q.where(XapiStatement.object_key == activity_id)
    pagination = db.paginate(q.order_by(XapiStatement.timestamp.desc(), XapiStatement.id.desc()),
                             page=page, per_page=PER_PAGE, error_out=False)
    rows = [(st, json.loads(st.data)) for st in pagination.items]
    return pagination, rows


def _progress_of(person_id: int):
    return list(db.session.scalars(
        select(XapiProgress).where(XapiProgress.person_id == person_id).order_by(XapiProgress.last_seen.desc())
    ))


@bp.route("/records/me")
@login_required
def timeline():
    require(VIEW, current_user._get_current_object())
    page = request.args.get("page", 1, type=int)
    pagination, rows = _statements_of(current_user.id, page=page)
    return render_template("xapi/timeline.html", progress=_progress_of(current_user.id), rows=rows,
                           pagination=pagination, person=current_user)


@bp.route("/records/people")
@login_required
def people():
    require(VIEW, "people")
    term = (request.args.get("q") or "").strip()[:64]
    q = select(User).where(scope_filter(current_user, User.org_unit_id)).order_by(User.login_id)
    if term:
        q = q.where(User.name.contains(term, autoescape=True) | User.login_id.contains(term, autoescape=True))
    pagination = db.paginate(q, page=request.args.get("page", 1, type=int), per_page=PER_PAGE, error_out=False)
    ids = [u.id for u in pagination.items]
    summary = {}
    if ids:
        for pid, total, done, seconds in db.session.execute(
            select(XapiProgress.person_id, func.count(), func.sum(func.cast(XapiProgress.completion, db.Integer)),
                   func.sum(XapiProgress.effective_seconds))
            .where(XapiProgress.person_id.in_(ids)).group_by(XapiProgress.person_id)
        ):
            summary[pid] = (total, done or 0, seconds or 0)
    return render_template("xapi/people.html", pagination=pagination, summary=summary, term=term)


@bp.route("/records/people/<int:user_id>")
@login_required
def person(user_id: int):
    target = db.session.get(User, user_id) or abort(404)
    require(VIEW, target)
    activity = request.args.get("activity") or None
    page = request.args.get("page", 1, type=int)
    pagination, rows = _statements_of(target.id, activity, page)
    if target.id != current_user.id:
        audit("xapi.record.view", target, details={"activity": activity})
        db.session.commit()
    return render_template("xapi/person.html", person=target, progress=_progress_of(target.id), rows=rows,
                           pagination=pagination, activity=activity)


def _check_csrf() -> None:
    """The blueprint is exempt from CSRFProtect (the LRS uses Basic auth): its browser POSTs check the token here,
    so a POST without it gets the same 400 as everywhere else, before the form is read."""
    if request.method == "POST" and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


@bp.route("/admin/xapi/clients", methods=["GET", "POST"])
@login_required
def clients():
    _check_csrf()
    require(VIEW, "admin:xapi")
    form = ClientForm()
    created = None
    if form.validate_on_submit():
        client, secret = client_services.create_client(form.name.data, read=form.can_read.data,
                                                       write=form.can_write.data, actor=current_user)
        db.session.commit()
        created = {"name": client.name, "key": client.key, "secret": secret, "expires_at": client.expires_at}
        form = ClientForm(formdata=None)
    rows = list(db.session.scalars(select(XapiClient).order_by(XapiClient.revoked_at.is_not(None),
                                                               XapiClient.created_at.desc())))
    endpoint = current_app.config["BASE_URL"].rstrip("/") + url_for("xapi.about").rsplit("/about", 1)[0] + "/"
    return render_template("xapi/clients.html", form=form, rows=rows, created=created, endpoint=endpoint,
                           confirm=ConfirmForm(), outbox=forwarding.stats() if forwarding.enabled() else None,
                           renew_days=client_services.client_lifetime().days)


@bp.route("/admin/xapi/clients/<int:client_id>/revoke", methods=["POST"])
@login_required
def revoke_client(client_id: int):
    _check_csrf()
    require(VIEW, "admin:xapi")
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    client = db.session.get(XapiClient, client_id) or abort(404)
    client_services.revoke_client(client, actor=current_user)
    db.session.commit()
    flash(_("已吊销接口凭据“%(name)s”。", name=client.name), "success")
    return redirect(url_for("xapi.clients"))


@bp.route("/admin/xapi/clients/<int:client_id>/renew", methods=["POST"])
@login_required
def renew_client(client_id: int):
    _check_csrf()
    require(VIEW, "admin:xapi")
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    client = db.session.get(XapiClient, client_id) or abort(404)
    if client.revoked_at is not None:
        flash(_("接口凭据“%(name)s”已吊销，不能续期。", name=client.name), "warning")
        return redirect(url_for("xapi.clients"))
    client_services.renew_client(client, actor=current_user)
    db.session.commit()
    flash(_("接口凭据“%(name)s”已续期至 %(at)s。", name=client.name, at=local_dt(client.expires_at)), "success")
    return redirect(url_for("xapi.clients"))


def _browser_error(message: str, status: int = 400):
    return {"error": message, "status": status}, status


# JSON API under /xapi/ (JSON errors); session-authenticated and CSRF-checked, unlike the LRS.
@bp.route("/xapi/browser/statements", methods=["POST"])
def browser_statements():
    """Statements from the in-browser player and quiz pages of the logged-in person (session + CSRF)."""
    if not current_user.is_authenticated:
        return _browser_error(_("请先登录。"), 401)
    _check_csrf()
    body = request.get_json(silent=True)
    batch = body if isinstance(body, list) else [body]
    if body is None or not batch or not all(isinstance(s, dict) for s in batch):
        return _browser_error(_("请求内容应为语句对象或语句数组（JSON）。"))
    if len(batch) > 50:
        return _browser_error(_("一次最多提交 50 条学习记录。"))
    me = actor_for(current_user)
    for s in batch:
        given = s.get("actor")
        if given is not None and not (isinstance(given, dict) and given.get("account") == me["account"]
                                      and given.get("objectType", "Agent") == "Agent"
                                      and not any(k in given for k in ("mbox", "mbox_sha1sum", "openid"))):
            return _browser_error(_("不能代替他人提交学习记录。"), 403)
        s["actor"] = me
        for forbidden in ("authority", "stored", "version"):
            s.pop(forbidden, None)
        verb_id = (s.get("verb") or {}).get("id") if isinstance(s.get("verb"), dict) else None
        res = s.get("result") if isinstance(s.get("result"), dict) else {}
        if verb_id in SERVER_ONLY_VERBS or any(k in res for k in ("completion", "success", "score")):
            return _browser_error(_("完成、成绩等结果由服务器记录，页面不能直接提交。"), 403)
    from plugins.xapi.hooks import site_authority

    try:
        result = save_statements(batch, authority=site_authority())
    except LRSError as exc:
        db.session.rollback()
        return _browser_error(str(exc), exc.status)
    db.session.commit()
    return {"ids": result.ids}, 200



# --- template filters ----------------------------------------------------------------------------
def _lang_pick(m: dict | None) -> str | None:
    if not m:
        return None
    from flask_babel import get_locale

    # The reader's language first (English pages show the en-US display), then Chinese, then anything.
    order = ("en-US", "en", "zh-CN", "zh") if str(get_locale()).startswith("en") else ("zh-CN", "zh", "en-US", "en")
    for lang in order:
        if lang in m:
            return m[lang]
    return next(iter(m.values()))


def verb_label(verb: dict) -> str:
    return _lang_pick(verb.get("display")) or verb["id"].rstrip("/").rsplit("/", 1)[-1]


def object_label(obj: dict) -> str:
    otype = obj.get("objectType", "Activity")
    if otype == "Activity":
        return _lang_pick((obj.get("definition") or {}).get("name")) or obj["id"]
    if otype == "StatementRef":
        return _("语句 %(id)s", id=obj["id"][:8])
    if otype == "SubStatement":
        return _("子语句")
    return obj.get("name") or _("成员")


def duration_label(seconds) -> str:
    seconds = int(round(float(seconds or 0)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return _("%(h)s小时%(m)s分", h=h, m=m)
    if m:
        return _("%(m)s分%(s)s秒", m=m, s=s)
    return _("%(s)s秒", s=s)


def result_label(res: dict | None) -> str:
    if not res:
        return ""
    parts = []
    if res.get("completion") is True:
        parts.append(_("已完成"))
    if res.get("success") is True:
        parts.append(_("通过"))
    elif res.get("success") is False:
        parts.append(_("未通过"))
    score = res.get("score") or {}
    if "scaled" in score:
        parts.append(_("得分 %(s)s", s=round(score["scaled"] * 100, 1)))
    elif "raw" in score:
        parts.append(_("得分 %(s)s", s=score["raw"]))
    if "duration" in res:
        parts.append(duration_label(v.duration_seconds(res["duration"])))
    return "，".join(parts)


def init_filters(app) -> None:
    app.add_template_filter(verb_label, "xapi_verb")
    app.add_template_filter(object_label, "xapi_object")
    app.add_template_filter(result_label, "xapi_result")
    app.add_template_filter(duration_label, "xapi_duration")
