"""Security headers on every response (a CSP without 'unsafe-inline': no inline script or style),
HTTPS enforcement and trusted-proxy handling for production."""
from __future__ import annotations

from flask import Flask, Response, current_app, redirect, request
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _headers(resp: Response) -> Response:
    if not current_app.config.get("SECURITY_HEADERS", True):
        return resp
    h = resp.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if resp.mimetype == "text/html" and "charset" not in (resp.content_type or ""):
        resp.content_type = "text/html; charset=utf-8"
    if resp.mimetype in ("text/html", "application/json"):
        # Pages and API answers carry personal data: never kept by shared caches or the back button.
        h.setdefault("Cache-Control", "no-store")
    hsts = current_app.config.get("HSTS_SECONDS") or 0
    if hsts:
        h.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
    return resp


def _require_https():
    """Production refuses plain HTTP: GETs are redirected, anything else is refused (no credentials over HTTP)."""
    if not current_app.config.get("FORCE_HTTPS") or request.is_secure:
        return None
    if request.method in ("GET", "HEAD"):
        return redirect(request.url.replace("http://", "https://", 1), code=301)
    from flask_babel import gettext as _

    from lms.errors import user_error

    raise user_error(403, _("请通过 HTTPS 安全连接访问本系统。"))


def _reject_nul():
    """A NUL character is never valid text (PostgreSQL cannot even store it): refuse it with a 400 up front."""
    values = list(request.args.values())
    if request.mimetype == "application/x-www-form-urlencoded":
        # Cache the raw body first so a view that reads it itself (the xAPI alternate syntax) still can.
        request.get_data(cache=True, parse_form_data=False)
        values += list(request.form.values())
    elif request.mimetype == "multipart/form-data":
        values += list(request.form.values())
    if any("\x00" in v for v in values):
        from flask_babel import gettext as _

        from lms.errors import user_error

        raise user_error(400, _("提交的内容包含无效字符，请检查后重新输入。"))
    return None


def init_app(app: Flask) -> None:
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies > 0:
        # Behind nginx: client IP (throttling, audit) and scheme (HTTPS, secure cookies) from the proxy headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.before_request(_require_https)
    app.before_request(_reject_nul)
    app.after_request(_headers)
