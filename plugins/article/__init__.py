"""Article and document lessons (文章/文档): the first lesson type, proving the plugin contract."""
from __future__ import annotations

from lms.plugins import Plugin


class ArticlePlugin(Plugin):
    name = "article"
    title = "图文与文档课时"
    version = "0.1.0"
    description = "Article (rich text) and document lessons with reading-time tracking."
