"""LRS credentials: generated secrets (256 bits) stored as sha256, verified quickly on every request;
keys expire (AUTH-08) and bad credentials are throttled per client IP."""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from lms.audit.services import log as audit
from lms.auth.models import ATTEMPT_FAILURE, LoginAttempt
from lms.extensions import db
from lms.timeutil import utcnow
from plugins.xapi.models import XapiClient

log = logging.getLogger(__name__)

EXPIRED = "expired"  # authenticate(): right secret, but the key's expiry date has passed

# key -> (secret_hash, client id, can_read, can_write, name, expires_at, checked at); entries live a few
# seconds so that a revoked credential stops working almost at once in every worker.
_CACHE: dict[str, tuple] = {}
_CACHE_SECONDS = 5.0
_LOCK = threading.Lock()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_client(name: str, *, read: bool, write: bool, actor=None) -> tuple[XapiClient, str]:
    """Create a client; returns it and its secret (shown once, never stored). The caller commits."""
    name = (name or "").strip()
    if not name:
        raise ValueError("name is required")
    if not (read or write):
        raise ValueError("a client needs the read or the write scope")
    key = secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    client = XapiClient(name=name[:128], key=key, secret_hash=_hash(secret), can_read=read, can_write=write,
                        created_by_id=getattr(actor, "id", None), created_at=now, expires_at=now + client_lifetime())
    db.session.add(client)
    db.session.flush()
    audit("xapi.client.create", client, actor=actor, details={"name": client.name, "key": key,
                                                               "scopes": client.scopes,
                                                               "expires_at": client.expires_at.isoformat()})
    return client, secret


def client_lifetime() -> timedelta:
    """XAPI_CLIENT_DAYS, never more than 365 days (the plugin refuses to start with more)."""
    from plugins.xapi import MAX_CLIENT_DAYS

    return timedelta(days=min(int(current_app.config["XAPI_CLIENT_DAYS"]), MAX_CLIENT_DAYS))


def renew_client(client: XapiClient, actor=None) -> None:
    """The key is valid for XAPI_CLIENT_DAYS from now (not from the old date: never longer than that). Caller commits."""
    if client.revoked_at is not None:
        raise ValueError("a revoked client cannot be renewed")
    old = client.expires_at
    client.expires_at = utcnow() + client_lifetime()
    audit("xapi.client.renew", client, actor=actor, details={"name": client.name, "key": client.key,
                                                              "expires_at": client.expires_at.isoformat(),
                                                              "previous": old.isoformat() if old else None})
    with _LOCK:
        _CACHE.pop(client.key, None)


def revoke_client(client: XapiClient, actor=None) -> None:
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        audit("xapi.client.revoke", client, actor=actor, details={"name": client.name, "key": client.key})
    with _LOCK:
        _CACHE.pop(client.key, None)


def authenticate(key: str, secret: str) -> tuple[int, bool, bool, str] | str | None:
    """(client id, can_read, can_write, name) for valid, unrevoked, unexpired credentials; EXPIRED for the right
    secret of an expired key; else None."""
    now = time.monotonic()
    entry = _CACHE.get(key)
    if entry is None or now - entry[6] > _CACHE_SECONDS:
        row = db.session.execute(
            select(XapiClient.secret_hash, XapiClient.id, XapiClient.can_read, XapiClient.can_write, XapiClient.name,
                   XapiClient.expires_at)
            .where(XapiClient.key == key, XapiClient.revoked_at.is_(None))
        ).first()
        if row is None:
            with _LOCK:
                _CACHE.pop(key, None)
            return None
        entry = (*row, now)
        with _LOCK:
            _CACHE[key] = entry
    if not hmac.compare_digest(entry[0], _hash(secret)):
        return None
    if entry[5] <= utcnow():
        return EXPIRED
    return entry[1], entry[2], entry[3], entry[4]


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
        _OVER_LIMIT.clear()


# --- throttling of bad credentials (AUTH-08) ---------------------------------------------------------------
# Failures are rows of the core's `login_attempt` table (shared by every process, pruned daily with the
# login rows), with `ip` = "xapi:<address>" so that they never count towards a person's web-login throttle
# and `login_id` = "xapi:<key as sent>" (":" is not allowed in login ids, so no person's lockout either).
# A successful request does not read the table: it is read when an authentication fails, or when this
# process has noted the IP as over the limit (_OVER_LIMIT: ip -> time.monotonic() until which it is).
_PREFIX = "xapi:"
_WINDOW = timedelta(minutes=1)
_OVER_LIMIT: dict[str, float] = {}


def _failures_since(ip: str, since: datetime) -> list[datetime]:
    return list(db.session.scalars(
        select(LoginAttempt.at).where(LoginAttempt.ip == _PREFIX + ip, LoginAttempt.at > since,
                                      LoginAttempt.outcome == ATTEMPT_FAILURE).order_by(LoginAttempt.at)))


def _retry_after(failures: list[datetime], limit: int, now: datetime) -> int:
    """Seconds until fewer than `limit` failures are left in the window (0: not over the limit)."""
    if len(failures) < limit:
        return 0
    frees_at = failures[len(failures) - limit] + _WINDOW
    return max(1, math.ceil((frees_at - now).total_seconds()))


def throttled(ip: str) -> int:
    """Seconds the client at `ip` must wait (0: go ahead). Costs no query unless the IP was noted over the limit."""
    until = _OVER_LIMIT.get(ip)
    if until is None:
        return 0
    if time.monotonic() >= until:
        with _LOCK:
            _OVER_LIMIT.pop(ip, None)
        return 0
    # Look again: the note may be stale (pruned rows, a changed setting); other processes add failures too.
    return _check(ip)


def _check(ip: str) -> int:
    limit = int(current_app.config["XAPI_AUTH_FAILURES_PER_MINUTE"])
    now = utcnow()
    wait = _retry_after(_failures_since(ip, now - _WINDOW), limit, now)
    with _LOCK:
        if wait:
            _OVER_LIMIT[ip] = time.monotonic() + wait
        else:
            _OVER_LIMIT.pop(ip, None)
    return wait


def record_failure(ip: str, key: str) -> int:
    """Count one failed Basic authentication from `ip` (commits). Returns the seconds to wait if the IP was
    already over the limit (the attempt is then refused with 429 and not counted), else 0."""
    wait = _check(ip)
    if wait:
        return wait
    limit = int(current_app.config["XAPI_AUTH_FAILURES_PER_MINUTE"])
    now = utcnow()
    db.session.add(LoginAttempt(ip=(_PREFIX + ip)[:64], login_id=(_PREFIX + key)[:64], outcome=ATTEMPT_FAILURE,
                                at=now))
    count = db.session.scalar(select(func.count(LoginAttempt.id)).where(
        LoginAttempt.ip == _PREFIX + ip, LoginAttempt.at > now - _WINDOW, LoginAttempt.outcome == ATTEMPT_FAILURE))
    if count >= limit:
        # One audit row when an IP reaches the limit, not one per request of a flood.
        audit("xapi.auth.throttle", outcome="denied", actor=None,
              details={"ip": ip, "failures": count, "window_seconds": int(_WINDOW.total_seconds())})
        log.warning("LRS: %s bad Basic credentials from %s within a minute; throttled", count, ip)
    db.session.commit()
    if count >= limit:
        _check(ip)
    return 0
