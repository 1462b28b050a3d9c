"""Friendly error pages in the user's language; JSON errors for API clients; no stack traces shown."""
from __future__ import annotations

import logging
import sqlite3
import uuid

from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def wants_json() -> bool:
    """True for API paths and for clients that prefer JSON to HTML."""
    if request.path.startswith(("/api/", "/xapi/")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


_MESSAGES = {
    400: lambda: _("请求有误。"),
    401: lambda: _("请先登录。"),
    403: lambda: _("您没有权限访问此页面。"),
    404: lambda: _("页面不存在。"),
    405: lambda: _("不支持该请求方式。"),
    409: lambda: _("操作冲突，请刷新后重试。"),
    413: lambda: _("上传的内容太大。"),
    415: lambda: _("不支持的内容类型。"),
    423: lambda: _("账号已被锁定。"),
    429: lambda: _("操作过于频繁，请稍后再试。"),
    500: lambda: _("服务器出错了，请稍后再试。"),
    503: lambda: _("服务暂时不可用，请稍后再试。"),
}


def _render(code: int, message: str | None = None, ref: str | None = None):
    text = message or _MESSAGES.get(code, _MESSAGES[500])()
    if wants_json():
        body = {"error": text, "status": code}
        if ref:
            body["ref"] = ref
        return jsonify(body), code
    return render_template("errors/error.html", code=code, message=text, ref=ref), code


def _render_safely(code: int, message: str | None = None, ref: str | None = None):
    """The error page, or a bare one when the page itself cannot be built (e.g. the database is gone)."""
    try:
        return make_response(_render(code, message, ref))
    except Exception:
        log.exception("the error page %s could not be rendered (ref=%s)", code, ref)
        text = message or _MESSAGES.get(code, _MESSAGES[500])()
        if wants_json():
            resp = jsonify({"error": text, "status": code, **({"ref": ref} if ref else {})})
        else:
            resp = make_response(f"<!doctype html><meta charset=utf-8><title>{code}</title><p>{text}</p>"
                                 + (f"<p>ref {ref}</p>" if ref else ""))
        resp.status_code = code
        return resp


# SQLite reports both outages and programming errors ("no such table") as OperationalError: only these are outages.
_SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "database is busy", "disk i/o error",
                       "unable to open database", "readonly database", "database or disk is full")
RETRY_AFTER_SECONDS = 30


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached or used now (not a bug): answered 503."""
    if isinstance(exc, InterfaceError | PoolTimeout):  # PoolTimeout: every pooled connection busy (overload)
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = getattr(exc, "orig", None)
    if isinstance(orig, sqlite3.Error):
        text = str(orig).lower()
        return any(m in text for m in _SQLITE_UNAVAILABLE)
    return True  # PostgreSQL: connection refused or lost, server shutting down, lock or statement timeout


# Kept for modules written against the first version of this module.
_wants_json = wants_json


def _audit_denied() -> None:
    """Every 403 is an audit row (等保 8.1.4.3): who tried to reach what."""
    from lms import audit
    from lms.extensions import db

    try:
        db.session.rollback()  # nothing the refused view did may be committed with the audit row
        audit.log(
            "authz.denied",
            outcome="denied",
            target_type="endpoint",
            target_id=request.endpoint or request.path[:64],
            details={"method": request.method, "path": request.path[:200], "endpoint": request.endpoint},
        )
        db.session.commit()
    except Exception:  # the refusal must still be answered if the audit table is unreachable
        db.session.rollback()
        log.exception("could not write the audit row for a 403 on %s", request.path)


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return _render(400, _("页面已过期或表单校验失败，请刷新页面后重试。"))

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        code = e.code or 500
        if code == 403:
            _audit_denied()
        custom = e.description if getattr(e, "lms_message", False) else None
        resp = _render(code, custom)
        if code == 429 and getattr(e, "retry_after", None):
            resp[0].headers["Retry-After"] = str(e.retry_after)
        return resp

    @app.errorhandler(Exception)
    def server_error(e: Exception):
        from lms.extensions import db

        ref = uuid.uuid4().hex[:12]
        try:
            db.session.rollback()
        except Exception:  # a connection that is gone cannot roll back; the pool replaces it
            log.warning("rollback failed after an error (ref=%s)", ref)
        if database_unavailable(e):
            # REL-04: an outage of the database is a 503 with Retry-After, not a 500; the page is built
            # without the signed-in person (that would need the database again)
            log.error("database unavailable ref=%s on %s %s: %s", ref, request.method, request.path,
                      str(getattr(e, "orig", e)).splitlines()[0][:300])
            g._login_user = current_app.login_manager.anonymous_user()
            resp = _render_safely(503, ref=ref)
            resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return resp
        log.exception("unhandled error ref=%s on %s %s", ref, request.method, request.path)
        return _render_safely(500, ref=ref)


def user_error(code: int, message: str):
    """An HTTP error whose description is a sentence for the user (shown as is)."""
    from werkzeug.exceptions import default_exceptions

    exc = default_exceptions[code](description=message)
    exc.lms_message = True
    return exc
