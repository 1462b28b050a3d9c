"""Course logic without request objects: enrolment, progress and completion (no commits here)."""
from __future__ import annotations

from flask_babel import gettext as _
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


# --- catalog, "我的学习", outline ------------------------------------------------------------------
class CourseError(ValueError):
    """A course change that cannot be made; the message is for the user."""

    verdict = None  # a cover the malware scan did not pass (lms.quarantine.Verdict): its rows are kept


def catalog_query(q: str = "", category: str = ""):
    """Published courses matching a search text (title/summary) and category, newest first."""
    from lms.courses.models import CATEGORIES

    stmt = select(Course).where(Course.status == "published")
    q = (q or "").strip()[:100]
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(Course.title.ilike(like, escape="\\") | Course.summary.ilike(like, escape="\\"))
    if category and category in CATEGORIES:
        stmt = stmt.where(Course.category == category)
    return stmt.order_by(Course.published_at.desc().nulls_last(), Course.id.desc())


def lesson_counts(course_ids: list[int]) -> dict[int, int]:
    """Published lessons per course (one query)."""
    if not course_ids:
        return {}
    rows = db.session.execute(
        select(Lesson.course_id, func.count(Lesson.id))
        .where(Lesson.course_id.in_(course_ids), Lesson.status == "published")
        .group_by(Lesson.course_id)
    ).all()
    return {cid: n for cid, n in rows}


def get_enrollment(user, course: Course) -> Enrollment | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalar(
        select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.course_id == course.id)
    )


def progress_map(user, course: Course) -> dict[int, LessonProgress]:
    rows = db.session.scalars(
        select(LessonProgress).where(LessonProgress.user_id == user.id, LessonProgress.course_id == course.id)
    )
    return {p.lesson_id: p for p in rows}


def outline(course: Course, include_drafts: bool = False) -> list[tuple]:
    """[(chapter or None, [lessons])] in reading order; lessons without a chapter come last."""
    visible = [ls for ls in course.lessons if include_drafts or ls.status == "published"]
    sections = []
    for ch in course.chapters:
        sections.append((ch, [ls for ls in visible if ls.chapter_id == ch.id]))
    loose = [ls for ls in visible if ls.chapter_id is None]
    if loose:
        sections.append((None, loose))
    return sections


def ordered_lessons(course: Course, include_drafts: bool = False) -> list[Lesson]:
    return [ls for _ch, lessons in outline(course, include_drafts) for ls in lessons]


def neighbours(lesson: Lesson, include_drafts: bool = False) -> tuple[Lesson | None, Lesson | None]:
    seq = ordered_lessons(lesson.course, include_drafts)
    ids = [ls.id for ls in seq]
    if lesson.id not in ids:
        return None, None
    i = ids.index(lesson.id)
    return (seq[i - 1] if i > 0 else None), (seq[i + 1] if i + 1 < len(seq) else None)


def next_to_study(user, course: Course) -> Lesson | None:
    done = {lid for lid, p in progress_map(user, course).items() if p.is_completed}
    seq = ordered_lessons(course)
    for ls in seq:
        if ls.id not in done:
            return ls
    return seq[0] if seq else None


def my_enrollments(user) -> list[Enrollment]:
    return list(
        db.session.scalars(
            select(Enrollment).join(Course, Course.id == Enrollment.course_id)
            .where(Enrollment.user_id == user.id, Course.status != "draft")
            .order_by(Enrollment.completed_at.is_not(None), Enrollment.enrolled_at.desc())
        )
    )


def managed_courses_query(user):
    """Courses `user` may edit: those they teach, those owned in their org-admin subtree, all for sysadmins."""
    from lms.courses.models import course_teacher
    from lms.org.models import OrgUnitClosure

    stmt = select(Course)
    if user.is_sysadmin:
        return stmt.order_by(Course.updated_at.desc())
    taught = select(course_teacher.c.course_id).where(course_teacher.c.user_id == user.id)
    cond = Course.id.in_(taught)
    roots = user.role_units("org_admin")
    if roots:
        units = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id.in_(roots))
        cond = cond | Course.owner_unit_id.in_(units)
    return stmt.where(cond).order_by(Course.updated_at.desc())


# --- covers ----------------------------------------------------------------------------------------
COVER_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
COVER_SCAN_KIND = "courses.cover"  # lms.quarantine's name for these uploads


def sniff_image(head: bytes) -> str | None:
    """The image type from the file's first bytes (never from its name or Content-Type)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def save_cover(stream, max_bytes: int, uploader=None) -> str:
    """Store an uploaded cover under MEDIA_ROOT with a generated name; returns the relative path."""
    import os
    import secrets
    from pathlib import Path

    from flask import current_app

    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CourseError(_("封面图片不能超过 %(n)s MB。", n=max_bytes // (1024 * 1024)))
    if not data:
        raise CourseError(_("上传的封面图片是空文件。"))
    ext = sniff_image(data[:16])
    if ext is None:
        raise CourseError(_("封面图片只支持 JPG、PNG 或 WebP 格式。"))
    from lms.quarantine import services as quarantine

    verdict = quarantine.check(COVER_SCAN_KIND, data=data, filename=f"cover.{ext}", uploader=uploader)  # UP-09
    if not verdict.ok:
        err = CourseError(verdict.message)
        err.verdict = verdict
        raise err
    rel = f"courses/covers/{secrets.token_hex(16)}.{ext}"
    target = Path(current_app.config["MEDIA_ROOT"]) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)
    return rel


def cover_file(course: Course):
    """(absolute path, mimetype) of a course cover, or None when there is none on disk."""
    from pathlib import Path

    from flask import current_app

    if not course.cover_path:
        return None
    root = Path(current_app.config["MEDIA_ROOT"]).resolve()
    path = (root / course.cover_path).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path, COVER_TYPES.get(path.suffix.lstrip("."), "application/octet-stream")


def remove_media(rel: str) -> None:
    """Delete a stored file under MEDIA_ROOT (never outside it); a missing file is not an error."""
    from pathlib import Path

    from flask import current_app

    root = Path(current_app.config["MEDIA_ROOT"]).resolve()
    path = (root / rel).resolve()
    if root in path.parents:
        path.unlink(missing_ok=True)


# --- teaching --------------------------------------------------------------------------------------
def publish(course: Course, user) -> None:
    from lms import audit

    if not any(ls.status == "published" and lesson_types.get(ls.type) for ls in course.lessons):
        raise CourseError(_("课程至少要有一个已发布且可用的课时，才能发布。"))
    if not course.title.strip():
        raise CourseError(_("课程名称不能为空。"))
    course.status = "published"
    if course.published_at is None:
        course.published_at = utcnow()
    audit.log("course.publish", course, actor=user)


def unpublish(course: Course, user) -> None:
    from lms import audit

    course.status = "draft"
    audit.log("course.unpublish", course, actor=user)


def add_chapter(course: Course, title: str):
    from lms.courses.models import Chapter

    pos = max([c.position for c in course.chapters] or [0]) + 1
    ch = Chapter(course_id=course.id, title=title.strip()[:200], position=pos)
    db.session.add(ch)
    course.chapters.append(ch)
    db.session.flush()
    return ch


def move_chapter(chapter, direction: int) -> None:
    seq = list(chapter.course.chapters)
    i = seq.index(chapter)
    j = i + (1 if direction > 0 else -1)
    if 0 <= j < len(seq):
        seq[i], seq[j] = seq[j], seq[i]
    for pos, ch in enumerate(seq, start=1):
        ch.position = pos
    db.session.flush()


def delete_chapter(chapter) -> None:
    """Delete a chapter; its lessons stay in the course without a chapter."""
    for ls in list(chapter.lessons):
        ls.chapter_id = None
    db.session.flush()
    course = chapter.course
    course.chapters.remove(chapter)
    db.session.delete(chapter)
    db.session.flush()


def add_lesson(course: Course, *, title: str, type_key: str, chapter=None, required: bool = True,
               status: str = "published") -> Lesson:
    lt = lesson_types.get(type_key)
    if lt is None:
        raise CourseError(_("该课时类型不可用。"))
    siblings = [ls for ls in course.lessons if ls.chapter_id == (chapter.id if chapter else None)]
    lesson = Lesson(course_id=course.id, chapter_id=chapter.id if chapter else None, title=title.strip()[:200],
                    type=type_key, required=required, status=status,
                    position=max([ls.position for ls in siblings] or [0]) + 1, settings={})
    db.session.add(lesson)
    course.lessons.append(lesson)
    db.session.flush()
    lt.on_create(lesson)
    db.session.flush()
    return lesson


def move_lesson(lesson: Lesson, direction: int) -> None:
    seq = [ls for ls in lesson.course.lessons if ls.chapter_id == lesson.chapter_id]
    seq.sort(key=lambda ls: (ls.position, ls.id))
    i = seq.index(lesson)
    j = i + (1 if direction > 0 else -1)
    if 0 <= j < len(seq):
        seq[i], seq[j] = seq[j], seq[i]
    for pos, ls in enumerate(seq, start=1):
        ls.position = pos
    db.session.flush()


def place_lesson(lesson: Lesson, chapter_id: int | None, position: int | None) -> None:
    """Put a lesson into a chapter (or none) at a 1-based position, renumbering its siblings."""
    lesson.chapter_id = chapter_id
    seq = [ls for ls in lesson.course.lessons if ls.chapter_id == chapter_id and ls.id != lesson.id]
    seq.sort(key=lambda ls: (ls.position, ls.id))
    idx = len(seq) if not position else max(0, min(len(seq), position - 1))
    seq.insert(idx, lesson)
    for pos, ls in enumerate(seq, start=1):
        ls.position = pos
    db.session.flush()


def refresh_all_enrollments(course: Course) -> None:
    """After lessons change, keep each enrolment's progress share in line with the counted lessons."""
    counted = counted_lessons(course)
    ids = [ls.id for ls in counted]
    for enr in db.session.scalars(select(Enrollment).where(Enrollment.course_id == course.id)):
        if not ids:
            continue
        done = db.session.scalar(
            select(func.count(LessonProgress.id)).where(
                LessonProgress.user_id == enr.user_id, LessonProgress.lesson_id.in_(ids),
                LessonProgress.status == "completed")
        ) or 0
        enr.progress = done / len(ids)
