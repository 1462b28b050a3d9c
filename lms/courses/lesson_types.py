"""Lesson types: plugins contribute them through `lms_gather_lesson_types`; the core only calls this API.

A plugin subclasses `LessonType`, keeps its content in its own tables keyed by `lesson.id`, and
renders the body of the lesson page itself. The core owns title, chapter, order, the required flag,
progress and completion (`lms.courses.services.update_progress`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod

from flask import current_app, url_for
from markupsafe import Markup


class LessonType(ABC):
    key: str = ""  # stored in Lesson.type, e.g. "article", "video", "quiz"
    label: str = ""  # shown to people, e.g. "图文"
    icon: str = ""  # a short glyph or emoji for lists
    plugin: str = ""  # name of the providing plugin
    # The plugin endpoint that edits a lesson's content; it receives `lesson_id`.
    editor_endpoint: str | None = None

    @abstractmethod
    def render(self, lesson, user, progress) -> Markup:
        """The body of the lesson page for `user` (`progress` is their LessonProgress or None)."""

    def editor_url(self, lesson) -> str | None:
        return url_for(self.editor_endpoint, lesson_id=lesson.id) if self.editor_endpoint else None

    def on_create(self, lesson) -> None:  # noqa: B027 (optional: most types need no rows)
        """A lesson of this type was created (inside the transaction): create the plugin's rows."""

    def on_delete(self, lesson) -> None:  # noqa: B027 (optional: most types keep no files)
        """The lesson is about to be deleted (inside the transaction): remove files the type stored.
        Rows keyed by `lesson.id` go with the lesson through their foreign key (ON DELETE CASCADE)."""

    def summary(self, lesson) -> str:
        """A short line for lesson lists (e.g. "12 分钟视频")."""
        return ""


def registry() -> dict[str, LessonType]:
    """Lesson types of the enabled plugins, by key (cached per app)."""
    cache = current_app.extensions.get("lms_lesson_types")
    if cache is None:
        from lms.plugins import gather

        cache = {}
        for item in gather("lms_gather_lesson_types"):
            inst = item() if isinstance(item, type) else item
            cache[inst.key] = inst
        current_app.extensions["lms_lesson_types"] = cache
    return cache


def get(key: str) -> LessonType | None:
    return registry().get(key)
