"""Article and document lessons (文章/文档): the first lesson type, proving the plugin contract."""
from __future__ import annotations

from lms.plugins import Plugin, hookimpl
from plugins.article import models  # noqa: F401  (registers the article_ tables)


class ArticlePlugin(Plugin):
    name = "article"
    title = "图文与文档课时"
    version = "0.1.0"
    description = "Article (rich text) and document lessons with reading-time tracking."
    default_config = {
        "ARTICLE_PDF_MAX_BYTES": 20 * 1024 * 1024,
        "ARTICLE_CHARS_PER_MINUTE": 400,  # reading speed for the estimate (Chinese characters)
        "ARTICLE_REQUIRED_SHARE": 0.5,  # share of the estimated reading time a reader must really spend
        "ARTICLE_MIN_SECONDS": 20,
        "ARTICLE_PDF_SECONDS_PER_PAGE": 60,
        "ARTICLE_HEARTBEAT_SECONDS": 15,  # how often the page reports while visible
        "ARTICLE_HEARTBEAT_MAX_SECONDS": 60,  # one report never counts for more than this
    }

    def init_app(self, app) -> None:
        from flask_babel import lazy_gettext as _l

        from lms.quarantine.services import register_kind

        register_kind(app, "article.pdf", _l("图文课时 PDF"))

    @hookimpl
    def lms_gather_personal_data(self, user):
        from plugins.article.personal_data import gather

        return gather(user)

    @hookimpl
    def lms_event_person_erase(self, user, erasure):
        from plugins.article.personal_data import erase

        erase(user, erasure)

    @hookimpl
    def lms_load_blueprints(self, app):
        from plugins.article.views import bp

        return bp

    @hookimpl
    def lms_gather_lesson_types(self):
        from plugins.article.lesson_type import ArticleLessonType

        return [ArticleLessonType]

    @hookimpl
    def lms_load_demo_data(self, demo):
        from plugins.article.demo import load

        load(demo)
