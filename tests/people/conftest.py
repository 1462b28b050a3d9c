"""The people tests share the authentication tests' helpers (the real login form, TOTP codes)."""
from auth.conftest import audit_rows, post_login, totp_code  # noqa: F401
