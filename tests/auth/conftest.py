"""Helpers for the authentication tests: posting the real login form from a chosen IP."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from lms.testing import TEST_PASSWORD


@pytest.fixture
def post_login():
    def do(client, login_id, password=TEST_PASSWORD, ip="10.0.0.1", next_url=None, **kw):
        url = "/login" + (f"?next={next_url}" if next_url else "")
        return client.post(
            url,
            data={"login_id": login_id, "password": password},
            environ_base={"REMOTE_ADDR": ip},
            **kw,
        )

    return do


@pytest.fixture
def audit_rows(app):
    """audit_rows("auth.login", outcome="failure") -> matching AuditLog rows in id order."""
    from lms.audit.models import AuditLog
    from lms.extensions import db

    def rows(action=None, **where):
        q = select(AuditLog).order_by(AuditLog.id)
        if action:
            q = q.where(AuditLog.action == action)
        for k, v in where.items():
            q = q.where(getattr(AuditLog, k) == v)
        return list(db.session.scalars(q))

    return rows


def _totp_code(secret: str, offset: int = 0) -> str:
    import time

    import pyotp

    totp = pyotp.TOTP(secret)
    return totp.generate_otp(int(time.time()) // totp.interval + offset)


@pytest.fixture
def totp_code():
    """totp_code(secret) -> what an authenticator app shows now (+offset 30-second steps)."""
    return _totp_code


@pytest.fixture
def session_count(app):
    from lms.auth.models import UserSession
    from lms.extensions import db

    def count(user) -> int:
        from sqlalchemy import func

        return db.session.scalar(select(func.count(UserSession.id)).where(UserSession.user_id == user.id))

    return count
