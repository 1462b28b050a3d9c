"""Notification logic without request objects: deliver, count, list and mark read (no commits here)."""
from __future__ import annotations

import logging
import re

from flask_babel import gettext
from sqlalchemy import func, select, update

from lms.extensions import db
from lms.notifications.models import KINDS, Notification
from lms.timeutil import utcnow

log = logging.getLogger(__name__)

TITLE_MAX = 200
BODY_MAX = 2000


# --- texts in the reader's language -------------------------------------------------------------------------
# A notification is stored as text in Chinese, the product's first language: who delivers it does not know the
# language its reader will pick. Texts built with `message()` are translated when shown (`shown()`): the stored
# text is matched against the registered Chinese msgids and rebuilt from the translation with the same values.
# Each msgid must also be listed in lms/translations/runtime_msgids.py (tests/test_i18n.py checks it).
_MESSAGES: dict[str, re.Pattern] = {}
DEFAULT_TITLE = "通知"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def register(msgid: str) -> str:
    """Declare a notification text (a Chinese msgid with %(name)s values); returns it, for use as a constant."""
    if msgid not in _MESSAGES:
        parts, pos = [], 0
        for m in _PLACEHOLDER.finditer(msgid):
            parts.append(re.escape(msgid[pos:m.start()]))
            parts.append(f"(?P<{m.group(1)}>.+?)")
            pos = m.end()
        parts.append(re.escape(msgid[pos:]))
        _MESSAGES[msgid] = re.compile("".join(parts), re.S)
    return msgid


def message(msgid: str, **values) -> str:
    """The stored text of a registered message: the Chinese msgid with its values."""
    register(msgid)
    return msgid % values if values else msgid


def _literal_length(msgid: str) -> int:
    return len(_PLACEHOLDER.sub("", msgid))


def shown(text: str | None) -> str:
    """A stored notification text in the reader's language (unchanged when it is no known message)."""
    if not text:
        return text or ""
    translated = gettext(text) if "%" not in text else text
    if translated != text:
        return translated
    # The most specific message first: "学习资料：%(title)s" before "%(kind)s：%(title)s".
    for msgid, pattern in sorted(_MESSAGES.items(), key=lambda kv: -_literal_length(kv[0])):
        if "%(" not in msgid:
            continue
        m = pattern.fullmatch(text)
        if m:
            # Values that are labels themselves (a session kind, "另行通知") follow the reader's language too.
            return gettext(msgid, **{k: gettext(v) if "%" not in v else v for k, v in m.groupdict().items()})
    return text


def safe_url(url: str | None) -> str | None:
    """Keep only same-site paths: a notification never sends anyone to another site."""
    if not url:
        return None
    url = str(url).strip()
    if not url.startswith("/") or url.startswith("//") or "\\" in url or any(ord(c) < 32 for c in url):
        return None
    return url[:500]


def notify(user, *, title: str, body: str = "", url: str | None = None, kind: str = "info",
           about=None) -> Notification | None:
    """Deliver one notification to `user` inside the caller's transaction (the caller commits).

    Permission is checked now, at delivery: an inactive account gets nothing, and when `about`
    (a course, lesson, thread …) is given the person must still be allowed to view it; a person who
    lost access in the meantime is not told about it. Returns the row, or None when nothing was sent.
    """
    if user is None or not getattr(user, "is_active", False):
        return None
    if about is not None:
        from lms.authz import VIEW, can

        if not can(user, VIEW, about):
            log.info("notification to user %s dropped: no longer allowed to view %r", user.id, about)
            return None
    row = Notification(
        user_id=user.id,
        kind=kind if kind in KINDS else "info",
        title=(title or "").strip()[:TITLE_MAX] or message(DEFAULT_TITLE),
        body=(body or "").strip()[:BODY_MAX],
        url=safe_url(url),
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def unread_count(user) -> int:
    """One indexed COUNT: the number on the navigation badge."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    return db.session.scalar(
        select(func.count()).select_from(Notification).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    ) or 0


def list_query(user, *, unread_only: bool = False):
    q = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    return q.order_by(Notification.id.desc())


def get_own(user, notification_id: int) -> Notification | None:
    """The notification, only if it belongs to `user` (another person's id looks like a missing one)."""
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        return None
    return row


def mark_read(user, notification_id: int) -> Notification | None:
    row = get_own(user, notification_id)
    if row is not None and row.read_at is None:
        row.read_at = utcnow()
    return row


def mark_all_read(user) -> int:
    res = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return res.rowcount or 0
