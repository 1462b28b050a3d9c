"""Authentication: login, server-side sessions, lockout, throttling, password policy, TOTP."""
from __future__ import annotations

from flask import Flask, flash, g, redirect, request, url_for
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
    from lms.auth import sessions  # noqa: F401  (registers the request loader)

    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录。")
    login_manager.login_message_category = "warning"
    app.before_request(_gate)


def _gate():
    """First-login password change and the second factor come before anything else."""
    if not current_user.is_authenticated or request.endpoint in _GATE_ALLOWED:
        return None
    if request.blueprint in {"xapi"} and request.authorization:
        return None
    if current_user.must_change_password:
        return redirect(url_for("auth.change_password", next=request.full_path))
    from lms.auth.services import mfa_required

    row = g.get("lms_session")
    if mfa_required(current_user) and not (row and row.mfa_passed):
        if current_user.totp_secret:
            return redirect(url_for("auth.totp_verify"))
        flash(_l("您的角色需要启用动态口令（两步验证）。"), "warning")
        return redirect(url_for("auth.totp_setup"))
    return None
