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


@hookimpl
def lms_gather_sealed_tables():
    """PI-04: course and lesson completions (and the scores and time a lesson's credit depends on) are sealed."""
    from lms.integrity import SealedTable

    return [
        SealedTable("enrollment", ("user_id", "course_id", "progress", "completed_at"),
                    key=("user_id", "course_id"), label="课程完成"),
        SealedTable("lesson_progress", ("user_id", "lesson_id", "status", "effective_seconds", "score", "success",
                                        "completed_at"),
                    key=("user_id", "lesson_id"), label="课时进度"),
    ]
