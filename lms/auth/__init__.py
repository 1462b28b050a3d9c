"""Authentication: login, server-side sessions, lockout, throttling, password policy, TOTP."""
from __future__ import annotations

from flask import Flask, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from lms.extensions import login_manager

# Endpoints a user who still has to change their password (or pass TOTP) may reach.
_GATE_ALLOWED = {
    "auth.login",
    "auth.logout",
    "auth.change_password",
    "auth.totp_setup",
    "auth.totp_verify",
    "static",
    "plugin_static",
    "main.set_language",
}


def init_app(app: Flask) -> None:
    from lms.audit import tasks as _audit_tasks  # noqa: F401  (daily retention run)
    from lms.auth import sessions  # noqa: F401  (registers the request loader)
    from lms.auth import tasks as _auth_tasks  # noqa: F401  (hourly pruning)

    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录。")
    login_manager.login_message_category = "warning"
    login_manager.unauthorized_handler(_unauthorized)
    # First of all before_request functions: nothing about the user may survive from an earlier
    # request that ran in the same application context (tests, CLI-driven requests).
    app.before_request_funcs.setdefault(None, []).insert(0, _forget_request_user)
    app.before_request(_gate)
    app.add_template_global(_auth_account_state, "auth_account_state")


def _auth_account_state(person):
    """Template helper for the people pages: `auth_account_state(person)` (see auth/_admin_actions.html)."""
    from lms.auth.services import account_state

    return account_state(current_user._get_current_object(), person)


def _forget_request_user():
    # (Flask-WTF caches the CSRF token of the session in g.csrf_token as well.)
    for key in ("_login_user", "lms_session", "lms_session_expired", "csrf_token"):
        g.pop(key, None)


def _unauthorized():
    """Anonymous (or expired) request to a page that needs a login: JSON 401 or back to the login form."""
    from lms.errors import wants_json

    if g.get("lms_session_expired"):
        message = _("登录已超时或已在其他地方退出，请重新登录。")
    else:
        message = _("请先登录。")
    if wants_json():
        return jsonify({"error": message, "status": 401}), 401
    flash(message, "warning")
    nxt = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=nxt))


def _gate():
    """The second factor, a required password change, TOTP set-up, then the privacy notice come before anything else."""
    if not current_user.is_authenticated:
        return None
    endpoint = request.endpoint or ""
    if endpoint in _GATE_ALLOWED or endpoint.endswith(".static"):
        return None
    if request.blueprint in {"xapi"} and request.authorization:
        return None
    from lms.auth.services import mfa_required
    from lms.errors import wants_json

    row = g.get("lms_session")
    mfa_done = bool(row and row.mfa_passed)
    if current_user.totp_secret and not mfa_done:
        target, message = url_for("auth.totp_verify", next=_here()), _("请输入动态口令完成登录。")
    elif current_user.must_change_password:
        target, message = url_for("auth.change_password", next=_here()), _("首次登录或密码被重置后，请先修改密码。")
    elif mfa_required(current_user) and not mfa_done:
        target, message = url_for("auth.totp_setup", next=_here()), _("您的角色需要启用动态口令（两步验证）。")
    elif endpoint == "auth.privacy_notice":
        return None  # the notice comes after the steps above, never instead of them
    elif _privacy_notice_pending():
        target, message = url_for("auth.privacy_notice", next=_here()), _("请先阅读并同意个人信息保护告知。")
    else:
        return None
    if wants_json():
        return jsonify({"error": message, "status": 403}), 403
    flash(message, "warning")
    return redirect(target)


def _privacy_notice_pending() -> bool:
    """PI-02: the current privacy notice is not yet agreed to (remembered in the signed session once it is)."""
    from flask import session

    from lms.accounts import privacy

    if not privacy.notice_required():
        return False
    mark = [current_user.id, privacy.notice_version()]
    if session.get("privacy_ok") == mark:
        return False
    if privacy.has_consented(current_user):
        session["privacy_ok"] = mark
        return False
    return True


def _here() -> str | None:
    return request.full_path.rstrip("?") if request.method == "GET" else None
