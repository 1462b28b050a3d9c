"""Core navigation contributed through the same hooks plugins use."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.authz import VIEW, can
from lms.plugins import hookimpl
from lms.ui import NavItem


@hookimpl
def lms_gather_nav_items(user):
    if not user.is_authenticated:
        return []
    return [NavItem(label=str(_l("首页")), endpoint="main.index", order=0)]


@hookimpl
def lms_gather_admin_items(user):
    items = []
    if can(user, VIEW, "people"):
        items.append(NavItem(label=str(_l("组织机构")), endpoint="org.tree", order=10))
        items.append(NavItem(label=str(_l("人员管理")), endpoint="people.index", order=11))
    if can(user, VIEW, "audit"):
        items.append(NavItem(label=str(_l("审计日志")), endpoint="audit.index", order=80))
    if can(user, VIEW, "admin:plugins"):
        items.append(NavItem(label=str(_l("插件")), endpoint="admin.plugins", order=90))
    return items
