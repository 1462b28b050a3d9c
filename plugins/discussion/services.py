"""Discussion logic without request objects: posting, editing, likes, reports, moderation,
mentions, images, the sensitive-word list and the queries the pages use (no commits here)."""
from __future__ import annotations

import logging
import secrets
import warnings
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, update

from lms import audit, events
from lms.accounts.models import User
from lms.authz import VIEW, can
from lms.courses.models import Course, Enrollment, Lesson, course_teacher
from lms.extensions import db
from lms.notifications.services import message, notify, register
from lms.org.models import OrgUnitClosure
from lms.quarantine import services as quarantine
from lms.timeutil import utcnow
from plugins.discussion import render
from plugins.discussion.matcher import Matcher, normalise_word
from plugins.discussion.models import (
    HIDDEN,
    PENDING,
    PUBLISHED,
    REJECTED,
    DiscussionImage,
    DiscussionLike,
    DiscussionPost,
    DiscussionReadMarker,
    DiscussionReport,
    DiscussionRevision,
    DiscussionThread,
    DiscussionWord,
)
from plugins.discussion.permissions import can_moderate

log = logging.getLogger(__name__)
SCAN_KIND = "discussion.image"  # lms.quarantine's name for these uploads

# Notification texts: stored in Chinese, shown in the reader's language (lms.notifications.services.shown).
N_REPLIED = register("%(name)s 回复了你的话题「%(title)s」")
N_QUOTED = register("%(name)s 引用了你在「%(title)s」中的发言")
N_MENTIONED = register("%(name)s 在「%(title)s」中提到了你")
N_REPORTED = register("课程讨论有新的举报：「%(title)s」")
N_APPROVED = register("您在「%(title)s」的发言已通过审核")
N_REJECTED = register("您在「%(title)s」的发言未通过审核")
N_HIDDEN = register("您在「%(title)s」的发言已被管理员隐藏")
N_OFFICIAL = register("您在「%(title)s」的回复被设为官方解答")
N_REASON = register("理由：%(reason)s")

REPORT_REASONS = {
    "political": "政治有害或违反党的纪律",
    "abuse": "人身攻击、辱骂",
    "rumour": "谣言或不实信息",
    "ads": "广告、刷屏",
    "privacy": "泄露他人隐私",
    "other": "其他",
}
WORD_MAX = 100


class DiscussionError(Exception):
    """A refusal the person should read (a sentence in Chinese); `field` names the form field."""

    status = 400
    verdict = None  # an upload the malware scan did not pass (lms.quarantine.Verdict): its rows are kept

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class RateLimited(DiscussionError):
    status = 429

    def __init__(self, retry_after: int):
        minutes, seconds = divmod(max(1, retry_after), 60)
        wait = _("%(m)s 分 %(s)s 秒", m=minutes, s=seconds) if minutes else _("%(s)s 秒", s=seconds)
        super().__init__(_("发言过于频繁，请 %(wait)s后再试。", wait=wait), field="body")
        self.retry_after = max(1, retry_after)


def post_path(post_id: int) -> str:
    return f"/discussion/posts/{post_id}"


def thread_path(thread_id: int) -> str:
    return f"/discussion/threads/{thread_id}"


# --- the sensitive-word list ------------------------------------------------------------------------
def matcher() -> Matcher:
    """The automaton over the current list, rebuilt only when the list changed (checked per call with
    one small aggregate query, so every worker process sees another's edits)."""
    sig = tuple(db.session.execute(
        select(func.count(DiscussionWord.id), func.max(DiscussionWord.id), func.max(DiscussionWord.created_at))
    ).one())
    cached = current_app.extensions.get("discussion_matcher")
    if cached is None or cached[0] != sig:
        words = db.session.scalars(select(DiscussionWord.word)).all()
        cached = (sig, Matcher(words))
        current_app.extensions["discussion_matcher"] = cached
    return cached[1]


@dataclass
class ImportResult:
    added: int = 0
    duplicates: int = 0
    invalid: int = 0


def add_words(actor, lines, *, source: str = "form") -> ImportResult:
    """Add words (one per item; blank lines and lines starting with # are skipped)."""
    res = ImportResult()
    existing = set(db.session.scalars(select(DiscussionWord.word)).all())
    now = utcnow()
    for raw in lines:
        line = (raw or "").strip()
        if not line or line.startswith("#"):
            continue
        word = normalise_word(line)
        if not word or len(word) > WORD_MAX:
            res.invalid += 1
            continue
        if word in existing:
            res.duplicates += 1
            continue
        existing.add(word)
        db.session.add(DiscussionWord(word=word, created_by_id=getattr(actor, "id", None), created_at=now))
        res.added += 1
    db.session.flush()
    audit.log("discussion.words_add", actor=actor, target_type="discussion_word",
              details={"added": res.added, "duplicates": res.duplicates, "invalid": res.invalid, "source": source})
    return res


def delete_word(actor, word: DiscussionWord) -> None:
    audit.log("discussion.word_delete", word, actor=actor, details={"word": word.word})
    db.session.delete(word)
    db.session.flush()


# --- rate limit --------------------------------------------------------------------------------------
def check_rate(user) -> None:
    """Refuse a flood: at most N posts per window per person, counted in the database so that every
    worker process enforces the same limit. Raises RateLimited; nothing is stored then."""
    if db.engine.dialect.name == "postgresql":
        # Serialise one person's concurrent posts so two requests cannot both slip under the limit.
        db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    now = utcnow()
    for limit, seconds in current_app.config["DISCUSSION_RATE_LIMITS"]:
        since = now - timedelta(seconds=seconds)
        base = select(DiscussionPost.created_at).where(
            DiscussionPost.author_id == user.id, DiscussionPost.created_at >= since
        )
        nth = db.session.scalar(base.order_by(DiscussionPost.created_at.desc()).offset(limit - 1).limit(1))
        if nth is not None:
            raise RateLimited(int((nth + timedelta(seconds=seconds) - now).total_seconds()) + 1)


# --- mentions ----------------------------------------------------------------------------------------
_MENTION_STOP = set(" \t\r\n,，.。:：;；!！?？、()（）[]【】<>《》\"'“”‘’@#*_~`|/\\")


def resolve_mentions(text: str, thread: DiscussionThread | None, course: Course, author) -> list[list]:
    """People named as "@姓名" who may view the discussion: [[user_id, name], …].

    Chinese names have no spaces after them, so each "@" is tried against the names that its
    following characters start with, the longest first. When several people share a name the one
    connected to the course (teacher, enrolled, in the thread) is meant; if still ambiguous, nobody is.
    """
    limit = current_app.config["DISCUSSION_MAX_MENTIONS"]
    spots: list[str] = []
    pos = text.find("@")
    while pos != -1 and len(spots) < limit * 3:
        tail = []
        for ch in text[pos + 1: pos + 1 + 20]:
            if ch in _MENTION_STOP:
                break
            tail.append(ch)
        if tail:
            spots.append("".join(tail))
        pos = text.find("@", pos + 1)
    if not spots:
        return []
    prefixes = {s[:n] for s in spots for n in range(1, len(s) + 1)}
    people = db.session.scalars(select(User).where(User.name.in_(prefixes), User.is_active_account.is_(True))).all()
    by_name: dict[str, list[User]] = {}
    for u in people:
        by_name.setdefault(u.name, []).append(u)
    related: set[int] = {t.id for t in course.teachers}
    related |= set(db.session.scalars(select(Enrollment.user_id).where(
        Enrollment.course_id == course.id, Enrollment.user_id.in_([u.id for u in people] or [-1]))).all())
    if thread is not None and thread.id is not None:
        related |= set(db.session.scalars(select(DiscussionPost.author_id).where(
            DiscussionPost.thread_id == thread.id)).all())
    target = thread.target if thread is not None else course
    found: list[list] = []
    seen: set[int] = set()
    for spot in spots:
        for n in range(len(spot), 0, -1):
            cands = [u for u in by_name.get(spot[:n], []) if can(u, VIEW, target)]
            if not cands:
                continue
            if len(cands) > 1:
                cands = [u for u in cands if u.id in related]
            if len(cands) == 1 and cands[0].id != author.id and cands[0].id not in seen:
                seen.add(cands[0].id)
                found.append([cands[0].id, cands[0].name])
            break
        if len(found) >= limit:
            break
    return found


def _render(post: DiscussionPost) -> None:
    post.body_html = render.render_markdown(post.body, [name for _id, name in post.mentions or []])


# --- posting ----------------------------------------------------------------------------------------
def _validate_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise DiscussionError(_("请填写内容。"), field="body")
    if len(body) > current_app.config["DISCUSSION_BODY_MAX"]:
        raise DiscussionError(_("内容不能超过 %(n)s 字。", n=current_app.config["DISCUSSION_BODY_MAX"]), field="body")
    return body


def _hold_words(user, course: Course, *texts: str) -> list[str]:
    """The listed words in the texts, or [] when nothing matches or the author moderates the course."""
    if can_moderate(user, course):
        return []
    m = matcher()
    words: list[str] = []
    for t in texts:
        for hit in m.find(t or ""):
            if hit.word not in words:
                words.append(hit.word)
    return words


def create_thread(user, target, *, title: str, body: str) -> DiscussionThread:
    """Start a thread on a course or a lesson. A text with a listed word is held for review."""
    lesson = target if isinstance(target, Lesson) else None
    course = lesson.course if lesson is not None else target
    if not can(user, VIEW, target):
        raise DiscussionError(_("您没有权限在这里发言。"))
    title = (title or "").strip()
    if not title:
        raise DiscussionError(_("请填写标题。"), field="title")
    if len(title) > 100:
        raise DiscussionError(_("标题不能超过 100 字。"), field="title")
    body = _validate_body(body)
    check_rate(user)
    held = _hold_words(user, course, title, body)
    now = utcnow()
    thread = DiscussionThread(course_id=course.id, lesson_id=lesson.id if lesson else None, author_id=user.id,
                              title=title, status=PENDING if held else PUBLISHED, created_at=now,
                              last_activity_at=now)
    thread.course, thread.lesson, thread.author = course, lesson, user
    db.session.add(thread)
    db.session.flush()
    post = DiscussionPost(thread_id=thread.id, author_id=user.id, is_first=True, body=body, status=PENDING,
                          matched_words=held, created_at=now, like_count=0, is_official=False)
    post.thread, post.author = thread, user
    post.mentions = resolve_mentions(body, thread, course, user)
    _render(post)
    db.session.add(post)
    db.session.flush()
    if not held:
        _publish(post)
    return thread


def create_reply(user, thread: DiscussionThread, *, body: str, quote: DiscussionPost | None = None) -> DiscussionPost:
    if not can(user, "reply", thread):
        raise DiscussionError(_("该话题已锁定，不能回复。") if thread.locked else _("您没有权限回复这个话题。"))
    body = _validate_body(body)
    if quote is not None and (quote.thread_id != thread.id or not can(user, VIEW, quote)):
        quote = None
    check_rate(user)
    held = _hold_words(user, thread.course, body)
    post = DiscussionPost(thread_id=thread.id, author_id=user.id, is_first=False, body=body, status=PENDING,
                          matched_words=held, quote_post_id=quote.id if quote else None, created_at=utcnow(),
                          like_count=0, is_official=False)
    post.thread, post.author, post.quote = thread, user, quote
    post.mentions = resolve_mentions(body, thread, thread.course, user)
    _render(post)
    db.session.add(post)
    db.session.flush()
    if not held:
        _publish(post)
    return post


def _refresh_thread(thread: DiscussionThread) -> None:
    """Recount the published replies and the newest one (index-only on ix_discussion_post_thread)."""
    visible = and_(DiscussionPost.thread_id == thread.id, DiscussionPost.status == PUBLISHED,
                   DiscussionPost.deleted_at.is_(None), DiscussionPost.is_first.is_(False))
    count, last = db.session.execute(select(func.count(DiscussionPost.id), func.max(DiscussionPost.id))
                                     .where(visible)).one()
    thread.reply_count = count or 0
    thread.last_post_id = last
    if thread.official_post_id is not None:
        official = db.session.get(DiscussionPost, thread.official_post_id)
        if official is None or not official.is_visible:
            thread.official_post_id = None


def _publish(post: DiscussionPost) -> None:
    """Make a post public and do what follows: counters, notifications, the learning statement."""
    first_time = post.published_at is None
    now = utcnow()
    post.status = PUBLISHED
    post.published_at = post.published_at or now
    thread = post.thread
    if post.is_first:
        thread.status = PUBLISHED
    thread.last_activity_at = max(thread.last_activity_at or now, post.created_at)
    db.session.flush()
    _refresh_thread(thread)
    if first_time:
        _notify_published(post)
        _record_event(post)


def _notify_published(post: DiscussionPost) -> None:
    thread = post.thread
    author = post.author
    told: set[int] = {author.id}
    snippet = render.excerpt(post.body, 100)
    url = post_path(post.id)
    if not post.is_first and thread.author_id not in told:
        told.add(thread.author_id)
        notify(thread.author, kind="reply", title=message(N_REPLIED, name=author.name, title=thread.title),
               body=snippet, url=url, about=thread)
    if post.quote is not None and post.quote.author_id not in told:
        told.add(post.quote.author_id)
        notify(post.quote.author, kind="reply", title=message(N_QUOTED, name=author.name, title=thread.title),
               body=snippet, url=url, about=thread)
    for user_id, _name in post.mentions or []:
        if user_id in told:
            continue
        told.add(user_id)
        person = db.session.get(User, user_id)
        notify(person, kind="mention", title=message(N_MENTIONED, name=author.name, title=thread.title),
               body=snippet, url=url, about=thread)


def _record_event(post: DiscussionPost) -> None:
    thread = post.thread
    target = thread.target
    kind = "lesson" if thread.lesson_id else "course"
    target_iri = events.activity_iri(kind, target.id)
    target_type = f"http://adlnet.gov/expapi/activities/{kind}"
    thread_iri = events.activity_iri("discussion-thread", thread.id)
    result = {"response": render.excerpt(post.body, 500)}
    if post.is_first:
        ev = events.LearningEvent(
            user=post.author, verb="commented", object_id=target_iri, object_type=target_type,
            object_name={"zh-CN": target.title}, result=result,
            context={"contextActivities": {"other": [{"id": thread_iri}]}},
            course_id=thread.course_id, lesson_id=thread.lesson_id,
        )
    else:
        ev = events.LearningEvent(
            user=post.author, verb="replied", object_id=thread_iri,
            object_type="http://id.tincanapi.com/activitytype/discussion",
            object_name={"zh-CN": thread.title}, result=result,
            context={"contextActivities": {"parent": [{"id": target_iri, "objectType": "Activity"}]}},
            course_id=thread.course_id, lesson_id=thread.lesson_id,
        )
    events.record(ev)


def edit_post(user, post: DiscussionPost, *, body: str, title: str | None = None) -> DiscussionPost:
    """Change a post, keeping the old text as a revision. A text that now matches the list is held
    again; a rejected post that is edited goes back to the review queue."""
    if not can(user, "edit", post):
        raise DiscussionError(_("您不能编辑这条发言。"))
    body = _validate_body(body)
    thread = post.thread
    if post.is_first and title is not None:
        title = title.strip()
        if not title:
            raise DiscussionError(_("请填写标题。"), field="title")
        if len(title) > 100:
            raise DiscussionError(_("标题不能超过 100 字。"), field="title")
    else:
        title = None
    if body == post.body and (title is None or title == thread.title):
        return post
    db.session.add(DiscussionRevision(post_id=post.id, body=post.body,
                                      title=thread.title if post.is_first else None,
                                      edited_by_id=user.id, created_at=utcnow()))
    post.body = body
    if title is not None:
        thread.title = title
    post.edited_at = utcnow()
    post.mentions = resolve_mentions(body, thread, thread.course, post.author)
    _render(post)
    held = _hold_words(user, thread.course, title or "", body)
    if user.id != post.author_id:
        audit.log("discussion.edit", post, actor=user, details={"thread_id": thread.id})
    if held:
        post.matched_words = held
        if post.status == PUBLISHED:
            post.status = PENDING
            if post.is_first:
                thread.status = PENDING
    elif post.status == REJECTED:
        post.status = PENDING
        post.matched_words = []
    db.session.flush()
    _refresh_thread(thread)
    return post


def delete_post(user, post: DiscussionPost) -> None:
    """Soft delete: the row stays and moderators still see (and can restore) it."""
    if not can(user, "delete", post):
        raise DiscussionError(_("您不能删除这条发言。"))
    now = utcnow()
    post.deleted_at = now
    post.deleted_by_id = user.id
    thread = post.thread
    if post.is_first:
        thread.deleted_at = now
        thread.deleted_by_id = user.id
    if user.id != post.author_id:
        audit.log("discussion.delete", post, actor=user, details={"thread_id": thread.id})
    db.session.flush()
    _refresh_thread(thread)


def toggle_like(user, post: DiscussionPost) -> tuple[bool, int]:
    if not can(user, "like", post):
        raise DiscussionError(_("不能给这条发言点赞。"))
    existing = db.session.scalar(select(DiscussionLike).where(DiscussionLike.post_id == post.id,
                                                              DiscussionLike.user_id == user.id))
    if existing is not None:
        db.session.delete(existing)
        liked = False
    else:
        db.session.add(DiscussionLike(post_id=post.id, user_id=user.id))
        liked = True
    db.session.flush()
    post.like_count = db.session.scalar(select(func.count(DiscussionLike.id))
                                        .where(DiscussionLike.post_id == post.id)) or 0
    db.session.flush()
    return liked, post.like_count


def report_post(user, post: DiscussionPost, *, reason: str, detail: str = "") -> DiscussionReport:
    if not can(user, "report", post):
        raise DiscussionError(_("不能举报这条发言。"))
    if reason not in REPORT_REASONS:
        raise DiscussionError(_("请选择举报原因。"), field="reason")
    detail = (detail or "").strip()[:500]
    if reason == "other" and not detail:
        raise DiscussionError(_("请说明举报的原因。"), field="detail")
    existing = db.session.scalar(select(DiscussionReport).where(DiscussionReport.post_id == post.id,
                                                                DiscussionReport.reporter_id == user.id))
    if existing is not None:
        if existing.status == "open":
            raise DiscussionError(_("您已经举报过这条发言，管理员会尽快处理。"))
        existing.reason, existing.detail, existing.status = reason, detail, "open"
        existing.created_at, existing.resolved_at, existing.resolved_by_id = utcnow(), None, None
        report = existing
    else:
        report = DiscussionReport(post_id=post.id, reporter_id=user.id, reason=reason, detail=detail)
        db.session.add(report)
    db.session.flush()
    audit.log("discussion.report", post, actor=user, details={"reason": reason})
    for teacher in post.thread.course.teachers:
        notify(teacher, kind="report", title=message(N_REPORTED, title=post.thread.title),
               body=REPORT_REASONS[reason], url="/discussion/moderation?tab=reports", about=post.thread.course)
    return report


# --- moderation ---------------------------------------------------------------------------------------
def _require_moderator(user, post: DiscussionPost) -> None:
    if not can_moderate(user, post.thread.course):
        raise DiscussionError(_("您没有权限审核这门课程的讨论。"))


def _resolve_reports(user, post: DiscussionPost, status: str) -> int:
    res = db.session.execute(update(DiscussionReport)
                             .where(DiscussionReport.post_id == post.id, DiscussionReport.status == "open")
                             .values(status=status, resolved_by_id=user.id, resolved_at=utcnow()))
    return res.rowcount or 0


def _moderated(user, post: DiscussionPost, reason: str | None) -> None:
    post.moderated_by_id = user.id
    post.moderated_at = utcnow()
    post.moderation_reason = reason


def approve(user, post: DiscussionPost) -> None:
    """A held post is published; for a reported post, the reports are dismissed and it stays up."""
    _require_moderator(user, post)
    before = post.status
    if post.deleted_at is not None or post.status not in (PENDING, PUBLISHED):
        raise DiscussionError(_("这条发言当前不能通过审核。"))
    dismissed = _resolve_reports(user, post, "dismissed")
    _moderated(user, post, None)
    audit.log("discussion.approve", post, actor=user,
              details={"before": before, "reports_dismissed": dismissed, "words": post.matched_words or []})
    if before == PENDING:
        _publish(post)
        notify(post.author, kind="review", title=message(N_APPROVED, title=post.thread.title),
               url=post_path(post.id), about=post.thread)
    db.session.flush()


def reject(user, post: DiscussionPost, reason: str) -> None:
    _require_moderator(user, post)
    reason = (reason or "").strip()
    if not reason:
        raise DiscussionError(_("请填写不通过的理由。"), field="reason")
    if post.status != PENDING or post.deleted_at is not None:
        raise DiscussionError(_("只有待审核的发言可以驳回。"))
    post.status = REJECTED
    if post.is_first:
        post.thread.status = REJECTED
    _moderated(user, post, reason[:500])
    _resolve_reports(user, post, "upheld")
    audit.log("discussion.reject", post, actor=user, note=reason, details={"words": post.matched_words or []})
    notify(post.author, kind="review", title=message(N_REJECTED, title=post.thread.title),
           body=message(N_REASON, reason=reason), url=post_path(post.id))
    db.session.flush()


def hide(user, post: DiscussionPost, reason: str = "") -> None:
    _require_moderator(user, post)
    if post.status != PUBLISHED or post.deleted_at is not None:
        raise DiscussionError(_("只有已发布的发言可以隐藏。"))
    reason = (reason or "").strip()[:500]
    post.status = HIDDEN
    if post.is_first:
        post.thread.status = HIDDEN
    _moderated(user, post, reason or None)
    upheld = _resolve_reports(user, post, "upheld")
    audit.log("discussion.hide", post, actor=user, note=reason or None, details={"reports_upheld": upheld})
    notify(post.author, kind="review", title=message(N_HIDDEN, title=post.thread.title),
           body=message(N_REASON, reason=reason) if reason else "", url=post_path(post.id))
    db.session.flush()
    _refresh_thread(post.thread)


def restore(user, post: DiscussionPost) -> None:
    """Undo a hide, a rejection or a delete: the post is public again."""
    _require_moderator(user, post)
    before = "deleted" if post.deleted_at is not None else post.status
    if before not in ("deleted", HIDDEN, REJECTED):
        raise DiscussionError(_("这条发言不需要恢复。"))
    post.deleted_at = None
    post.deleted_by_id = None
    if post.is_first:
        post.thread.deleted_at = None
        post.thread.deleted_by_id = None
    _moderated(user, post, None)
    audit.log("discussion.restore", post, actor=user, details={"before": before})
    _publish(post)
    db.session.flush()


def set_thread_flag(user, thread: DiscussionThread, flag: str, value: bool) -> None:
    if not can_moderate(user, thread.course):
        raise DiscussionError(_("您没有权限管理这门课程的讨论。"))
    if flag not in ("pinned", "locked"):
        raise DiscussionError(_("未知的操作。"))
    setattr(thread, flag, bool(value))
    audit.log(f"discussion.{'pin' if flag == 'pinned' else 'lock'}", thread, actor=user, details={"value": bool(value)})
    db.session.flush()


def set_official(user, post: DiscussionPost, value: bool) -> None:
    """Mark (or unmark) a reply as the thread's official answer (官方解答)."""
    _require_moderator(user, post)
    if post.is_first or not post.is_visible:
        raise DiscussionError(_("只有已发布的回复可以设为官方解答。"))
    thread = post.thread
    if value:
        if thread.official_post_id and thread.official_post_id != post.id:
            old = db.session.get(DiscussionPost, thread.official_post_id)
            if old is not None:
                old.is_official = False
        thread.official_post_id = post.id
    elif thread.official_post_id == post.id:
        thread.official_post_id = None
    post.is_official = bool(value)
    audit.log("discussion.official", post, actor=user, details={"value": bool(value)})
    if value:
        notify(post.author, kind="info", title=message(N_OFFICIAL, title=thread.title),
               url=post_path(post.id), about=thread)
    db.session.flush()


# --- queries -----------------------------------------------------------------------------------------
def managed_courses_clause(user):
    """WHERE clause on Course for the courses `user` moderates (same rule as can(user, 'manage', course))."""
    if user.is_sysadmin:
        return Course.id.isnot(None)
    conds = [Course.id.in_(select(course_teacher.c.course_id).where(course_teacher.c.user_id == user.id))]
    roots = user.role_units("org_admin")
    if roots:
        conds.append(Course.owner_unit_id.in_(
            select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id.in_(roots))))
    return or_(*conds)


def thread_list_query(user, course: Course, *, lesson: Lesson | None = None, course_only: bool = False,
                      q: str = "", mine: bool = False):
    moderator = can_moderate(user, course)
    stmt = select(DiscussionThread).where(DiscussionThread.course_id == course.id)
    if lesson is not None:
        stmt = stmt.where(DiscussionThread.lesson_id == lesson.id)
    elif course_only:
        stmt = stmt.where(DiscussionThread.lesson_id.is_(None))
    else:
        # Only threads of lessons the person may open (drafts' threads stay with the moderators).
        allowed = [ls.id for ls in course.lessons if can(user, VIEW, ls)]
        stmt = stmt.where(or_(DiscussionThread.lesson_id.is_(None), DiscussionThread.lesson_id.in_(allowed or [-1])))
    if not moderator:
        stmt = stmt.where(DiscussionThread.deleted_at.is_(None),
                          or_(DiscussionThread.status == PUBLISHED, DiscussionThread.author_id == user.id))
    if mine:
        stmt = stmt.where(DiscussionThread.author_id == user.id)
    q = (q or "").strip()[:50]
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        first_bodies = select(DiscussionPost.thread_id).where(DiscussionPost.is_first.is_(True),
                                                             DiscussionPost.body.ilike(like, escape="\\"))
        stmt = stmt.where(or_(DiscussionThread.title.ilike(like, escape="\\"), DiscussionThread.id.in_(first_bodies)))
    return stmt.order_by(DiscussionThread.pinned.desc(), DiscussionThread.last_activity_at.desc(),
                         DiscussionThread.id.desc())


def visible_posts_clause(user, thread: DiscussionThread):
    if can_moderate(user, thread.course):
        return DiscussionPost.thread_id == thread.id
    return and_(DiscussionPost.thread_id == thread.id, DiscussionPost.deleted_at.is_(None),
                or_(DiscussionPost.status == PUBLISHED, DiscussionPost.author_id == user.id))


def replies_query(user, thread: DiscussionThread):
    return (select(DiscussionPost)
            .where(visible_posts_clause(user, thread), DiscussionPost.is_first.is_(False))
            .order_by(DiscussionPost.id))


def first_post(thread: DiscussionThread) -> DiscussionPost:
    return db.session.scalar(select(DiscussionPost).where(DiscussionPost.thread_id == thread.id,
                                                          DiscussionPost.is_first.is_(True)))


def page_of_post(user, post: DiscussionPost, per_page: int) -> int:
    if post.is_first:
        return 1
    before = db.session.scalar(select(func.count(DiscussionPost.id)).where(
        visible_posts_clause(user, post.thread), DiscussionPost.is_first.is_(False), DiscussionPost.id < post.id))
    return (before or 0) // per_page + 1


def liked_ids(user, post_ids) -> set[int]:
    if not post_ids:
        return set()
    return set(db.session.scalars(select(DiscussionLike.post_id).where(
        DiscussionLike.user_id == user.id, DiscussionLike.post_id.in_(list(post_ids)))).all())


def mark_read(user, thread: DiscussionThread) -> None:
    """Remember that `user` has seen the thread up to its newest reply."""
    upto = thread.last_post_id or 0
    marker = db.session.scalar(select(DiscussionReadMarker).where(DiscussionReadMarker.thread_id == thread.id,
                                                                  DiscussionReadMarker.user_id == user.id))
    if marker is None:
        db.session.add(DiscussionReadMarker(thread_id=thread.id, user_id=user.id, last_read_post_id=upto))
    elif marker.last_read_post_id < upto:
        marker.last_read_post_id = upto


def unread_own_thread_ids(user, threads) -> set[int]:
    """Among `threads`, those the person started that have replies they have not seen yet."""
    own = {t.id: t for t in threads if t.author_id == user.id and t.last_post_id}
    if not own:
        return set()
    markers = dict(db.session.execute(select(DiscussionReadMarker.thread_id, DiscussionReadMarker.last_read_post_id)
                                      .where(DiscussionReadMarker.user_id == user.id,
                                             DiscussionReadMarker.thread_id.in_(list(own)))).all())
    return {tid for tid, t in own.items() if t.last_post_id > markers.get(tid, 0)}


def moderation_counts(user, course_id: int | None = None) -> dict[str, int]:
    """Held posts and reported posts waiting in the queue of `user` (of one course if given)."""
    scope = select(Course.id).where(managed_courses_clause(user))
    in_scope = DiscussionThread.course_id.in_(scope)
    if course_id is not None:
        in_scope = and_(in_scope, DiscussionThread.course_id == course_id)
    pending = db.session.scalar(select(func.count(DiscussionPost.id)).join(DiscussionThread, DiscussionPost.thread_id
                                == DiscussionThread.id).where(in_scope, DiscussionPost.status == PENDING,
                                                              DiscussionPost.deleted_at.is_(None))) or 0
    reports = db.session.scalar(select(func.count(func.distinct(DiscussionReport.post_id)))
                                .join(DiscussionPost, DiscussionReport.post_id == DiscussionPost.id)
                                .join(DiscussionThread, DiscussionPost.thread_id == DiscussionThread.id)
                                .where(in_scope, DiscussionReport.status == "open")) or 0
    return {"pending": pending, "reports": reports}


def moderation_query(user, tab: str, course_id: int | None = None):
    scope = select(Course.id).where(managed_courses_clause(user))
    stmt = (select(DiscussionPost).join(DiscussionThread, DiscussionPost.thread_id == DiscussionThread.id)
            .where(DiscussionThread.course_id.in_(scope)))
    if course_id:
        stmt = stmt.where(DiscussionThread.course_id == course_id)
    if tab == "reports":
        reported = select(DiscussionReport.post_id).where(DiscussionReport.status == "open")
        stmt = stmt.where(DiscussionPost.id.in_(reported))
    elif tab == "hidden":
        stmt = stmt.where(or_(DiscussionPost.status.in_([HIDDEN, REJECTED]), DiscussionPost.deleted_at.isnot(None)))
    else:
        stmt = stmt.where(DiscussionPost.status == PENDING, DiscussionPost.deleted_at.is_(None))
    return stmt.order_by(DiscussionPost.id.desc())


def open_reports(post_ids) -> dict[int, list[DiscussionReport]]:
    out: dict[int, list[DiscussionReport]] = {}
    if not post_ids:
        return out
    for r in db.session.scalars(select(DiscussionReport).where(DiscussionReport.post_id.in_(list(post_ids)),
                                                               DiscussionReport.status == "open")
                                .order_by(DiscussionReport.id)):
        out.setdefault(r.post_id, []).append(r)
    return out


def thread_counts(course: Course, user) -> int:
    return db.session.scalar(select(func.count()).select_from(
        thread_list_query(user, course).order_by(None).subquery())) or 0


# --- images -------------------------------------------------------------------------------------------
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)


def sniff_image(head: bytes) -> str | None:
    """The image format named by the file's first bytes (never by its name or Content-Type)."""
    for magic, fmt in _SIGNATURES:
        if head.startswith(magic):
            return fmt
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def save_image(user, course: Course, stream, filename: str = "") -> DiscussionImage:
    """Check an upload (size, magic bytes, decodable, pixel count) and store a re-encoded copy.

    Re-encoding drops whatever rides along in the file (EXIF with GPS, comments, appended scripts,
    polyglot payloads); the stored name is random and the route that serves it checks permission.
    """
    from PIL import Image, ImageOps

    if not can(user, VIEW, course):
        raise DiscussionError(_("您没有权限在这里上传图片。"))
    cfg = current_app.config
    limit, seconds = cfg["DISCUSSION_IMAGE_RATE"]
    recent = db.session.scalar(select(func.count(DiscussionImage.id)).where(
        DiscussionImage.uploader_id == user.id,
        DiscussionImage.created_at >= utcnow() - timedelta(seconds=seconds))) or 0
    if recent >= limit:
        raise DiscussionError(_("上传图片过于频繁，请稍后再试。"), field="image")
    max_bytes = cfg["DISCUSSION_IMAGE_MAX_BYTES"]
    data = stream.read(max_bytes + 1)
    if not data:
        raise DiscussionError(_("请选择图片文件。"), field="image")
    if len(data) > max_bytes:
        raise DiscussionError(_("图片不能超过 %(n)s MB。", n=max_bytes // (1024 * 1024)), field="image")
    fmt = sniff_image(data[:16])
    if fmt is None:
        raise DiscussionError(_("只支持 JPG、PNG、GIF、WebP 格式的图片。"), field="image")
    # UP-09: scanned before an image decoder reads it; refused (and quarantined when infected) otherwise.
    verdict = quarantine.check(SCAN_KIND, data=data, filename=filename or f"{fmt.lower()}-image", uploader=user, ref=course.id)
    if not verdict.ok:
        err = DiscussionError(verdict.message, field="image")
        err.status, err.verdict = 422, verdict
        raise err
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(BytesIO(data))
            if img.format != fmt:
                raise DiscussionError(_("图片内容与格式不符。"), field="image")
            w, h = img.size
            if w * h > cfg["DISCUSSION_IMAGE_MAX_PIXELS"] or w < 1 or h < 1:
                raise DiscussionError(_("图片尺寸过大。"), field="image")
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
    except DiscussionError:
        raise
    except Exception as exc:  # Pillow raises many types for broken or hostile files
        log.info("discussion image refused: %s", type(exc).__name__)
        raise DiscussionError(_("图片文件已损坏或无法识别。"), field="image") from exc
    has_alpha = img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info)
    img = img.convert("RGBA" if has_alpha else "RGB")
    side = cfg["DISCUSSION_IMAGE_MAX_SIDE"]
    img.thumbnail((side, side))
    out = BytesIO()
    if has_alpha:
        img.save(out, format="PNG", optimize=True)
        ext, mime = "png", "image/png"
    else:
        img.save(out, format="JPEG", quality=85, optimize=True)
        ext, mime = "jpg", "image/jpeg"
    rel = Path("discussion") / str(course.id) / f"{secrets.token_hex(16)}.{ext}"
    root = Path(cfg.get("MEDIA_ROOT") or Path(current_app.instance_path) / "media")
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(out.getvalue())
    row = DiscussionImage(course_id=course.id, uploader_id=user.id, path=str(rel), mimetype=mime,
                          width=img.width, height=img.height, size=len(out.getvalue()))
    db.session.add(row)
    db.session.flush()
    return row


def image_file(image: DiscussionImage) -> Path:
    root = Path(current_app.config.get("MEDIA_ROOT") or Path(current_app.instance_path) / "media")
    return root / image.path
