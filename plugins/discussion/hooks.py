"""What the discussion plugin adds to core pages: the lesson's discussion, a course sidebar card,
and the moderation / word-list entries of the administration menu."""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select

from lms.authz import MANAGE, VIEW, can
from lms.extensions import db
from lms.ui import NavItem
from plugins.discussion import services
from plugins.discussion.forms import ThreadForm
from plugins.discussion.models import DiscussionThread
from plugins.discussion.permissions import can_moderate


def admin_items(user):
    items = []
    if can(user, VIEW, "teach"):
        items.append(NavItem(label=str(_l("讨论审核")), endpoint="discussion.moderation", order=40))
    if can(user, MANAGE, "admin:system"):
        items.append(NavItem(label=str(_l("敏感词管理")), endpoint="discussion.words", order=85))
    return items


def lesson_after(lesson, user):
    if not can(user, VIEW, lesson):
        return Markup("")
    course = lesson.course
    stmt = services.thread_list_query(user, course, lesson=lesson)
    threads = db.session.scalars(stmt.limit(5)).all()
    total = db.session.scalar(select(db.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    # render_template output is autoescaped Jinja: marking it safe does not bypass escaping.
    html = render_template("discussion/_lesson_slot.html", lesson=lesson, course=course, threads=threads,
                           total=total, form=ThreadForm(formdata=None),
                           unread=services.unread_own_thread_ids(user, threads))
    return Markup(html)  # noqa: S704


def course_sidebar(course, user):
    if not can(user, VIEW, course):
        return Markup("")
    counts = services.moderation_counts(user, course.id) if can_moderate(user, course) else None
    own = db.session.scalars(select(DiscussionThread).where(
        DiscussionThread.course_id == course.id, DiscussionThread.author_id == user.id,
        DiscussionThread.deleted_at.is_(None), DiscussionThread.last_post_id.isnot(None))).all()
    html = render_template("discussion/_course_sidebar.html", course=course,
                           total=services.thread_counts(course, user), counts=counts,
                           unread=len(services.unread_own_thread_ids(user, own)))
    return Markup(html)  # noqa: S704  (autoescaped template output)
