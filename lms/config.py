"""Configuration: built-in defaults < instance config file < LMS_* environment variables."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

ENV_PREFIX = "LMS_"


class DefaultConfig:
    """Defaults for the embedded mode: SQLite in the instance folder, local media, Huey on SQLite."""

    ENV = "development"  # LMS_ENV: development | production | testing
    SECRET_KEY: str | None = None
    # Field encryption (lms.accounts.crypto): LMS_DATA_KEY, 32 random bytes base64url/hex. None: generated
    # into instance/data_key (embedded default only; production refuses to start without one).
    DATA_KEY: str | None = None
    DATA_KEYS_OLD: list[str] = []  # earlier keys, to read values until `flask lms data-key-rotate`
    SQLALCHEMY_DATABASE_URI: str | None = None  # LMS_DATABASE_URL; None means instance/lms.sqlite3
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    MEDIA_ROOT: str | None = None  # LMS_MEDIA_ROOT; None means instance/media
    QUEUE_URL: str | None = None  # LMS_QUEUE_URL; None means a SQLite Huey in the instance folder
    PLUGINS: list[str] | None = None  # LMS_PLUGINS: comma-separated; None means every installed plugin
    BASE_URL = "http://127.0.0.1:5000"  # used as the xAPI account homePage
    SITE_NAME = "党员教育学习平台"

    # i18n
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ["zh", "en"]

    # Forms / CSRF
    WTF_CSRF_TIME_LIMIT = None  # token lives as long as the (server-side) session
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024  # per request; chunked video upload sends smaller parts

    # Sessions (server-side rows; the cookie only carries a random id)
    SESSION_COOKIE_NAME = "lms_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    SESSION_IDLE_MINUTES = 30
    SESSION_ABSOLUTE_HOURS = 12

    # Password policy: "dengbao" (等保2.0: >=8 chars, 3 of 4 classes) or "asvs" (length only)
    PASSWORD_POLICY = "dengbao"  # noqa: S105  (the name of a policy, not a password)
    PASSWORD_MIN_LENGTH = 8
    PASSWORD_MIN_CLASSES = 3
    PASSWORD_PASSPHRASE_LENGTH = 20  # passphrases this long pass without the class rule
    PASSWORD_MAX_AGE_DAYS = 90  # 0 disables the change prompt
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCKOUT_MINUTES = 15
    LOGIN_IP_LIMIT = 100  # attempts per IP per window
    LOGIN_IP_WINDOW_MINUTES = 5
    LOGIN_ACCOUNT_LIMIT = 30  # attempts per login id per window (from any IP)
    LOGIN_ACCOUNT_WINDOW_MINUTES = 5
    TOTP_REQUIRED_ROLES = ["org_admin", "sysadmin", "auditor"]
    TOTP_ISSUER = "党员教育学习平台"
    TOTP_MAX_FAILURES = 5
    TOTP_LOCKOUT_MINUTES = 15
    PROXY_COUNT = 0  # reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted
    FORCE_HTTPS = False  # redirect plain-HTTP requests (production: True)

    # Audit
    AUDIT_RETENTION_DAYS = 180
    AUDIT_PURGE_IN_WORKER = True  # False when only a separate database role may purge (flask lms audit-grants)

    # Backups (REL-06, lms.backup): `flask lms backup`, `backup-check`, `restore`, and a daily run in the worker
    BACKUP_DIR: str | None = None  # LMS_BACKUP_DIR; None means instance/backups
    BACKUP_SCHEDULE = "auto"  # auto: daily (02:23 China time) on SQLite, off on PostgreSQL; on; off
    BACKUP_KEEP = 7  # the daily run keeps this many newest backups in BACKUP_DIR
    BACKUP_PG_BINDIR = ""  # folder of pg_dump/pg_restore when they are not on PATH

    # Personal information (PI-02): the privacy notice every person agrees to once per version
    PRIVACY_NOTICE_REQUIRED = True  # every page leads to the notice until it is agreed to
    PRIVACY_NOTICE_VERSION = "2026-11-29"  # change it when the notice changes: everyone agrees again
    PRIVACY_DEFAULT_BASIS = "hr_management"  # recorded for people the organization enters (lms.accounts.models)
    PRIVACY_CONTACT = ""  # who answers questions and requests; empty: the person's branch secretary

    # Exports of personal data (PI-05, lms.exports): people list, ledgers, quiz results
    EXPORTS_PER_HOUR = 5  # per person, rolling hour, all kinds together (requests held for approval count too)
    EXPORT_APPROVAL_ROWS = 1000  # an export of more rows is held until a second person approves it
    EXPORT_DOWNLOAD_HOURS = 24  # an approved export can be downloaded once within this many hours
    EXPORT_REQUEST_DAYS = 7  # a request nobody decided on expires after this many days

    # Malware scanning of uploads (UP-09: lms.scanning, lms.quarantine)
    UPLOAD_SCANNER = "none"  # none | clamd | command | a scanner a plugin gathers (lms_gather_scanners)
    CLAMD_ADDRESS = "unix:/run/clamav/clamd.ctl"  # or tcp://127.0.0.1:3310
    UPLOAD_SCAN_COMMAND: list[str] = []  # e.g. ["clamdscan", "--no-summary", "--fdpass", "{path}"]
    UPLOAD_SCAN_TIMEOUT = 120  # seconds per file
    UPLOAD_SCAN_FAIL = "hold"  # scanner error: hold (videos wait for an administrator) | reject
    UPLOAD_QUARANTINE_ROOT: str | None = None  # None means instance/quarantine (never under MEDIA_ROOT)

    # Security headers
    SECURITY_HEADERS = True
    HSTS_SECONDS = 0

    # Credit hours
    DEFAULT_YEARLY_REQUIREMENT = 32
    SECRETARY_YEARLY_REQUIREMENT = 56

    PAGE_SIZE = 20


class ProductionConfig:
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-lms_session"
    HSTS_SECONDS = 31536000
    PREFERRED_URL_SCHEME = "https"
    FORCE_HTTPS = True


def _coerce(value: str, current):
    """Interpret an environment string with the type of the default it overrides."""
    if isinstance(current, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, list) or current is None and value.startswith("["):
        if value.startswith("["):
            return json.loads(value)
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(current, dict):
        return json.loads(value)
    return value


# Environment names that do not map one-to-one onto a Flask key.
_ENV_ALIASES = {
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
}


def load_config(app, test_config: dict | None = None) -> None:
    """Fill app.config in three layers, then derive the paths that depend on the instance folder."""
    app.config.from_object(DefaultConfig)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)

    env_name = os.environ.get("LMS_ENV", "development")
    if test_config and "ENV" in test_config:
        env_name = test_config["ENV"]
    if env_name == "production":
        app.config.from_object(ProductionConfig)

    cfg_file = os.environ.get("LMS_CONFIG", str(instance / "config.py"))
    if Path(cfg_file).is_file():
        app.config.from_pyfile(cfg_file)

    for key, raw in os.environ.items():
        if not key.startswith(ENV_PREFIX) or key == "LMS_CONFIG":
            continue
        name = key[len(ENV_PREFIX):]
        name = _ENV_ALIASES.get(name, name)
        current = app.config.get(name)
        if name == "PLUGINS":
            current = []
        app.config[name] = _coerce(raw, current)
    app.config["ENV"] = env_name

    if test_config:
        app.config.update(test_config)

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance)
    _data_key(app, instance, env_name)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'lms.sqlite3'}"
    if not app.config.get("MEDIA_ROOT"):
        app.config["MEDIA_ROOT"] = str(instance / "media")
    if app.config["AUDIT_RETENTION_DAYS"] < 180:
        raise RuntimeError("AUDIT_RETENTION_DAYS must be at least 180 (网络安全法 第二十一条)")


def _data_key(app, instance: Path, env_name: str) -> None:
    """The field-encryption key: configured, or (not in production) generated into the instance folder."""
    from lms.accounts.crypto import instance_key, parse_key

    if not app.config.get("DATA_KEY"):
        if env_name == "production":
            raise RuntimeError(
                "LMS_DATA_KEY is not set: production needs the field-encryption key from the environment or "
                "the config file, kept apart from the database and its backups (python -c \"import secrets; "
                "print(secrets.token_urlsafe(32))\"). If this instance ran before with the generated key, "
                f"use the one in {instance / 'data_key'} and move that file out of the instance folder.")
        app.config["DATA_KEY"] = instance_key(instance)
    for raw in [app.config["DATA_KEY"], *(app.config.get("DATA_KEYS_OLD") or [])]:
        parse_key(raw)  # a malformed key stops the start with its reason, not the first request


def _instance_secret(instance: Path) -> str:
    """Read the instance secret key, creating it (mode 0600) on first start."""
    path = instance / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
