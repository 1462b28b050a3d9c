"""Notice, consent and lawful basis for membership data (PI-02; PIPL art. 13, 14, 17, 28–30).

Party membership is sensitive personal information (特定身份). Two records cover each person:

- the organization department's lawful basis, recorded when it enters the person (import, the people
  form, `flask lms create-admin`; people entered before this existed: migration core_0004);
- the person's own consent to the privacy notice, given once per notice version at their first
  login after it changed (`PRIVACY_NOTICE_VERSION`); until then every page leads to the notice.

Rows are only added (`privacy_record`); each consent, decline and withdrawal is also audited. The caller commits.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, has_request_context, request
from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from lms import audit
from lms.accounts.models import (
    PRIVACY_BASES,
    PRIVACY_BASIS,
    PRIVACY_CONSENT,
    PRIVACY_DECLINE,
    PRIVACY_WITHDRAW,
    PrivacyRecord,
    User,
)
from lms.extensions import db
from lms.notifications.services import register

N_WITHDRAWN = register("%(name)s 撤回了对隐私声明的同意")


def notice_version() -> str:
    return str(current_app.config["PRIVACY_NOTICE_VERSION"])


def notice_required() -> bool:
    return bool(current_app.config.get("PRIVACY_NOTICE_REQUIRED", True))


def has_consented(user: User, version: str | None = None) -> bool:
    """Whether `user` agreed to the notice of `version` (default: the current one); cached per request."""
    version = version or notice_version()
    cache = g.setdefault("lms_privacy_consent", {}) if has_request_context() else {}
    key = (user.id, version)
    if key not in cache:
        # the latest decision on this version counts: a consent withdrawn later is no consent
        latest = db.session.scalar(
            select(PrivacyRecord.kind).where(
                PrivacyRecord.user_id == user.id, PrivacyRecord.kind.in_((PRIVACY_CONSENT, PRIVACY_WITHDRAW)),
                PrivacyRecord.notice_version == version)
            .order_by(PrivacyRecord.id.desc()).limit(1))
        cache[key] = latest == PRIVACY_CONSENT
    return cache[key]


def _ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def record_consent(user: User) -> PrivacyRecord:
    row = PrivacyRecord(user_id=user.id, kind=PRIVACY_CONSENT, notice_version=notice_version(), source="login",
                        by_id=user.id, ip=_ip())
    db.session.add(row)
    audit.log("privacy.consent", user, actor=user, details={"notice_version": row.notice_version})
    if has_request_context():
        g.pop("lms_privacy_consent", None)
    return row


def record_decline(user: User) -> PrivacyRecord:
    row = PrivacyRecord(user_id=user.id, kind=PRIVACY_DECLINE, notice_version=notice_version(), source="login",
                        by_id=user.id, ip=_ip())
    db.session.add(row)
    audit.log("privacy.decline", user, actor=user, outcome="failure",
              details={"notice_version": row.notice_version})
    return row


def record_withdrawal(user: User) -> PrivacyRecord:
    """The person withdraws their consent to the notice (PIPL art. 15): recorded, audited, the people who manage
    them are told; every page leads to the notice again, where they may agree anew or decline (logged out).
    What the organization holds on its own lawful basis (art. 13) is not deleted by this (see docs/pia.md)."""
    from lms.accounts.dsar import managers_of
    from lms.notifications.services import message, notify

    row = PrivacyRecord(user_id=user.id, kind=PRIVACY_WITHDRAW, notice_version=notice_version(), source="account",
                        by_id=user.id, ip=_ip())
    db.session.add(row)
    sent = sum(1 for manager in managers_of(user)
               if notify(manager, title=message(N_WITHDRAWN, name=user.name), url=f"/people/{user.id}",
                         kind="system"))
    audit.log("privacy.withdraw", user, actor=user, details={"notice_version": row.notice_version, "notified": sent})
    if has_request_context():
        g.pop("lms_privacy_consent", None)
    return row


def record_basis(person: User, *, actor=None, source: str, basis: str | None = None) -> PrivacyRecord:
    """The organization's lawful basis for holding `person`'s data (default PRIVACY_DEFAULT_BASIS)."""
    basis = basis or current_app.config["PRIVACY_DEFAULT_BASIS"]
    if basis not in PRIVACY_BASES:
        raise ValueError(f"unknown lawful basis {basis!r}; known: {', '.join(PRIVACY_BASES)}")
    row = PrivacyRecord(user_id=person.id, kind=PRIVACY_BASIS, basis=basis, source=source,
                        by_id=getattr(actor, "id", None), ip=_ip())
    db.session.add(row)
    return row


@dataclass
class Coverage:
    people: int
    with_consent: int  # agreed to some notice version
    with_basis: int
    missing: list[int]  # user ids with neither

    @property
    def complete(self) -> bool:
        return not self.missing


def coverage() -> Coverage:
    """Every person whose membership data the system holds needs a consent or a recorded basis."""
    has_kind = lambda kind: exists().where(PrivacyRecord.user_id == User.id, PrivacyRecord.kind == kind)  # noqa: E731
    later = aliased(PrivacyRecord)
    standing_consent = exists().where(
        PrivacyRecord.user_id == User.id, PrivacyRecord.kind == PRIVACY_CONSENT,
        ~exists().where(later.user_id == User.id, later.kind == PRIVACY_WITHDRAW, later.id > PrivacyRecord.id))
    rows = db.session.execute(select(User.id, standing_consent, has_kind(PRIVACY_BASIS))).all()
    return Coverage(
        people=len(rows),
        with_consent=sum(1 for _id, c, _b in rows if c),
        with_basis=sum(1 for _id, _c, b in rows if b),
        missing=sorted(uid for uid, c, b in rows if not c and not b),
    )
