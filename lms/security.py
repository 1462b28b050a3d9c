"""Security headers on every response (a CSP without 'unsafe-inline': no inline script or style)."""
from __future__ import annotations

from flask import Flask, Response, current_app

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
    if resp.mimetype == "text/html":
        h.setdefault("Cache-Control", "no-store")
    hsts = current_app.config.get("HSTS_SECONDS") or 0
    if hsts:
        h.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
    return resp


def init_app(app: Flask) -> None:
    app.after_request(_headers)
