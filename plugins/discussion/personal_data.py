"""The discussion plugin's answer to the data-subject hooks (PI-06).

The copy holds the person's own threads, posts, revisions, likes, reports and images; where they moderated
others' posts only the post id and time. Erasure keeps the person's posts in place (others' replies quote
and answer them) with the text replaced, and deletes the old revisions, likes, reports, read markers and
uploaded images (their files once the erasure is committed).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from lms.accounts.dsar import Section, clear_reference, delete_rows, model_rows
from lms.extensions import db
from plugins.discussion.models import (
    DiscussionImage,
    DiscussionLike,
    DiscussionPost,
    DiscussionReadMarker,
    DiscussionReport,
    DiscussionRevision,
    DiscussionThread,
    DiscussionWord,
)
from plugins.discussion.services import image_file

ERASED_TEXT = "（该用户的信息已删除）"  # stored text in place of an erased person's words


def gather(user) -> list[Section]:
    uid = user.id
    own_posts = select(DiscussionPost.id).where(DiscussionPost.author_id == uid)
    return [
        Section("discussion_thread", _l("讨论主题"),
                model_rows(DiscussionThread, DiscussionThread.author_id == uid)
                + model_rows(DiscussionThread, DiscussionThread.deleted_by_id == uid, DiscussionThread.author_id != uid,
                             only=("id", "deleted_at")),
                ("title", "created_at")),
        Section("discussion_post", _l("讨论发言（仅您本人的发言）"),
                model_rows(DiscussionPost, DiscussionPost.author_id == uid)
                + model_rows(DiscussionPost, or_(DiscussionPost.moderated_by_id == uid,
                                                 DiscussionPost.deleted_by_id == uid),
                             DiscussionPost.author_id != uid, only=("id", "moderated_at", "deleted_at")),
                ("thread_id", "body", "status", "created_at")),
        Section("discussion_revision", _l("发言修改记录"),
                model_rows(DiscussionRevision, DiscussionRevision.post_id.in_(own_posts))
                + model_rows(DiscussionRevision, DiscussionRevision.edited_by_id == uid,
                             DiscussionRevision.post_id.not_in(own_posts), only=("id", "post_id", "created_at")),
                ("post_id", "created_at")),
        Section("discussion_like", _l("点赞"), model_rows(DiscussionLike, DiscussionLike.user_id == uid),
                ("post_id", "created_at")),
        Section("discussion_report", _l("举报"),
                model_rows(DiscussionReport, DiscussionReport.reporter_id == uid)
                + model_rows(DiscussionReport, DiscussionReport.resolved_by_id == uid,
                             DiscussionReport.reporter_id != uid, only=("id", "post_id", "resolved_at")),
                ("post_id", "reason", "status", "created_at")),
        Section("discussion_read_marker", _l("已读位置"),
                model_rows(DiscussionReadMarker, DiscussionReadMarker.user_id == uid), ("thread_id",)),
        Section("discussion_image", _l("上传的图片"), model_rows(DiscussionImage, DiscussionImage.uploader_id == uid),
                ("path", "created_at")),
        Section("discussion_word", _l("您添加的敏感词"),
                model_rows(DiscussionWord, DiscussionWord.created_by_id == uid, only=("id", "created_at")),
                ("created_at",)),
    ]


def erase(user, erasure) -> None:
    uid = user.id
    own_posts = select(DiscussionPost.id).where(DiscussionPost.author_id == uid)
    delete_rows(erasure, DiscussionRevision, DiscussionRevision.post_id.in_(own_posts))
    clear_reference(erasure, DiscussionRevision.edited_by_id)
    liked = list(db.session.scalars(select(DiscussionLike.post_id).where(DiscussionLike.user_id == uid)))
    delete_rows(erasure, DiscussionLike, DiscussionLike.user_id == uid)
    if liked:
        count = select(func.count(DiscussionLike.id)).where(DiscussionLike.post_id == DiscussionPost.id)
        db.session.execute(DiscussionPost.__table__.update().where(DiscussionPost.id.in_(liked))
                           .values(like_count=count.scalar_subquery()))
    delete_rows(erasure, DiscussionReport, DiscussionReport.reporter_id == uid)
    clear_reference(erasure, DiscussionReport.resolved_by_id)
    delete_rows(erasure, DiscussionReadMarker, DiscussionReadMarker.user_id == uid)
    for image in db.session.scalars(select(DiscussionImage).where(DiscussionImage.uploader_id == uid)):
        erasure.remove_file(image_file(image))
    delete_rows(erasure, DiscussionImage, DiscussionImage.uploader_id == uid)
    n = db.session.execute(DiscussionPost.__table__.update().where(DiscussionPost.author_id == uid).values(
        body=ERASED_TEXT, body_html=f"<p>{ERASED_TEXT}</p>", mentions=[], matched_words=[], moderation_reason=None,
    )).rowcount or 0
    erasure.count("discussion_post", n)
    n = db.session.execute(DiscussionThread.__table__.update().where(DiscussionThread.author_id == uid).values(
        title=ERASED_TEXT)).rowcount or 0
    erasure.count("discussion_thread", n)
    clear_reference(erasure, DiscussionPost.moderated_by_id)
    clear_reference(erasure, DiscussionPost.deleted_by_id)
    clear_reference(erasure, DiscussionThread.deleted_by_id)
    clear_reference(erasure, DiscussionWord.created_by_id)
