"""Course and lesson discussions with moderation: sensitive-word review, reports, a moderators' queue."""
from __future__ import annotations

from lms.plugins import Plugin, hookimpl
from plugins.discussion import models  # noqa: F401  (registers the discussion_ tables)


class DiscussionPlugin(Plugin):
    name = "discussion"
    title = "课程讨论"
    version = "0.1.0"
    description = "Threads per course and lesson, Markdown with images, mentions, likes, moderation."
    default_config = {
        # (posts, seconds): at most 5 posts a minute and 30 an hour per person, across all processes.
        "DISCUSSION_RATE_LIMITS": [(5, 60), (30, 3600)],
        "DISCUSSION_BODY_MAX": 10000,
        "DISCUSSION_MAX_MENTIONS": 10,
        "DISCUSSION_POSTS_PER_PAGE": 20,
        "DISCUSSION_THREADS_PER_PAGE": 20,
        "DISCUSSION_IMAGE_MAX_BYTES": 5 * 1024 * 1024,
        "DISCUSSION_IMAGE_MAX_PIXELS": 40_000_000,
        "DISCUSSION_IMAGE_MAX_SIDE": 2000,
        "DISCUSSION_IMAGE_RATE": (30, 3600),
    }

    def init_app(self, app) -> None:
        from flask_babel import lazy_gettext as _l

        from lms.quarantine.services import register_kind

        register_kind(app, "discussion.image", _l("讨论区图片"))

    @hookimpl
    def lms_gather_personal_data(self, user):
        from plugins.discussion.personal_data import gather

        return gather(user)

    @hookimpl
    def lms_event_person_erase(self, user, erasure):
        from plugins.discussion.personal_data import erase

        erase(user, erasure)

    @hookimpl
    def lms_load_blueprints(self, app):
        from plugins.discussion.views import bp

        return bp

    @hookimpl
    def lms_load_demo_data(self, demo):
        from plugins.discussion.demo import load

        load(demo)

    @hookimpl
    def lms_gather_admin_items(self, user):
        from plugins.discussion import hooks

        return hooks.admin_items(user)

    @hookimpl
    def lms_tpl_lesson_after(self, lesson, user):
        from plugins.discussion import hooks

        return hooks.lesson_after(lesson, user)

    @hookimpl
    def lms_tpl_course_sidebar(self, course, user):
        from plugins.discussion import hooks

        return hooks.course_sidebar(course, user)
