"""Credit hours react to completions and transfers; they add a nav item, an admin item and a widget."""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from lms.credits import (
    services,
    tasks,  # noqa: F401  (registers the recompute task with the queue)
)
from lms.plugins import hookimpl
from lms.ui import NavItem, Widget


@hookimpl
def lms_gather_sealed_tables():
    """PI-04: the ledger's hours, person, source and evidence are sealed (rule/unit/course ids are not: their
    rows may be deleted, which sets them to NULL in the database)."""
    from lms.integrity import SealedTable

    return [SealedTable("credit_entry", ("user_id", "year", "source_type", "source_id", "hours", "hours_fixed",
                                         "rule_version", "rule_kind", "evidence", "earned_at"),
                        key=("user_id", "source_type", "source_id"), label="学时记录")]


@hookimpl
def lms_event_lesson_completed(progress):
    """Per-lesson rules (tiers, effective time) price each completed lesson, once."""
    year = services.local_year(progress.completed_at)
    rule = services.rule_for(progress.user.org_unit_id, year, "online")
    if rule.kind != "course_fixed":
        services.award_lesson(progress)


@hookimpl
def lms_event_course_completed(enrollment):
    """The fixed-per-course rule credits the course's 学时 when the course is completed, once."""
    year = services.local_year(enrollment.completed_at)
    rule = services.rule_for(enrollment.user.org_unit_id, year, "online")
    if rule.kind == "course_fixed":
        services.award_course(enrollment)


@hookimpl
def lms_event_person_transferred(user, old_unit, new_unit):
    services.transfer(user, old_unit, new_unit)


@hookimpl
def lms_gather_nav_items(user):
    if not user.is_authenticated:
        return []
    return [NavItem(label=str(_l("我的学时")), endpoint="credits.my", order=30)]


@hookimpl
def lms_gather_admin_items(user):
    from lms.credits.views import admin_units

    items = []
    if admin_units(user) or user.is_sysadmin:
        items.append(NavItem(label=str(_l("学时管理")), endpoint="credits.admin_index", order=30))
    for unit_id in user.role_units("secretary")[:3]:
        items.append(NavItem(label=str(_l("支部学时")), endpoint="credits.unit_people", order=31,
                             values=(("unit_id", unit_id),)))
    return items


@hookimpl
def lms_gather_dashboard_widgets(user):
    if not user.is_authenticated:
        return []
    s = services.summary(user, services.local_year())
    html = Markup(render_template(  # noqa: S704 (autoescaped template output)
        "credits/_widget.html", s=s))
    return [Widget(title=str(_l("我的学时")), html=html, order=20)]
