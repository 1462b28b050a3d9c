"""Who may see and manage courses and lessons (called through `lms.authz.can`)."""
from __future__ import annotations

from lms.authz import MANAGE, VIEW


def _is_teacher(user, course) -> bool:
    return any(t.id == user.id for t in course.teachers)


def _admin_of(user, course) -> bool:
    from lms.org.services import is_within

    if user.is_sysadmin:
        return True
    if course.owner_unit_id is None:
        return False
    return any(is_within(course.owner_unit_id, u) for u in user.role_units("org_admin"))


def can_course(user, action: str, course) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if action == VIEW:
        return course.is_published or _is_teacher(user, course) or _admin_of(user, course)
    if action in (MANAGE, "teach"):
        return _is_teacher(user, course) or _admin_of(user, course)
    return False


def can_lesson(user, action: str, lesson) -> bool:
    course = lesson.course
    if action == VIEW:
        if can_course(user, MANAGE, course):
            return True
        return course.is_published and lesson.status == "published"
    return can_course(user, action, course)
