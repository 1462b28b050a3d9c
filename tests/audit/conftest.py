"""The audit tests share the authentication tests' helpers (the real login form, audit rows)."""
from auth.conftest import audit_rows, post_login  # noqa: F401
