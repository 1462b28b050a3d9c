"""The admin area's entry in the administration menu (the plugins entry comes from lms.main.hooks)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.authz import VIEW, can
from lms.plugins import hookimpl
from lms.ui import NavItem


@hookimpl
def lms_gather_admin_items(user):
    if can(user, VIEW, "admin:system"):
        return [NavItem(label=str(_l("系统信息")), endpoint="admin.system", order=95)]
    return []
