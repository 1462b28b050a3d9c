"""Authentication logic without Flask request objects: passwords, lockout, throttling, TOTP.

Every function writes its audit rows into the caller's transaction; the caller commits.
"""
from __future__ import annotations

import base64
import hmac
import io
import logging
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pyotp
import qrcode
import qrcode.image.svg
from flask import current_app, has_request_context
from flask_babel import gettext
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from lms import audit
from lms.accounts.models import User
from lms.auth.models import (
    ATTEMPT_FAILURE,
    ATTEMPT_LOCKED,
    ATTEMPT_SUCCESS,
    ATTEMPT_THROTTLED,
    LoginAttempt,
)
from lms.extensions import db
from lms.timeutil import utcnow

log = logging.getLogger(__name__)


def _(message: str, **variables) -> str:
    """Translated in a request (the user's language); the Chinese msgid elsewhere (CLI, import, tasks)."""
    if has_request_context():
        return gettext(message, **variables)
    return message % variables if variables else message

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# Far above any passphrase a person types (ASVS asks for at least 64) but bounded, so that a
# megabyte "password" cannot keep scrypt busy. Longer input is refused, never truncated.
PASSWORD_MAX_LENGTH = 1024


# --- passwords ---------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def verify_password(user: User | None, password: str) -> bool:
    """Check a password; for an unknown user the same scrypt work is done (no timing oracle)."""
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)


def set_password(user: User, password: str, *, must_change: bool = False) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change


def _read_list(name: str) -> set[str]:
    words = set()
    for line in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(unicodedata.normalize("NFKC", line).casefold())
    return words


@lru_cache(maxsize=1)
def blocklist() -> frozenset[str]:
    """The top-3000 common passwords (Django's list, see lms/data/) plus this site's own words."""
    return frozenset(_read_list("common-passwords.txt") | _read_list("context-words.txt"))


def _classes(password: str) -> int:
    lower = any(c.islower() for c in password)
    upper = any(c.isupper() for c in password)
    digit = any(c.isdigit() for c in password)
    other = any(not (c.islower() or c.isupper() or c.isdigit()) for c in password)
    return lower + upper + digit + other


def _attr(obj, name: str) -> str:
    value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return unicodedata.normalize("NFKC", str(value or "")).strip().casefold()


def check_password_policy(password: str, user=None) -> list[str]:
    """Problems with `password` as sentences for the user (empty list: acceptable).

    `user` (a User, or any object/dict with `login_id` and `name`) enables the "not your login id
    or name" rule. The profile is PASSWORD_POLICY: "dengbao" (default) or "asvs" (length only).
    """
    cfg = current_app.config
    password = password or ""
    problems: list[str] = []
    length = len(password)  # characters, not bytes: 8 汉字 are 8 characters
    min_len = int(cfg["PASSWORD_MIN_LENGTH"])
    if length < min_len:
        problems.append(_("密码至少需要 %(n)d 个字符。", n=min_len))
    if length > PASSWORD_MAX_LENGTH:
        problems.append(_("密码不能超过 %(n)d 个字符。", n=PASSWORD_MAX_LENGTH))
    passphrase = int(cfg["PASSWORD_PASSPHRASE_LENGTH"])
    if cfg.get("PASSWORD_POLICY", "dengbao") != "asvs" and length < passphrase:
        need = int(cfg["PASSWORD_MIN_CLASSES"])
        if _classes(password) < need:
            problems.append(
                _(
                    "密码需包含大写字母、小写字母、数字、符号中的至少 %(k)d 类；"
                    "或使用不少于 %(p)d 个字符的长口令（如一句话）。",
                    k=need,
                    p=passphrase,
                )
            )
    folded = unicodedata.normalize("NFKC", password).casefold()
    if folded in blocklist():
        problems.append(_("这是常见密码，很容易被猜中，请换一个。"))
    if user is not None:
        login_id = _attr(user, "login_id")
        if login_id and (folded == login_id or (len(login_id) >= 4 and login_id in folded)):
            problems.append(_("密码不能包含您的学号/工号。"))
        name = _attr(user, "name")
        if name and (folded == name or (len(name) >= 2 and name in folded)):
            problems.append(_("密码不能包含您的姓名。"))
    return problems


def temporary_password() -> str:
    """A random one-time password that satisfies every policy profile (shown once to an admin)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz"  # no l/o/i: read aloud or copied by hand
    upper = alphabet.upper()
    digits = "23456789"
    symbols = "#%+=?@"
    while True:
        chars = [secrets.choice(s) for s in (alphabet, upper, digits, symbols)]
        chars += [secrets.choice(alphabet + upper + digits) for _ in range(10)]
        secrets.SystemRandom().shuffle(chars)
        pw = "".join(chars)
        if pw.casefold() not in blocklist():
            return pw


def password_expired(user: User) -> bool:
    """True when the 等保 profile's periodic-change prompt is due."""
    cfg = current_app.config
    days = int(cfg.get("PASSWORD_MAX_AGE_DAYS") or 0)
    if cfg.get("PASSWORD_POLICY", "dengbao") == "asvs" or days <= 0 or user.password_changed_at is None:
        return False
    return utcnow() - user.password_changed_at > timedelta(days=days)


def change_password(user: User, new_password: str) -> None:
    """Set a password the user chose (policy already checked) and audit it; the caller ends sessions."""
    set_password(user, new_password, must_change=False)
    user.failed_logins = 0
    user.locked_until = None
    audit.log("auth.password_change", user, actor=user)


# --- lockout and throttling ---------------------------------------------------------------------------
def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


@dataclass
class LoginResult:
    ok: bool
    user: User | None = None
    reason: str = ""  # bad_credentials | locked | throttled
    retry_after: int = 0  # seconds, for 429/423


def _count_attempts(where, since: datetime, outcomes=None) -> int:
    q = select(func.count(LoginAttempt.id)).where(where, LoginAttempt.at > since)
    if outcomes is None:
        q = q.where(LoginAttempt.outcome != ATTEMPT_THROTTLED)
    else:
        q = q.where(LoginAttempt.outcome.in_(outcomes))
    return db.session.scalar(q) or 0


def _record(ip: str, login_id: str, outcome: str, now: datetime) -> None:
    db.session.add(LoginAttempt(ip=ip, login_id=login_id, outcome=outcome, at=now))


def _throttled(where, window: timedelta, limit: int, now: datetime) -> bool:
    return _count_attempts(where, now - window) >= limit


def authenticate(login_id: str, password: str, ip: str | None) -> LoginResult:
    """Decide one login attempt: throttles, lockout, then the password. Writes attempt and audit rows.

    Failures never say whether the login id exists: unknown ids are hashed against a dummy and
    locked after the same number of failures as real accounts.
    """
    cfg = current_app.config
    now = utcnow()
    ip = (ip or "unknown")[:64]
    login_id = (login_id or "").strip()[:64]
    user = db.session.scalar(select(User).where(User.login_id == login_id)) if login_id else None
    details = _attempted_id(login_id, user)

    # 1. throttles (429): per IP, then per account from any IP
    checks = (
        ("ip", LoginAttempt.ip == ip, cfg["LOGIN_IP_WINDOW_MINUTES"], cfg["LOGIN_IP_LIMIT"]),
        ("account", LoginAttempt.login_id == login_id, cfg["LOGIN_ACCOUNT_WINDOW_MINUTES"],
         cfg["LOGIN_ACCOUNT_LIMIT"]),
    )
    for kind, where, minutes, limit in checks:
        window = timedelta(minutes=int(minutes))
        if _throttled(where, window, int(limit), now):
            # One audit row per throttled key and window, not one per request of a flood.
            if not _count_attempts(where, now - window, outcomes=[ATTEMPT_THROTTLED]):
                audit.log("auth.throttle", outcome="denied", details={**details, "scope": kind}, actor=None)
            _record(ip, login_id, ATTEMPT_THROTTLED, now)
            log.warning("login throttled (%s) from %s", kind, ip)
            return LoginResult(False, reason="throttled", retry_after=int(window.total_seconds()))

    lock_window = timedelta(minutes=int(cfg["LOGIN_LOCKOUT_MINUTES"]))
    max_failures = int(cfg["LOGIN_MAX_FAILURES"])

    # 2. lockout (423), also for unknown ids so that a lock does not reveal that an id exists
    if user is not None:
        locked = is_locked(user)
        retry = int((user.locked_until - now).total_seconds()) + 1 if locked else 0
    else:
        until = _phantom_locked_until(login_id, now, lock_window, max_failures)
        locked = until is not None
        retry = int((until - now).total_seconds()) + 1 if until else 0
    if locked:
        _record(ip, login_id, ATTEMPT_LOCKED, now)
        audit.log("auth.login", user, actor=user, outcome="failure", details={**details, "reason": "locked"})
        return LoginResult(False, user=user, reason="locked", retry_after=max(retry, 1))

    # 3. the password
    password_ok = verify_password(user, password or "") if len(password or "") <= PASSWORD_MAX_LENGTH else False
    if user is not None and password_ok and user.is_active:
        _record(ip, login_id, ATTEMPT_SUCCESS, now)
        user.failed_logins = 0
        user.locked_until = None
        audit.log("auth.login", user, actor=user)
        return LoginResult(True, user=user)

    reason = "inactive" if (user is not None and password_ok) else ("unknown_id" if user is None else "bad_password")
    audit.log("auth.login", user, actor=user, outcome="failure", details={**details, "reason": reason})
    if user is not None:
        register_failure(user, now)  # before this attempt's row is written: it looks at earlier ones
    _record(ip, login_id, ATTEMPT_FAILURE, now)
    if user is not None:
        if is_locked(user):
            return LoginResult(False, user=user, reason="locked", retry_after=int(lock_window.total_seconds()))
    elif _phantom_locked_until(login_id, now, lock_window, max_failures) is not None:
        return LoginResult(False, reason="locked", retry_after=int(lock_window.total_seconds()))
    return LoginResult(False, user=user, reason="bad_credentials")


def _attempted_id(login_id: str, user) -> dict:
    """What the audit row says about the login id typed (LOG-04).

    A real account's id is written as is. A string that is no account's id is often a password typed into
    the wrong field, so the audit keeps only a keyed tag of it (the same string always gives the same tag,
    so a guessing run against one id can still be followed) and its length, never the text.
    """
    if user is not None or not login_id:
        return {"login_id": login_id}
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    tag = hmac.new(key, b"audit-login-id:" + login_id.encode(), "sha256").hexdigest()[:16]
    return {"login_id": None, "unknown_id_tag": tag, "length": len(login_id)}


def _phantom_locked_until(login_id: str, now: datetime, window: timedelta, max_failures: int) -> datetime | None:
    """For a login id without an account: locked like a real one (the last N failures within one
    window lock it for a window from the last of them), so a lock reveals nothing about existence."""
    times = list(
        db.session.scalars(
            select(LoginAttempt.at)
            .where(LoginAttempt.login_id == login_id, LoginAttempt.outcome == ATTEMPT_FAILURE)
            .order_by(LoginAttempt.at.desc())
            .limit(max_failures)
        )
    )
    if len(times) < max_failures or times[0] - times[-1] > window:
        return None
    until = times[0] + window
    return until if until > now else None


def register_failure(user: User, now: datetime | None = None) -> None:
    """Count a wrong password for `user`; at LOGIN_MAX_FAILURES within the window, lock the account."""
    cfg = current_app.config
    now = now or utcnow()
    window = timedelta(minutes=int(cfg["LOGIN_LOCKOUT_MINUTES"]))
    # Failures older than the window are forgotten: five mistakes spread over a month lock nobody.
    last = db.session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.login_id == user.login_id,
            LoginAttempt.outcome == ATTEMPT_FAILURE,
            LoginAttempt.at <= now,
        )
    )
    if last is None or now - last > window:
        user.failed_logins = 0
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= int(cfg["LOGIN_MAX_FAILURES"]):
        user.locked_until = now + window
        user.failed_logins = 0
        audit.log(
            "auth.lockout",
            user,
            actor=user,  # the account whose failed attempts locked it, as on those attempts' auth.login rows
            outcome="denied",
            details={"login_id": user.login_id, "minutes": int(cfg["LOGIN_LOCKOUT_MINUTES"])},
        )


def wrong_current_password(user: User, ip: str | None) -> None:
    """A wrong password typed while logged in (password change): counts toward the same lockout."""
    now = utcnow()
    register_failure(user, now)
    _record((ip or "unknown")[:64], user.login_id, ATTEMPT_FAILURE, now)


def unlock(user: User) -> None:
    """Lift a password lock and a second-factor lock (admin action; the caller audits)."""
    user.locked_until = None
    user.failed_logins = 0
    user.totp_locked_until = None
    user.totp_failures = 0


def prune_login_attempts(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete attempt rows no throttle or lock window can still need; returns the count."""
    cutoff = utcnow() - older_than
    return db.session.execute(db.delete(LoginAttempt).where(LoginAttempt.at < cutoff)).rowcount or 0


# --- second factor (TOTP, RFC 6238) ---------------------------------------------------------------
def mfa_required(user: User) -> bool:
    required = set(current_app.config.get("TOTP_REQUIRED_ROLES") or [])
    return bool(required & user.role_names)


def needs_second_factor(user: User) -> bool:
    """Required by role, or switched on by the user."""
    return bool(user.totp_secret) or mfa_required(user)


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters = 160 bits, RFC 4226's recommendation


def totp_uri(user: User, secret: str) -> str:
    issuer = current_app.config.get("TOTP_ISSUER") or current_app.config["SITE_NAME"]
    return pyotp.TOTP(secret).provisioning_uri(name=user.login_id, issuer_name=issuer)


def qr_data_uri(text: str) -> str:
    """An SVG QR code as a data: URI (the CSP allows data: images but no inline SVG styles)."""
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def format_secret(secret: str) -> str:
    """Groups of four for typing the key by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _normalize_code(code: str | None) -> str:
    code = unicodedata.normalize("NFKC", code or "")
    return "".join(ch for ch in code if not ch.isspace() and ch != "-")


def _matching_step(secret: str, code: str) -> int | None:
    """The time step (±1 for clock drift) whose code equals `code`, or None."""
    code = _normalize_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(time.time()) // totp.interval
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def totp_locked(user: User) -> bool:
    return user.totp_locked_until is not None and user.totp_locked_until > utcnow()


@dataclass
class TotpResult:
    ok: bool
    reason: str = ""  # locked | invalid | replay


def verify_totp(user: User, code: str) -> TotpResult:
    """Check a login code: each time step is accepted once; TOTP_MAX_FAILURES wrong codes lock it."""
    cfg = current_app.config
    if not user.totp_secret:
        return TotpResult(False, "invalid")
    if totp_locked(user):
        audit.log("auth.totp_verify", user, actor=user, outcome="failure", details={"reason": "locked"})
        return TotpResult(False, "locked")
    step = _matching_step(user.totp_secret, code)
    if step is not None and (user.totp_last_step is None or step > user.totp_last_step):
        user.totp_last_step = step
        user.totp_failures = 0
        audit.log("auth.totp_verify", user, actor=user)
        return TotpResult(True)
    reason = "replay" if step is not None else "invalid"
    user.totp_failures = (user.totp_failures or 0) + 1
    audit.log("auth.totp_verify", user, actor=user, outcome="failure", details={"reason": reason})
    if user.totp_failures >= int(cfg["TOTP_MAX_FAILURES"]):
        minutes = int(cfg["TOTP_LOCKOUT_MINUTES"])
        user.totp_locked_until = utcnow() + timedelta(minutes=minutes)
        user.totp_failures = 0
        audit.log("auth.totp_lockout", user, actor=user, outcome="denied", details={"minutes": minutes})
        return TotpResult(False, "locked")
    return TotpResult(False, reason)


def enable_totp(user: User, secret: str, code: str) -> bool:
    """Confirm the set-up with a code from the app; on success the factor is on."""
    step = _matching_step(secret, code)
    if step is None:
        audit.log("auth.totp_enable", user, actor=user, outcome="failure", details={"reason": "invalid"})
        return False
    user.totp_secret = secret
    user.totp_last_step = step
    user.totp_failures = 0
    user.totp_locked_until = None
    audit.log("auth.totp_enable", user, actor=user)
    return True


def disable_totp(user: User, *, actor: User, action: str = "auth.totp_disable") -> None:
    user.totp_secret = None
    user.totp_last_step = None
    user.totp_failures = 0
    user.totp_locked_until = None
    audit.log(action, user, actor=actor)


# --- what an administrator may do to an account --------------------------------------------------------
def may_administer(actor: User, target: User) -> bool:
    """Whether `actor` may end sessions, reset the password or unlock `target`.

    This is exactly `can(actor, "manage", target)`: the person must be in the actor's scope and the
    actor must outrank them, so a branch secretary cannot take over an administrator's account.
    """
    from lms.authz import MANAGE, can

    return can(actor, MANAGE, target)


@dataclass
class AccountState:
    """What the people pages show about a person's login, and which admin actions `actor` may use."""

    may_manage: bool
    may_reset_totp: bool
    locked_until: datetime | None
    totp_enabled: bool
    totp_locked: bool
    sessions: int
    must_change_password: bool


def account_state(actor: User, person: User) -> AccountState:
    from lms.auth.sessions import list_sessions

    may = may_administer(actor, person)
    return AccountState(
        may_manage=may,
        may_reset_totp=may and actor.is_sysadmin and actor.id != person.id,
        locked_until=person.locked_until if is_locked(person) else None,
        totp_enabled=bool(person.totp_secret),
        totp_locked=totp_locked(person),
        sessions=len(list_sessions(person.id)) if may else 0,
        must_change_password=person.must_change_password,
    )


def policy_hint() -> str:
    """The active password rules in one sentence, shown under the new-password field."""
    cfg = current_app.config
    n, p = int(cfg["PASSWORD_MIN_LENGTH"]), int(cfg["PASSWORD_PASSPHRASE_LENGTH"])
    if cfg.get("PASSWORD_POLICY", "dengbao") == "asvs":
        return _("至少 %(n)d 个字符，可以是一句话；不能是常见密码或您的学号/工号、姓名。", n=n)
    return _(
        "至少 %(n)d 个字符，包含大写字母、小写字母、数字、符号中的至少 %(k)d 类；"
        "不少于 %(p)d 个字符的长口令（如一句话）不受此限。不能是常见密码或您的学号/工号、姓名。",
        n=n,
        k=int(cfg["PASSWORD_MIN_CLASSES"]),
        p=p,
    )
