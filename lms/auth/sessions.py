"""Server-side sessions: a random id in the signed cookie, its hash in `user_session`.

Idle expiry, absolute lifetime and revocation (logout, password change, an admin's "end sessions")
are decided on the server, which Flask's signed-cookie session alone cannot do.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, g, request, session
from sqlalchemy import delete, select

from lms.accounts.models import User
from lms.auth.models import UserSession
from lms.extensions import db, login_manager
from lms.timeutil import utcnow

_SESSION_KEY = "sid"
# Refresh last_seen at most this often so that reading pages does not write on every request.
_TOUCH_EVERY = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, mfa_passed: bool = False) -> UserSession:
    """Begin a new server-side session for `user` (a fresh id: no session fixation)."""
    session.clear()
    token = secrets.token_urlsafe(32)
    row = UserSession(
        token_hash=_hash(token),
        user_id=user.id,
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:255],
        mfa_passed=mfa_passed,
    )
    db.session.add(row)
    db.session.flush()
    session[_SESSION_KEY] = token
    session.permanent = False
    g.lms_session = row
    return row


def current_session() -> UserSession | None:
    return g.get("lms_session")


def end_current_session() -> None:
    row = current_session()
    if row is not None:
        db.session.delete(row)
    session.clear()
    g.lms_session = None


def end_sessions(user_id: int, keep: UserSession | None = None) -> int:
    """End every session of a user (optionally keeping the current one); returns how many ended."""
    q = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        q = q.where(UserSession.id != keep.id)
    return db.session.execute(q).rowcount or 0


def _load_session() -> UserSession | None:
    token = session.get(_SESSION_KEY)
    if not token:
        return None
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _hash(token)))
    if row is None:
        session.clear()
        return None
    now = utcnow()
    cfg = current_app.config
    idle = timedelta(minutes=cfg["SESSION_IDLE_MINUTES"])
    absolute = timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"])
    if now - row.last_seen_at > idle or now - row.created_at > absolute:
        db.session.delete(row)
        db.session.commit()
        session.clear()
        g.lms_session_expired = True
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return row


@login_manager.request_loader
def _user_from_session(_request):
    row = _load_session()
    g.lms_session = row
    if row is None:
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return user
