"""Friendly error pages in the user's language; JSON errors for API clients; no stack traces shown."""
from __future__ import annotations

import logging
import uuid

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
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
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error ref=%s on %s %s", ref, request.method, request.path)
        from lms.extensions import db

        db.session.rollback()
        return _render(500, ref=ref)


def user_error(code: int, message: str):
    """An HTTP error whose description is a sentence for the user (shown as is)."""
    from werkzeug.exceptions import default_exceptions

    exc = default_exceptions[code](description=message)
    exc.lms_message = True
    return exc
