"""Who may read, write and moderate discussions (called through `lms.authz.can`).

Reading and posting follow the lesson or course a thread belongs to (`can(user, "view", …)`);
moderating is managing the course (`can(user, "manage", course)`): its teachers and the
organization admins whose subtree owns it. A teacher therefore moderates only their own courses.
"""
from __future__ import annotations

from lms.authz import MANAGE, VIEW, can

MODERATE = "moderate"
REPLY = "reply"
EDIT = "edit"
DELETE = "delete"
LIKE = "like"
REPORT = "report"


def can_moderate(user, course) -> bool:
    return can(user, MANAGE, course)


def can_thread(user, action: str, thread) -> bool:
    if not can(user, VIEW, thread.target):
        return False
    moderator = can_moderate(user, thread.course)
    if action in (MODERATE, MANAGE):
        return moderator
    if thread.deleted_at is not None and not moderator:
        return False
    own = thread.author_id == user.id
    if action == VIEW:
        return thread.status == "published" or own or moderator
    if action == REPLY:
        if thread.status != "published":
            return False
        return moderator or not thread.locked
    return False


def can_post(user, action: str, post) -> bool:
    thread = post.thread
    if not can_thread(user, VIEW, thread):
        return False
    moderator = can_moderate(user, thread.course)
    if action in (MODERATE, MANAGE):
        return moderator
    own = post.author_id == user.id
    if post.deleted_at is not None:
        return moderator and action == VIEW
    if action == VIEW:
        return post.status == "published" or own or moderator
    if action == EDIT:
        return moderator or (own and not thread.locked and post.status != "hidden")
    if action == DELETE:
        return moderator or own
    if action in (LIKE, REPORT):
        return post.status == "published" and not own
    return False
