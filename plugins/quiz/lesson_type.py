"""The `quiz` lesson type: the lesson page shows the paper's rules, the person's attempts and a start button."""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from lms.courses.lesson_types import LessonType


class QuizLessonType(LessonType):
    key = "quiz"
    label = _l("测验")
    icon = "✎"
    plugin = "quiz"
    editor_endpoint = "quiz.paper_edit"

    def render(self, lesson, user, progress) -> Markup:
        from plugins.quiz import services

        paper = services.paper_for(lesson)
        attempts = services.attempts_of(paper, user) if user.is_authenticated else []
        html = render_template("quiz/_lesson_box.html", lesson=lesson, paper=paper, attempts=attempts,
                               progress=progress,
                               problem=services.start_problem(paper, user) if user.is_authenticated else None,
                               open_attempt=next((a for a in attempts if a.status == "open"), None))
        return Markup(html)  # noqa: S704 (a rendered, autoescaped template)

    def on_create(self, lesson) -> None:
        from plugins.quiz import services

        services.paper_for(lesson)

    def summary(self, lesson) -> str:
        from plugins.quiz import services

        paper = services.paper_for(lesson)
        n = services.paper_question_count(paper)
        if paper.mode == "exam" and paper.time_limit_minutes:
            return str(_l("%(n)s 题 · 限时 %(m)s 分钟", n=n, m=paper.time_limit_minutes))
        return str(_l("%(n)s 题", n=n))
