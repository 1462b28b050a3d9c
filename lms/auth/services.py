"""Authentication logic without Flask request objects: passwords, lockout, throttling, TOTP."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from lms.accounts.models import User
from lms.timeutil import utcnow


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def verify_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    return check_password_hash(user.password_hash, password)


def set_password(user: User, password: str, *, must_change: bool = False) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change


def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


def mfa_required(user: User) -> bool:
    required = set(current_app.config.get("TOTP_REQUIRED_ROLES") or [])
    return bool(required & user.role_names)


@dataclass
class LoginResult:
    ok: bool
    user: User | None = None
    reason: str = ""  # bad_credentials | locked | inactive
