"""The article plugin's answer to the data-subject hooks (PI-06): reading records, content edits."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.accounts.dsar import Section, clear_reference, delete_rows, model_rows
from plugins.article.models import ArticleContent, ArticleReading


def gather(user) -> list[Section]:
    return [
        Section("article_reading", _l("文章阅读记录"), model_rows(ArticleReading, ArticleReading.user_id == user.id),
                ("lesson_id", "started_at", "reached_end_at")),
        Section("article_content", _l("您编辑的文章课时"),
                model_rows(ArticleContent, ArticleContent.updated_by_id == user.id, only=("lesson_id", "updated_at")),
                ("lesson_id", "updated_at")),
    ]


def erase(user, erasure) -> None:
    delete_rows(erasure, ArticleReading, ArticleReading.user_id == user.id)
    clear_reference(erasure, ArticleContent.updated_by_id)
