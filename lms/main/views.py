"""Home page (a dashboard of plugin widgets) and the language switch."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from lms.plugins import gather

bp = Blueprint("main", __name__)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site relative paths may be redirected to (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


@bp.route("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    widgets = sorted(gather("lms_gather_dashboard_widgets", user=current_user), key=lambda w: w.order)
    return render_template("main/index.html", widgets=widgets)


@bp.route("/language", methods=["POST"])
def set_language():
    lang = request.form.get("lang", "zh")
    resp = make_response(redirect(safe_next(request.form.get("next"), url_for("main.index"))))
    if lang in ("zh", "en"):
        # Same attributes as the session cookie: Secure in production (SESS-03).
        resp.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return resp
