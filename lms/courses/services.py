"""Course logic without request objects: enrolment, progress and completion (no commits here)."""
from __future__ import annotations

from sqlalchemy import func, select

from lms import events
from lms.courses import lesson_types
from lms.courses.models import Course, Enrollment, Lesson, LessonProgress
from lms.extensions import db
from lms.plugins import hook
from lms.timeutil import utcnow


def enroll(user, course: Course, source: str = "self") -> Enrollment:
    """Enrol `user` (idempotent); records a `registered` statement and fires `lms_event_enrolled`."""
    existing = db.session.scalar(
        select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.course_id == course.id)
    )
    if existing is not None:
        return existing
    enr = Enrollment(user_id=user.id, course_id=course.id, source=source)
    db.session.add(enr)
    db.session.flush()
    events.record(
        events.LearningEvent(
            user=user,
            verb="registered",
            object_id=events.activity_iri("course", course.id),
            object_type="http://adlnet.gov/expapi/activities/course",
            object_name={"zh-CN": course.title},
            course_id=course.id,
        )
    )
    hook().lms_event_enrolled(enrollment=enr)
    return enr


def get_progress(user, lesson: Lesson) -> LessonProgress | None:
    return db.session.scalar(
        select(LessonProgress).where(LessonProgress.user_id == user.id, LessonProgress.lesson_id == lesson.id)
    )


def counted_lessons(course: Course) -> list[Lesson]:
    """Published, required lessons whose type is available: these make a course complete."""
    types = lesson_types.registry()
    return [ls for ls in course.lessons if ls.status == "published" and ls.required and ls.type in types]


def update_progress(
    user,
    lesson: Lesson,
    *,
    progress: float | None = None,
    add_seconds: int = 0,
    position_seconds: float | None = None,
    score: float | None = None,
    success: bool | None = None,
    complete: bool = False,
) -> LessonProgress:
    """Record what a lesson type measured; completes the lesson (and the course) when told to.

    Progress never goes down; effective time only grows. Completion fires `lms_event_lesson_completed`
    and records a `completed` statement in the same transaction (the caller commits).
    """
    row = get_progress(user, lesson)
    now = utcnow()
    if row is None:
        enroll(user, lesson.course)
        row = LessonProgress(user_id=user.id, lesson_id=lesson.id, course_id=lesson.course_id, progress=0.0,
                             effective_seconds=0, started_at=now)
        db.session.add(row)
    if progress is not None:
        row.progress = max(row.progress or 0.0, min(1.0, max(0.0, float(progress))))
    if add_seconds:
        row.effective_seconds = (row.effective_seconds or 0) + max(0, int(add_seconds))
    if position_seconds is not None:
        row.position_seconds = max(0.0, float(position_seconds))
    if score is not None:
        row.score = score if row.score is None else max(row.score, score)
    if success is not None:
        row.success = bool(row.success) or success
    row.last_seen_at = now
    db.session.flush()
    if complete and row.status != "completed":
        row.status = "completed"
        row.progress = 1.0
        row.completed_at = now
        db.session.flush()
        result = {"completion": True}
        if row.effective_seconds:
            result["duration"] = _iso_duration(row.effective_seconds)
        events.record(
            events.LearningEvent(
                user=user,
                verb="completed",
                object_id=events.activity_iri("lesson", lesson.id),
                object_type="http://adlnet.gov/expapi/activities/lesson",
                object_name={"zh-CN": lesson.title},
                result=result,
                course_id=lesson.course_id,
                lesson_id=lesson.id,
            )
        )
        hook().lms_event_lesson_completed(progress=row)
        refresh_enrollment(user, lesson.course)
    return row


def refresh_enrollment(user, course: Course) -> Enrollment:
    """Recompute a person's course progress; completes the course when every counted lesson is done."""
    enr = enroll(user, course)
    counted = counted_lessons(course)
    if not counted:
        return enr
    done = db.session.scalar(
        select(func.count(LessonProgress.id)).where(
            LessonProgress.user_id == user.id,
            LessonProgress.lesson_id.in_([ls.id for ls in counted]),
            LessonProgress.status == "completed",
        )
    ) or 0
    enr.progress = done / len(counted)
    if done >= len(counted) and enr.completed_at is None:
        enr.completed_at = utcnow()
        db.session.flush()
        events.record(
            events.LearningEvent(
                user=user,
                verb="completed",
                object_id=events.activity_iri("course", course.id),
                object_type="http://adlnet.gov/expapi/activities/course",
                object_name={"zh-CN": course.title},
                result={"completion": True},
                course_id=course.id,
            )
        )
        hook().lms_event_course_completed(enrollment=enr)
    return enr


def _iso_duration(seconds: int) -> str:
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"PT{h}H{m}M{s}S"
