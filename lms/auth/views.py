"""Login, logout, password change, account page, the TOTP second factor and admin actions on accounts."""
from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from lms import audit
from lms.accounts.models import User
from lms.auth import services, sessions
from lms.auth.forms import ChangePasswordForm, ConfirmForm, LoginForm, TotpCodeForm, TotpDisableForm
from lms.errors import user_error, wants_json
from lms.extensions import db
from lms.main.views import safe_next

# The area's own stylesheet lives beside it, served at /static/auth/.
bp = Blueprint("auth", __name__, static_folder="static", static_url_path="/static/auth")


def _next(default_endpoint: str = "main.index") -> str:
    return safe_next(request.values.get("next"), url_for(default_endpoint))


def _cfg(key: str):
    return current_app.config[key]


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


# --- login / logout ------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_next())
    form = LoginForm()
    error, status, headers = None, 200, {}
    if form.validate_on_submit():
        result = services.authenticate(form.login_id.data, form.password.data, request.remote_addr)
        if result.ok:
            user = result.user
            sessions.start_session(user)
            db.session.commit()
            if services.password_expired(user) and not user.must_change_password:
                flash(_("您的密码已超过 %(d)d 天未更换，请尽快修改。", d=int(_cfg("PASSWORD_MAX_AGE_DAYS"))), "warning")
            if user.totp_secret:
                return redirect(url_for("auth.totp_verify", next=_next()))
            return redirect(_next())
        db.session.commit()
        if result.reason == "throttled":
            status = 429
            headers["Retry-After"] = str(result.retry_after)
            error = _("登录尝试过于频繁，请 %(m)d 分钟后再试。", m=_minutes(result.retry_after))
        elif result.reason == "locked":
            status = 423
            # The configured duration, not the time left: the same sentence for every locked id.
            error = _(
                "登录失败次数过多，该账号已暂时锁定 %(m)d 分钟，请稍后再试；如需立即解锁请联系管理员。",
                m=int(_cfg("LOGIN_LOCKOUT_MINUTES")),
            )
        else:
            error = _("学号/工号或密码错误。")
    return render_template("auth/login.html", form=form, error=error), status, headers


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        audit.log("auth.logout", current_user._get_current_object())
    sessions.end_current_session()
    db.session.commit()
    flash(_("您已安全退出。"), "success")
    return redirect(url_for("auth.login"))


# --- the privacy notice (PI-02) ----------------------------------------------------------------------------
@bp.route("/privacy/notice", methods=["GET", "POST"])
@login_required
def privacy_notice():
    """The personal-information notice; agreed to once per version (consent row), declining logs out."""
    from lms.accounts import privacy

    user = current_user._get_current_object()
    form = ConfirmForm()
    agreed = privacy.has_consented(user)
    if form.validate_on_submit():
        decision = request.form.get("decision")
        if decision == "agree":
            if not agreed:
                privacy.record_consent(user)
                db.session.commit()
            session["privacy_ok"] = [user.id, privacy.notice_version()]
            return redirect(_next())
        if decision == "decline" and not agreed:
            privacy.record_decline(user)
            audit.log("auth.logout", user, details={"reason": "privacy_notice_declined"})
            sessions.end_current_session()
            db.session.commit()
            flash(_("您没有同意个人信息保护告知，已退出登录。如有疑问，请联系%(contact)s。",
                    contact=_privacy_contact()), "warning")
            return redirect(url_for("auth.login"))
    return render_template("auth/privacy_notice.html", form=form, agreed=agreed, version=privacy.notice_version(),
                           contact=_privacy_contact(), next=request.values.get("next") or "")


def _privacy_contact() -> str:
    return current_app.config.get("PRIVACY_CONTACT") or _("您所在党支部的书记或校党委组织部")


# --- the account page and own sessions --------------------------------------------------------------------
@bp.route("/account")
@login_required
def account():
    user = current_user._get_current_object()
    current = sessions.current_session()
    return render_template(
        "auth/account.html",
        user=user,
        sessions=sessions.list_sessions(user.id),
        current_session_id=current.id if current else None,
        describe_ua=sessions.describe_user_agent,
        mfa_required=services.mfa_required(user),
        password_expired=services.password_expired(user),
        confirm_form=ConfirmForm(),
    )


@bp.route("/account/sessions/<int:session_id>/end", methods=["POST"])
@login_required
def end_own_session(session_id: int):
    user = current_user._get_current_object()
    current = sessions.current_session()
    if not sessions.end_session(user.id, session_id):
        abort(404)
    audit.log("auth.session_end", user, details={"session": session_id})
    db.session.commit()
    if current is not None and current.id == session_id:
        session.clear()
        flash(_("您已退出当前登录。"), "success")
        return redirect(url_for("auth.login"))
    flash(_("已结束该登录会话。"), "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions():
    user = current_user._get_current_object()
    count = sessions.end_sessions(user.id, keep=sessions.current_session())
    audit.log("auth.session_end", user, details={"others": count})
    db.session.commit()
    flash(_("已退出其他 %(n)d 处登录。", n=count), "success")
    return redirect(url_for("auth.account"))


# --- password --------------------------------------------------------------------------------------------
@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    user = current_user._get_current_object()
    form = ChangePasswordForm(user=user)
    if form.validate_on_submit():
        if not services.verify_password(user, form.current_password.data):
            audit.log("auth.password_change", user, outcome="failure", details={"reason": "bad_current_password"})
            services.wrong_current_password(user, request.remote_addr)
            if services.is_locked(user):
                # Guessing the current password from a stolen session ends with that session.
                sessions.end_sessions(user.id)
                db.session.commit()
                session.clear()
                flash(_("当前密码错误次数过多，账号已暂时锁定，请稍后再登录。"), "error")
                return redirect(url_for("auth.login"))
            db.session.commit()
            form.current_password.errors.append(_("当前密码不正确。"))
        else:
            services.change_password(user, form.new_password.data)
            row = sessions.current_session()
            ended = sessions.end_sessions(user.id, keep=row)
            if row is not None:
                sessions.rotate_session(row)
            db.session.commit()
            msg = _("密码已修改。")
            if ended:
                msg += _("其他 %(n)d 处登录已退出。", n=ended)
            flash(msg, "success")
            return redirect(_next("auth.account"))
    return render_template(
        "auth/change_password.html",
        form=form,
        first_login=user.must_change_password,
        policy_hint=services.policy_hint,
    )


# --- second factor ------------------------------------------------------------------------------------------
@bp.route("/login/totp", methods=["GET", "POST"])
@login_required
def totp_verify():
    user = current_user._get_current_object()
    row = sessions.current_session()
    nxt = _next()
    if row is None or row.mfa_passed:
        return redirect(nxt)
    if not user.totp_secret:
        return redirect(url_for("auth.totp_setup", next=nxt))
    form = TotpCodeForm()
    status = 200
    if services.totp_locked(user):
        status = 423
    elif form.validate_on_submit():
        result = services.verify_totp(user, form.code.data)
        if result.ok:
            row.mfa_passed = True
            sessions.rotate_session(row)
            db.session.commit()
            return redirect(nxt)
        db.session.commit()
        if result.reason == "locked":
            status = 423
        elif result.reason == "replay":
            form.code.errors.append(_("这个动态口令刚刚已经用过，请等待手机上出现新的口令后再输入。"))
        else:
            form.code.errors.append(_("动态口令不正确，请核对后重试（请确认手机时间准确）。"))
    locked_msg = None
    if status == 423:
        locked_msg = _(
            "动态口令错误次数过多，已锁定 %(m)d 分钟。如手机丢失，请联系系统管理员重置。",
            m=int(_cfg("TOTP_LOCKOUT_MINUTES")),
        )
    return render_template("auth/totp_verify.html", form=form, locked_msg=locked_msg), status


@bp.route("/account/totp", methods=["GET", "POST"])
@login_required
def totp_setup():
    user = current_user._get_current_object()
    row = sessions.current_session()
    if row is None:
        abort(401)
    required = services.mfa_required(user)
    if user.totp_secret:
        return render_template(
            "auth/totp.html", enabled=True, required=required, disable_form=TotpDisableForm(prefix="off")
        )
    if not row.totp_pending_secret:
        row.totp_pending_secret = services.new_totp_secret()
        db.session.commit()
    secret = row.totp_pending_secret
    form = TotpCodeForm()
    status = 200
    if form.validate_on_submit():
        if services.enable_totp(user, secret, form.code.data):
            row.totp_pending_secret = None
            row.mfa_passed = True
            sessions.rotate_session(row)
            db.session.commit()
            flash(_("动态口令已启用。以后登录时，输入密码后还需输入手机上的 6 位口令。"), "success")
            return redirect(_next("auth.account"))
        db.session.commit()
        form.code.errors.append(_("动态口令不正确，请确认扫描的是本页二维码、手机时间准确后重试。"))
    return render_template(
        "auth/totp.html",
        enabled=False,
        required=required,
        form=form,
        qr=services.qr_data_uri(services.totp_uri(user, secret)),
        secret=services.format_secret(secret),
        issuer=_cfg("TOTP_ISSUER"),
    ), status


@bp.route("/account/totp/disable", methods=["POST"])
@login_required
def totp_disable():
    user = current_user._get_current_object()
    if not user.totp_secret:
        return redirect(url_for("auth.account"))
    if services.mfa_required(user):
        raise user_error(403, _("您的角色必须使用动态口令，不能停用。"))
    form = TotpDisableForm(prefix="off")
    if form.validate_on_submit():
        if not services.verify_password(user, form.password.data):
            form.password.errors.append(_("当前密码不正确。"))
            audit.log("auth.totp_disable", user, outcome="failure", details={"reason": "bad_password"})
        else:
            result = services.verify_totp(user, form.code.data)
            if result.ok:
                services.disable_totp(user, actor=user)
                db.session.commit()
                flash(_("动态口令已停用。"), "success")
                return redirect(url_for("auth.account"))
            form.code.errors.append(
                _("动态口令错误次数过多，已暂时锁定。") if result.reason == "locked" else _("动态口令不正确。")
            )
        db.session.commit()
    return render_template("auth/totp.html", enabled=True, required=False, disable_form=form)


# --- an administrator acting on a person (used from the people pages) ---------------------------------------
def _target(user_id: int) -> User:
    target = db.session.get(User, user_id)
    if target is None:
        abort(404)
    if not services.may_administer(current_user, target):
        abort(403)
    return target


def _done(message: str, **data):
    if wants_json() or request.is_json:
        return jsonify({"ok": True, "message": message, **data})
    flash(message, "success")
    return redirect(_next())


@bp.route("/admin/people/<int:user_id>/sessions/end", methods=["POST"])
@login_required
def admin_end_sessions(user_id: int):
    target = _target(user_id)
    count = sessions.end_sessions(target.id)
    audit.log("auth.admin_end_sessions", target, details={"count": count})
    db.session.commit()
    return _done(_("已结束 %(name)s 的全部 %(n)d 个登录会话。", name=target.name, n=count), count=count)


@bp.route("/admin/people/<int:user_id>/password/reset", methods=["POST"])
@login_required
def admin_reset_password(user_id: int):
    target = _target(user_id)
    if target.id == current_user.id:
        raise user_error(400, _("请在“我的账号”中修改自己的密码。"))
    password = services.temporary_password()
    services.set_password(target, password, must_change=True)
    services.unlock(target)
    ended = sessions.end_sessions(target.id)
    audit.log("auth.admin_reset_password", target, details={"sessions_ended": ended})
    db.session.commit()
    message = _("已为 %(name)s 重置密码。", name=target.name)
    if wants_json() or request.is_json:
        return jsonify({"ok": True, "message": message, "temporary_password": password})
    return render_template(
        "auth/admin_temp_password.html", target=target, password=password, back=_next()
    )


@bp.route("/admin/people/<int:user_id>/unlock", methods=["POST"])
@login_required
def admin_unlock(user_id: int):
    target = _target(user_id)
    services.unlock(target)
    audit.log("auth.admin_unlock", target)
    db.session.commit()
    return _done(_("已解除 %(name)s 的登录锁定。", name=target.name))


@bp.route("/admin/people/<int:user_id>/totp/reset", methods=["POST"])
@login_required
def admin_reset_totp(user_id: int):
    if not current_user.is_sysadmin:
        abort(403)
    target = _target(user_id)
    if target.id == current_user.id:
        raise user_error(400, _("不能重置自己的动态口令，请由另一位系统管理员操作。"))
    services.disable_totp(target, actor=current_user._get_current_object(), action="auth.admin_reset_totp")
    ended = sessions.end_sessions(target.id)
    db.session.commit()
    return _done(
        _("已重置 %(name)s 的动态口令，其 %(n)d 个登录会话已结束；下次登录时需重新绑定。", name=target.name, n=ended)
    )
