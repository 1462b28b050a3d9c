"""Who may watch, manage and review a micro-lecture (reached through `lms.authz.can(user, action, video)`)."""
from __future__ import annotations

from lms.authz import MANAGE, VIEW, can

REVIEW = "review"
PREVIEW = "preview"  # watch the newest, not yet approved rendition


def can_review(user, video) -> bool:
    """Reviewers review lectures of courses owned inside their org unit; system administrators all."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_sysadmin:
        return True
    unit = video.lesson.course.owner_unit_id
    if unit is None:
        return False
    from lms.org.services import is_within

    return any(is_within(unit, root) for root in user.role_units("reviewer"))


def can_video(user, action: str, video) -> bool:
    lesson = video.lesson
    if action == MANAGE:
        return can(user, MANAGE, lesson)
    if action == REVIEW:
        return can_review(user, video)
    if action == PREVIEW:
        return can(user, MANAGE, lesson) or can_review(user, video)
    if action == VIEW:
        if can(user, MANAGE, lesson) or can_review(user, video):
            return True
        return video.is_live and can(user, VIEW, lesson)
    return False
