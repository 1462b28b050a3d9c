"""LRS credentials: generated secrets (256 bits) stored as sha256, verified quickly on every request."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from sqlalchemy import select

from lms.audit.services import log as audit
from lms.extensions import db
from lms.timeutil import utcnow
from plugins.xapi.models import XapiClient

# key -> (secret_hash, client id, can_read, can_write, name, checked at); entries live a few seconds
# so that a revoked credential stops working almost at once in every worker.
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
    client = XapiClient(name=name[:128], key=key, secret_hash=_hash(secret), can_read=read, can_write=write,
                        created_by_id=getattr(actor, "id", None))
    db.session.add(client)
    db.session.flush()
    audit("xapi.client.create", client, actor=actor, details={"name": client.name, "key": key,
                                                               "scopes": client.scopes})
    return client, secret


def revoke_client(client: XapiClient, actor=None) -> None:
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        audit("xapi.client.revoke", client, actor=actor, details={"name": client.name, "key": client.key})
    with _LOCK:
        _CACHE.pop(client.key, None)


def authenticate(key: str, secret: str) -> tuple[int, bool, bool, str] | None:
    """(client id, can_read, can_write, name) for valid, unrevoked credentials, else None."""
    now = time.monotonic()
    entry = _CACHE.get(key)
    if entry is None or now - entry[5] > _CACHE_SECONDS:
        row = db.session.execute(
            select(XapiClient.secret_hash, XapiClient.id, XapiClient.can_read, XapiClient.can_write, XapiClient.name)
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
    return entry[1], entry[2], entry[3], entry[4]


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
