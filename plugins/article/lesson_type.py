"""The `article` lesson type: a sanitised article and/or a PDF read in the browser."""
from __future__ import annotations

from flask import current_app, render_template
from flask_babel import gettext as _
from markupsafe import Markup

from lms.courses.lesson_types import LessonType
from plugins.article import services


def duration_label(seconds: int) -> str:
    """"45 秒" under a minute, else whole minutes rounded up: "3 分钟"."""
    if seconds < 60:
        return _("%(s)s 秒", s=max(0, int(seconds)))
    return _("%(m)s 分钟", m=-(-int(seconds) // 60))


class ArticleLessonType(LessonType):
    key = "article"
    label = "图文/文档"  # a msgid: shown through gettext by the pages that list lesson types
    icon = "📄"
    plugin = "article"
    editor_endpoint = "article.edit"

    def render(self, lesson, user, progress) -> Markup:
        content = services.content_for(lesson)
        state = services.reading_state(user, lesson)
        return Markup(render_template(  # noqa: S704 (autoescaped template output)
            "article/body.html", lesson=lesson, content=content, progress=progress, state=state,
            estimated=services.estimated_seconds(content), required=services.required_seconds(content),
            required_label=duration_label(services.required_seconds(content)),
            has_pdf=services.pdf_file(content) is not None,
            beat_seconds=current_app.config["ARTICLE_HEARTBEAT_SECONDS"],
        ))

    def on_create(self, lesson) -> None:
        services.ensure_content(lesson)

    def on_delete(self, lesson) -> None:
        content = services.content_for(lesson)
        if content is not None and content.pdf_path:
            services.remove_pdf(content, lesson)

    def summary(self, lesson) -> str:
        minutes = max(1, round((lesson.duration_seconds or 0) / 60)) if lesson.duration_seconds else None
        return _("约 %(m)s 分钟阅读", m=minutes) if minutes else ""
