"""The `video` lesson type: the lesson page shows the tracked player of the lesson's micro-lecture."""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from lms.courses.lesson_types import LessonType


class VideoLessonType(LessonType):
    key = "video"
    label = _l("视频微课")
    icon = "▶"
    plugin = "microlecture"
    editor_endpoint = "microlecture.edit"

    def render(self, lesson, user, progress) -> Markup:
        from plugins.microlecture import services

        video = services.video_for(lesson, create=False)
        # render_template output is autoescaped HTML already.
        return Markup(render_template("microlecture/_lesson_body.html", video=video, lesson=lesson,  # noqa: S704
                                      **services_context(video, user)))

    def on_create(self, lesson) -> None:
        from plugins.microlecture import services

        services.video_for(lesson)

    def summary(self, lesson) -> str:
        secs = lesson.duration_seconds
        if not secs:
            return str(_l("视频"))
        minutes = max(1, round(secs / 60))
        return str(_l("%(n)s 分钟视频", n=minutes))


def services_context(video, user) -> dict:
    """What the player partial needs: which rendition, the rules, where to resume."""
    from lms.authz import VIEW, can
    from plugins.microlecture import services
    from plugins.microlecture.permissions import PREVIEW

    if video is None:
        return {"playable": False, "can_preview": False}
    key = services.playable_key(video, user) if can(user, VIEW, video) else None
    rules = services.rules_for(video.lesson.course)
    watch = services.watch_state(user, video.lesson) if user.is_authenticated else None
    duration = services._duration(video, user)
    return {
        "playable": bool(key),
        "is_preview": bool(key) and key != video.published_hls_key,
        "can_preview": can(user, PREVIEW, video),
        "rendition_key": key,
        "rules": rules,
        "state": services.player_state(watch, duration, rules),
        "speeds": [s for s in services.SPEEDS if s <= rules.max_speed],
    }
