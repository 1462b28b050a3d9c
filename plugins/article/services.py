"""Article logic without request objects: sanitising, reading-time estimate, PDF storage, heartbeats."""
from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

import nh3
from flask import current_app
from flask_babel import gettext as _
from markdown_it import MarkdownIt
from sqlalchemy import select

from lms import reading
from lms.courses import services as course_services
from lms.extensions import db
from lms.quarantine import services as quarantine
from lms.timeutil import utcnow
from plugins.article.models import ArticleContent, ArticleReading

log = logging.getLogger(__name__)
SCAN_KIND = "article.pdf"  # lms.quarantine's name for these uploads

FORMATS = {"markdown": "Markdown", "html": "HTML"}
# What an article may contain after cleaning: text structure, links, images, tables. Never script,
# style, forms, frames or event-handler attributes (nh3 drops them and their content).
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "div", "dl", "dt",
    "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
    "mark", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}

_md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable("table").enable(
    "strikethrough")


class ArticleError(ValueError):
    """Input the article editor cannot accept; the message is for the user."""

    verdict = None  # a PDF the malware scan did not pass (lms.quarantine.Verdict): its rows are kept


def sanitize(html: str) -> str:
    return nh3.clean(html or "", tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer", strip_comments=True)


def render_source(source_format: str, source: str) -> str:
    """The teacher's Markdown or HTML turned into safe HTML (whatever the input)."""
    if source_format not in FORMATS:
        raise ArticleError(_("未知的正文格式。"))
    raw = _md.render(source or "") if source_format == "markdown" else (source or "")
    return sanitize(raw)


def visible_length(html: str) -> int:
    text = nh3.clean(html or "", tags=set())
    text = re.sub(r"&[a-zA-Z#0-9]+;", " ", text)
    return len(re.sub(r"\s+", "", text))


def content_for(lesson) -> ArticleContent | None:
    return db.session.get(ArticleContent, lesson.id)


def ensure_content(lesson) -> ArticleContent:
    row = content_for(lesson)
    if row is None:
        row = ArticleContent(lesson_id=lesson.id, source_format="markdown", source="", html="", text_length=0)
        db.session.add(row)
        db.session.flush()
    return row


def estimated_seconds(content: ArticleContent | None) -> int:
    if content is None:
        return 0
    cfg = current_app.config
    seconds = (content.text_length or 0) * 60 / max(1, cfg["ARTICLE_CHARS_PER_MINUTE"])
    if content.pdf_path:
        seconds += (content.pdf_pages or 1) * cfg["ARTICLE_PDF_SECONDS_PER_PAGE"]
    return int(round(seconds))


def required_seconds(content: ArticleContent | None) -> int:
    """Reading time a person must really spend: set per lesson, else a share of the estimate."""
    cfg = current_app.config
    if content is not None and content.required_seconds is not None:
        return max(0, int(content.required_seconds))
    return max(int(cfg["ARTICLE_MIN_SECONDS"]), int(estimated_seconds(content) * cfg["ARTICLE_REQUIRED_SHARE"]))


def save_content(lesson, *, source_format: str, source: str, required_minutes=None, user=None) -> ArticleContent:
    row = ensure_content(lesson)
    row.source_format = source_format
    row.source = source or ""
    row.html = render_source(source_format, source)
    row.text_length = visible_length(row.html)
    row.required_seconds = None if required_minutes in (None, "") else int(round(float(required_minutes) * 60))
    row.updated_by_id = getattr(user, "id", None)
    lesson.duration_seconds = estimated_seconds(row) or None
    db.session.flush()
    return row


# --- the PDF attachment ------------------------------------------------------------------------------
def _media_root() -> Path:
    return Path(current_app.config["MEDIA_ROOT"]).resolve()


def store_pdf(row: ArticleContent, lesson, stream, filename: str, uploader=None) -> str:
    """Keep an uploaded PDF (checked by its bytes) under MEDIA_ROOT with a generated name."""
    limit = current_app.config["ARTICLE_PDF_MAX_BYTES"]
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ArticleError(_("PDF 文件不能超过 %(n)s MB。", n=limit // (1024 * 1024)))
    if not data.startswith(b"%PDF-"):
        if data[:4] in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0"):
            raise ArticleError(_("暂不支持 Word 等 Office 文档，请另存为 PDF 后再上传。"))
        raise ArticleError(_("只能上传 PDF 文件。"))
    # UP-09: scanned before it is stored where readers can open it.
    verdict = quarantine.check(SCAN_KIND, data=data, filename=_clean_name(filename) or "document.pdf",
                               uploader=uploader, ref=lesson.id)
    if not verdict.ok:
        err = ArticleError(verdict.message)
        err.verdict = verdict
        raise err
    rel = f"article/{secrets.token_hex(16)}.pdf"
    target = _media_root() / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    old = row.pdf_path
    row.pdf_path, row.pdf_size = rel, len(data)
    row.pdf_name = _clean_name(filename) or "document.pdf"
    # Page objects ("/Type /Page", not "/Pages"): a fair count for the reading estimate.
    row.pdf_pages = max(1, len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data)))
    lesson.duration_seconds = estimated_seconds(row) or None
    db.session.flush()
    if old:
        _remove_file(old)
    return verdict.scan


def remove_pdf(row: ArticleContent, lesson) -> None:
    old = row.pdf_path
    row.pdf_path = row.pdf_name = None
    row.pdf_size = row.pdf_pages = None
    lesson.duration_seconds = estimated_seconds(row) or None
    db.session.flush()
    if old:
        _remove_file(old)


def pdf_file(row: ArticleContent | None) -> Path | None:
    if row is None or not row.pdf_path:
        return None
    root = _media_root()
    path = (root / row.pdf_path).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def _remove_file(rel: str) -> None:
    root = _media_root()
    path = (root / rel).resolve()
    if root in path.parents:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _clean_name(name: str | None) -> str:
    """The uploader's file name as metadata: no path, no control characters, bounded."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>')
    return name.strip()[:200]


# --- reading -------------------------------------------------------------------------------------------
def reading_state(user, lesson) -> ArticleReading | None:
    return db.session.scalar(select(ArticleReading).where(ArticleReading.user_id == user.id,
                                                          ArticleReading.lesson_id == lesson.id))


def heartbeat(user, lesson, *, seconds: float = 0, reached_end: bool = False) -> dict:
    """Count reading time the page reports, but never more than the wall-clock time since the last report.

    The first report only starts the clock. Each later report is credited
    min(claimed, seconds since the previous report, ARTICLE_HEARTBEAT_MAX_SECONDS), so a forged request
    cannot claim ten minutes after ten seconds, and two open tabs share one clock. The lesson completes
    once the end marker was seen and the required time was spent.
    """
    now = utcnow()
    state = reading_state(user, lesson)
    if state is None:  # two tabs racing here: one insert fails, the view answers 409, the page retries
        state = ArticleReading(user_id=user.id, lesson_id=lesson.id, started_at=now)
        db.session.add(state)
    credited = reading.credit(state, claimed=seconds, reached_end=reached_end, now=now,
                              cap=current_app.config["ARTICLE_HEARTBEAT_MAX_SECONDS"])
    content = content_for(lesson)
    needed = required_seconds(content)
    progress = course_services.get_progress(user, lesson)
    so_far = (progress.effective_seconds if progress else 0) + credited
    share = min(0.99, so_far / needed) if needed else 0.99
    if state.reached_end_at is None:
        share = min(share, 0.9)
    progress = course_services.update_progress(user, lesson, add_seconds=credited, progress=share)
    if not progress.is_completed and state.reached_end_at is not None and progress.effective_seconds >= needed:
        progress = course_services.update_progress(user, lesson, complete=True)
    db.session.flush()
    return {
        "credited": credited,
        "effective_seconds": progress.effective_seconds,
        "required_seconds": needed,
        "reached_end": state.reached_end_at is not None,
        "completed": progress.is_completed,
    }
