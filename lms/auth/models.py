"""Server-side sessions and login attempts (the cookie carries only a random session id)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.crypto import EncryptedText
from lms.accounts.models import User
from lms.extensions import db
from lms.timeutil import utcnow


class UserSession(db.Model):
    """One row per logged-in browser; deleting the row ends that session everywhere at once."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the cookie's id
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64), info={"pi": True})
    user_agent: Mapped[str | None] = mapped_column(String(255), info={"pi": True})
    mfa_passed: Mapped[bool] = mapped_column(default=False)
    # A TOTP secret shown on the set-up page but not yet confirmed with a code (never on the user row).
    totp_pending_secret: Mapped[str | None] = mapped_column(EncryptedText("user_session.totp_pending_secret"), info={"pi": True})

    user: Mapped[User] = relationship()


# LoginAttempt.outcome values
ATTEMPT_SUCCESS = "success"
ATTEMPT_FAILURE = "failure"  # wrong password or unknown login id
ATTEMPT_LOCKED = "locked"  # refused because the account (or unknown id) is locked
ATTEMPT_THROTTLED = "throttled"  # refused with 429 before the password was looked at


class LoginAttempt(db.Model):
    """Every login attempt, kept for per-IP throttling and per-account lockout (also when Redis is down)."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    ip: Mapped[str] = mapped_column(String(64), info={"pi": True})
    login_id: Mapped[str] = mapped_column(String(64), info={"pi": True})
    outcome: Mapped[str] = mapped_column(String(16), default=ATTEMPT_FAILURE)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_login_attempt_ip_at", "ip", "at"),
        Index("ix_login_attempt_login_at", "login_id", "at"),
    )
