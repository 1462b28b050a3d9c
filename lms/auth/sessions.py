"""Server-side sessions: a random id in the signed cookie, its hash in `user_session`.

Idle expiry, absolute lifetime and revocation (logout, password change, an admin's "end sessions",
a disabled account) are decided on the server, which Flask's signed-cookie session alone cannot do.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from flask import current_app, g, request, session
from flask_babel import lazy_gettext as _l
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


def _new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def start_session(user: User, mfa_passed: bool = False) -> UserSession:
    """Begin a new server-side session for `user` (a fresh id: no session fixation)."""
    session.clear()
    token = _new_token()
    row = UserSession(
        token_hash=_hash(token),
        user_id=user.id,
        ip=(request.remote_addr or "")[:64] or None,
        user_agent=(request.user_agent.string or "")[:255],
        mfa_passed=mfa_passed,
    )
    db.session.add(row)
    db.session.flush()
    session[_SESSION_KEY] = token
    session.permanent = False
    g.lms_session = row
    return row


def rotate_session(row: UserSession) -> None:
    """Give the current session a new id (after a privilege change: second factor, new password)."""
    token = _new_token()
    row.token_hash = _hash(token)
    csrf = session.get("csrf_token")
    session.clear()
    if csrf:
        session["csrf_token"] = csrf
    session[_SESSION_KEY] = token


def current_session() -> UserSession | None:
    return g.get("lms_session")


def end_current_session() -> None:
    row = current_session()
    if row is not None:
        db.session.delete(row)
    session.clear()
    g.lms_session = None


def end_sessions(user_id: int, keep: UserSession | None = None) -> int:
    """End every session of a user (optionally keeping one); returns how many ended."""
    q = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        q = q.where(UserSession.id != keep.id)
    return db.session.execute(q.execution_options(synchronize_session=False)).rowcount or 0


def end_session(user_id: int, session_id: int) -> bool:
    """End one session of `user_id` (a user ends their own from the account page)."""
    q = delete(UserSession).where(UserSession.id == session_id, UserSession.user_id == user_id)
    return bool(db.session.execute(q.execution_options(synchronize_session=False)).rowcount)


def list_sessions(user_id: int) -> list[UserSession]:
    """The user's live sessions, most recently used first (expired ones are not listed)."""
    now = utcnow()
    cfg = current_app.config
    idle_from = now - timedelta(minutes=cfg["SESSION_IDLE_MINUTES"])
    born_from = now - timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"])
    q = (
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.last_seen_at >= idle_from,
            UserSession.created_at >= born_from,
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return list(db.session.scalars(q))


def prune_expired() -> int:
    """Delete rows past their idle or absolute limit (they are refused anyway); returns the count."""
    now = utcnow()
    cfg = current_app.config
    q = delete(UserSession).where(
        (UserSession.last_seen_at < now - timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]))
        | (UserSession.created_at < now - timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"]))
    )
    return db.session.execute(q.execution_options(synchronize_session=False)).rowcount or 0


_BROWSERS = (
    ("MicroMessenger", _l("微信")),
    ("DingTalk", _l("钉钉")),
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("HarmonyOS", "HarmonyOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)


def describe_user_agent(ua: str | None) -> str:
    """"Chrome · Windows" from a User-Agent header (enough to recognise one's own devices)."""
    ua = ua or ""
    browser = next((label for key, label in _BROWSERS if key in ua), "")
    system = next((label for key, label in _SYSTEMS if key in ua), "")
    if not browser and not system:
        return re.sub(r"[^\w./ -]", "", ua)[:40]
    return " · ".join(str(p) for p in (browser, system) if p)


def _load_session() -> UserSession | None:
    token = session.get(_SESSION_KEY)
    if not token or not isinstance(token, str):
        return None
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _hash(token)))
    if row is None:
        session.pop(_SESSION_KEY, None)
        g.lms_session_expired = True
        return None
    now = utcnow()
    cfg = current_app.config
    idle = timedelta(minutes=cfg["SESSION_IDLE_MINUTES"])
    absolute = timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"])
    if now - row.last_seen_at > idle or now - row.created_at > absolute:
        db.session.delete(row)
        db.session.commit()
        session.pop(_SESSION_KEY, None)
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
        # A disabled account loses its sessions on its next request.
        end_sessions(row.user_id)
        db.session.commit()
        session.pop(_SESSION_KEY, None)
        g.lms_session = None
        return None
    return user
