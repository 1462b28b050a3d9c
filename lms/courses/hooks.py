"""The courses area's navigation items and its dashboard widget, through the same hooks plugins use."""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from lms.authz import VIEW, can
from lms.plugins import hookimpl
from lms.ui import NavItem, Widget


@hookimpl
def lms_gather_nav_items(user):
    if not user.is_authenticated:
        return []
    items = [
        NavItem(label=str(_l("课程")), endpoint="courses.catalog", order=10),
        NavItem(label=str(_l("我的学习")), endpoint="courses.my", order=20),
    ]
    if can(user, VIEW, "teach"):
        items.append(NavItem(label=str(_l("教学")), endpoint="courses.manage", order=60))
    return items


@hookimpl
def lms_gather_dashboard_widgets(user):
    if not user.is_authenticated:
        return []
    from lms.courses import services

    current = [e for e in services.my_enrollments(user) if e.completed_at is None][:5]
    html = Markup(render_template(  # noqa: S704 (autoescaped template output)
        "courses/_widget.html", enrollments=current))
    return [Widget(title=str(_l("学习中的课程")), html=html, order=10)]
