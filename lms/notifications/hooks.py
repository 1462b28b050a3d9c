"""The notifications entry in the top navigation, with the unread count as its badge."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.notifications.services import unread_count
from lms.plugins import hookimpl
from lms.ui import NavItem


@hookimpl
def lms_gather_nav_items(user):
    if not user.is_authenticated:
        return []
    return [NavItem(label=str(_l("通知")), endpoint="notifications.index", order=95,
                    badge=unread_count(user) or None)]
