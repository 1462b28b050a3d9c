"""Micro-lecture logic without request objects: uploads, transcode jobs, review, watching, listings.

Functions change the session and leave the commit to the caller, except the job runner, whose state
changes must be visible to other workers at once (media.jobs commits them).
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import false, func, select, text

from lms import events
from lms.audit import services as audit
from lms.courses import services as course_services
from lms.courses.models import Course, Lesson
from lms.extensions import db
from lms.quarantine import services as quarantine
from lms.timeutil import utcnow
from media import jobs as job_state
from media.ffmpeg import FFmpegCancelled, FFmpegError
from media.probe import ProbeError, probe
from media.storage import LocalStorage
from media.transcode import RUNGS, VerificationError, convert_subtitles, transcode
from plugins.microlecture.models import TOPICS, TranscodeJob, Upload, Video, ViewSession, WatchState

log = logging.getLogger(__name__)

VIDEO_TYPE = "video"
VIDEO_ACTIVITY = "https://w3id.org/xapi/video/activity-type/video"
VIDEO_PROFILE = "https://w3id.org/xapi/video"
EXT = "https://w3id.org/xapi/video/extensions/"
ALLOWED_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".3gp"}
SLACK_SECONDS = 5.0  # network jitter allowed on top of the wall clock
SEEK_TOLERANCE = 2.0
SCAN_KIND = "microlecture.video"  # lms.quarantine's name for these uploads


class MicrolectureError(ValueError):
    """A refused action; the message is a sentence for the user. `code` is the HTTP status to answer."""

    def __init__(self, message: str, code: int = 400, **extra):
        super().__init__(message)
        self.code = code
        self.extra = extra


def cfg(key: str):
    return current_app.config[f"MICROLECTURE_{key}"]


def storage() -> LocalStorage:
    root = current_app.config.get("MICROLECTURE_STORAGE_ROOT") or os.path.join(
        current_app.config["MEDIA_ROOT"], "microlecture")
    return LocalStorage(root)


def ladder_heights() -> list[int]:
    heights = [int(h) for h in cfg("LADDER")]
    if cfg("ENABLE_1080P") and 1080 not in heights:
        heights.insert(0, 1080)
    return [h for h in heights if h in RUNGS]


# --- lectures ------------------------------------------------------------------------------------
def video_for(lesson: Lesson, create: bool = True) -> Video | None:
    v = db.session.scalar(select(Video).where(Video.lesson_id == lesson.id))
    if v is None and create:
        v = Video(lesson_id=lesson.id, status="empty", topic="theory")
        v.lesson = lesson
        if lesson.course.teachers:  # the presenter shown on teacher pages; the editor can change it
            v.presenter_id = lesson.course.teachers[0].id
        db.session.add(v)
        db.session.flush()
    return v


def create_lecture(course: Course, title: str, topic: str, description: str, presenter) -> Video:
    """A new lesson of type video at the end of `course`, with its (empty) lecture."""
    lesson = course_services.add_lesson(course, title=title, type_key=VIDEO_TYPE)
    video = video_for(lesson)
    video.topic = topic if topic in TOPICS else "other"
    video.description = description.strip()
    video.presenter_id = presenter.id
    audit.log("microlecture.create", video, details={"lesson_id": lesson.id, "course_id": course.id})
    return video


# --- chunked resumable upload ------------------------------------------------------------------------
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\\u202a-\u202e\u2066-\u2069]")


def clean_filename(name: str) -> str:
    """The user's file name as metadata: no path, control or bidi characters, bounded."""
    name = _UNSAFE_NAME.sub("_", os.path.basename((name or "").replace("\\", "/"))).strip(" .")
    return (name or "video")[:200]


def start_upload(video: Video, user, filename: str, size: int) -> Upload:
    """Begin (or resume) an upload; an unfinished upload of the same name and size resumes."""
    filename = clean_filename(filename)
    ext = os.path.splitext(filename)[1].lower()
    if ext not in ALLOWED_EXTENSIONS:
        raise MicrolectureError(_("只能上传 MP4、MOV、MKV、WebM 视频文件。"), 415)
    if size <= 0:
        raise MicrolectureError(_("文件是空的（0 字节），请重新选择视频文件。"), 400)
    limit = int(cfg("MAX_UPLOAD_BYTES"))
    if size > limit:
        raise MicrolectureError(_("文件太大：最大允许 %(limit)s。", limit=human_size(limit)), 413)
    existing = db.session.scalar(
        select(Upload).where(Upload.video_id == video.id, Upload.user_id == user.id, Upload.state == "receiving",
                             Upload.filename == filename, Upload.size == size).order_by(Upload.id.desc())
    )
    if existing is not None:
        st = storage()
        on_disk = st.size(existing.part_key) if st.exists(existing.part_key) else 0
        existing.received = min(existing.received, on_disk)
        return existing
    _reserve_quota(user, video, size)
    for old in db.session.scalars(select(Upload).where(Upload.video_id == video.id, Upload.state == "receiving")):
        _drop_upload(old, "cancelled")
    up = Upload(token=secrets.token_hex(16), video_id=video.id, user_id=user.id, filename=filename, size=size,
                received=0, state="receiving")
    db.session.add(up)
    video.status = "uploading"
    db.session.flush()
    return up


# --- per-user quota (UP-02) --------------------------------------------------------------------------------
QUOTA_LOCK_NS = 0x6D6C  # first key of pg_advisory_xact_lock(ns, user id): "ml"


@dataclass
class QuotaUsage:
    bytes: int
    files: int
    bytes_limit: int  # 0: no limit
    files_limit: int

    def as_dict(self) -> dict:
        return {"bytes_used": self.bytes, "bytes_limit": self.bytes_limit, "files_used": self.files,
                "files_limit": self.files_limit}


def quota_usage(user_id: int, exclude_video_id: int | None = None) -> QuotaUsage:
    """What a person's uploads hold: uploads being received (their declared size is reserved) and accepted
    uploads whose original their video still keeps. Files a person no longer has do not count.
    """
    from sqlalchemy import and_, or_

    kept = and_(Upload.state == "accepted", Upload.stored_key.is_not(None),
                or_(Upload.stored_key == Video.original_key, Upload.stored_key == Video.previous_original_key))
    q = (select(func.coalesce(func.sum(Upload.size), 0), func.count(Upload.id))
         .join(Video, Video.id == Upload.video_id)
         .where(Upload.user_id == user_id, or_(Upload.state == "receiving", kept)))
    if exclude_video_id is not None:  # a new upload of a video cancels the unfinished one it replaces
        q = q.where(or_(Upload.video_id != exclude_video_id, Upload.state != "receiving"))
    used, files = db.session.execute(q).one()
    return QuotaUsage(int(used), int(files), int(cfg("QUOTA_BYTES") or 0), int(cfg("QUOTA_FILES") or 0))


def _lock_quota(user_id: int) -> None:
    """Serialise one person's upload starts until the end of the transaction, before the usage is read.

    PostgreSQL: an advisory lock per person (the next statement sees what the other start committed).
    SQLite: a write statement that changes nothing takes the database's single write lock.
    """
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:ns, :uid)"), {"ns": QUOTA_LOCK_NS, "uid": user_id})
    elif dialect == "sqlite":
        db.session.execute(text("DELETE FROM microlecture_upload WHERE 0"))


def _reserve_quota(user, video: Video, size: int) -> None:
    """Refuse (413) an upload that would take the person over MICROLECTURE_QUOTA_BYTES / _QUOTA_FILES.

    Checked and reserved in one locked step when the upload starts, so parallel starts cannot together
    exceed the quota, and a refused upload never writes a byte.
    """
    if not int(cfg("QUOTA_BYTES") or 0) and not int(cfg("QUOTA_FILES") or 0):
        return
    _lock_quota(user.id)
    usage = quota_usage(user.id, exclude_video_id=video.id)
    if usage.files_limit and usage.files + 1 > usage.files_limit:
        audit.log("microlecture.upload.quota", video, outcome="denied",
                  details={"size": size, "limit": "files", **usage.as_dict()})
        raise MicrolectureError(
            _("已达到视频文件数量上限（%(limit)s 个）：请先删除或替换不再需要的视频。", limit=usage.files_limit), 413,
            quota=usage.as_dict())
    if usage.bytes_limit and usage.bytes + size > usage.bytes_limit:
        audit.log("microlecture.upload.quota", video, outcome="denied",
                  details={"size": size, "limit": "bytes", **usage.as_dict()})
        raise MicrolectureError(
            _("上传空间不足：您已使用 %(used)s，共 %(limit)s，这个文件需要 %(size)s。",
              used=human_size(usage.bytes), limit=human_size(usage.bytes_limit), size=human_size(size)), 413,
            quota=usage.as_dict())


def _drop_upload(up: Upload, state: str, code: str | None = None, message: str | None = None) -> None:
    storage().delete(up.part_key)
    up.state, up.error_code, up.error = state, code, message


def receive_chunk(up: Upload, stream, offset: int, length: int | None) -> Upload:
    """Append one chunk at `offset` (must equal what we have). Length-limited while streaming."""
    if up.state != "receiving":
        raise MicrolectureError(_("这次上传已经结束，请重新选择文件上传。"), 409)
    if offset != up.received:
        raise MicrolectureError(_("上传位置不一致，将从断点继续。"), 409, received=up.received)
    chunk_limit = int(cfg("CHUNK_BYTES"))
    remaining = up.size - up.received
    limit = min(chunk_limit, remaining)
    if length is not None and length > limit:
        raise MicrolectureError(_("上传的分片太大。"), 413, received=up.received)
    try:
        written = storage().append(up.part_key, stream, offset, limit)
    except OverflowError as exc:
        raise MicrolectureError(_("上传的分片太大。"), 413, received=up.received) from exc
    if length is not None and written != length:
        # The connection dropped mid-chunk: cut the partial chunk off; the client resends it whole.
        storage().append(up.part_key, _Empty(), offset, 0)
        raise MicrolectureError(_("分片没有完整收到，请重试。"), 400, received=up.received)
    if written == 0 and remaining > 0:
        raise MicrolectureError(_("没有收到分片数据，请重试。"), 400, received=up.received)
    up.received += written
    return up


class _Empty:
    def read(self, _n):
        return b""


@dataclass
class Accepted:
    video: Video
    job: TranscodeJob


def finish_upload(up: Upload, user) -> Accepted:
    """All bytes are here: scan, probe, then accept (original kept, job queued) or reject with the reason.

    The malware scan (UP-09) comes first, before ffprobe reads a byte: a file it does not pass goes to the
    quarantine (state `quarantined`; never probed, transcoded or published) or, when the scanner failed and
    UPLOAD_SCAN_FAIL is "reject", is deleted (state `rejected`).
    """
    if up.received != up.size:
        raise MicrolectureError(_("文件还没有上传完。"), 409, received=up.received)
    video = up.video
    st = storage()
    verdict = quarantine.check(SCAN_KIND, path=str(st.path(up.part_key)), filename=up.filename, uploader=user,
                               ref=up.token, can_hold=True)
    if not verdict.ok:
        code = "infected" if verdict.result.status == "infected" else "scan_error"
        if verdict.action == "quarantine":
            up.state, up.error_code, up.error = "quarantined", code, verdict.message
        else:
            _drop_upload(up, "rejected", code, verdict.message)
        video.status = _resting_status(video)
        quarantine.record(verdict)
        raise MicrolectureError(verdict.message, 422, reason=code, quarantined=verdict.action == "quarantine")
    return _accept(up, user, verdict.scan)


def _accept(up: Upload, user, scan: str) -> Accepted:
    """Probe the received file, then keep it as the video's original and queue its transcode."""
    video = up.video
    st = storage()
    try:
        info = probe(str(st.path(up.part_key)), max_duration=float(cfg("MAX_DURATION_SECONDS")),
                     timeout=float(cfg("PROBE_TIMEOUT")))
    except ProbeError as exc:
        _drop_upload(up, "rejected", exc.code, str(exc))
        video.status = _resting_status(video)
        audit.log("microlecture.upload.reject", video, outcome="failure",
                  details={"upload": up.token, "reason": exc.code, "size": up.size})
        raise MicrolectureError(str(exc), 422, reason=exc.code) from exc
    video.version += 1
    ext = ".mkv" if info.forced_format == "matroska" else ".mp4"
    key = f"originals/{video.id}/{video.version}{ext}"
    st.move(up.part_key, key)
    if video.original_key and video.original_key != video.previous_original_key:
        # The rendition members watch may come from the older original: keep it until the new one succeeds.
        if video.previous_original_key and video.previous_original_key != video.original_key:
            st.delete(video.previous_original_key)
        video.previous_original_key = video.original_key
    video.original_key, video.original_name, video.original_size = key, up.filename, up.size
    up.stored_key = key
    video.source = info.as_dict()
    video.duration_seconds = info.duration
    up.state = "accepted"
    job = queue_transcode(video, user)
    audit.log("microlecture.upload.accept", video,
              details={"upload": up.token, "size": up.size, "duration": round(info.duration, 2),
                       "container": info.container, "name": up.filename, "scan": scan})
    return Accepted(video, job)


def release_quarantined(row, path: str):
    """lms.quarantine's release of a held upload: the file resumes where the scan stopped it (probe, accept,
    transcode). Returns what to run after the commit (queue the job), or None when the probe refused it."""
    from lms.accounts.models import User
    from lms.quarantine.services import QuarantineError

    up = db.session.scalar(select(Upload).where(Upload.token == row.ref))
    if up is None or up.state != "quarantined":
        raise QuarantineError(_("找不到这个文件对应的视频上传，无法放行。"))
    newer = db.session.scalar(select(func.count(Upload.id)).where(
        Upload.video_id == up.video_id, Upload.id > up.id, Upload.state == "accepted"))
    if newer:
        raise QuarantineError(_("这个视频之后已经上传并采用了新的文件，放行旧文件会覆盖它；请删除此文件。"))
    shutil.move(path, storage().ensure_parent(up.part_key))  # the quarantine may be on another filesystem
    up.state, up.error_code, up.error = "receiving", None, None
    try:
        accepted = _accept(up, db.session.get(User, up.user_id), "released")
    except MicrolectureError as exc:  # the probe refused it: the upload is rejected like any other
        log.info("released upload %s refused by the probe: %s", up.token, exc)
        return None
    return lambda: dispatch(accepted.job.id)


def _resting_status(video: Video) -> str:
    """The state to show when nothing is in progress."""
    if video.hls_key and video.hls_key == video.published_hls_key:
        return "published"
    if video.hls_key:
        return "returned" if video.review_note and video.reviewed_at and not video.submitted_at else "awaiting_review"
    return "failed" if video.original_key else "empty"


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return str(n)


# --- transcode jobs ----------------------------------------------------------------------------------
def active_job(video: Video) -> TranscodeJob | None:
    return db.session.scalar(
        select(TranscodeJob).where(TranscodeJob.video_id == video.id, TranscodeJob.state.in_(job_state.ACTIVE))
        .order_by(TranscodeJob.id.desc())
    )


def latest_job(video: Video) -> TranscodeJob | None:
    return db.session.scalar(
        select(TranscodeJob).where(TranscodeJob.video_id == video.id).order_by(TranscodeJob.id.desc())
    )


def queue_transcode(video: Video, user) -> TranscodeJob:
    """A job for the newest original (an active one for an older original is cancelled)."""
    if not video.original_key:
        raise MicrolectureError(_("还没有上传视频。"), 409)
    now = utcnow()
    for old in db.session.scalars(select(TranscodeJob).where(TranscodeJob.video_id == video.id,
                                                             TranscodeJob.state.in_(job_state.ACTIVE))):
        job_state.cancel(db.session, TranscodeJob, old.id, now)
    job = TranscodeJob(video_id=video.id, source_key=video.original_key, version=video.version,
                       heights=ladder_heights(), state="queued", max_attempts=int(cfg("MAX_ATTEMPTS")),
                       requested_by_id=getattr(user, "id", None), queued_at=now)
    db.session.add(job)
    video.status = "processing"
    db.session.flush()
    return job


def dispatch(job_id: int, delay: float | None = None) -> None:
    """Hand the job to the queue (after the caller committed the job row)."""
    from plugins.microlecture.tasks import transcode_task

    if delay:
        transcode_task.schedule((job_id,), delay=delay)
    else:
        transcode_task(job_id)


def _stopped_outcome(job_id: int) -> str:
    """Why a delivery lost its job: cancelled by a teacher (possibly just as ffmpeg finished, between two
    checks) or taken over by another delivery."""
    state = db.session.scalar(select(TranscodeJob.state).where(TranscodeJob.id == job_id))
    return "cancelled" if state == job_state.CANCELLED else "lost"


def cancel_job(job: TranscodeJob, user) -> bool:
    ok = job_state.cancel(db.session, TranscodeJob, job.id, utcnow())
    if ok:
        db.session.refresh(job)
        job.video.status = "cancelled"
        audit.log("microlecture.transcode.cancel", job.video, details={"job": job.id})
    return ok


def run_job(job_id: int) -> str:
    """Run one delivery of a job: claim, transcode into a work dir, verify, publish atomically.

    Returns the outcome: done | skipped | retry | failed | cancelled | lost.
    """
    session = db.session
    attempt = job_state.claim(session, TranscodeJob, job_id, utcnow())
    if attempt is None:
        log.info("transcode job %s: not queued any more, delivery skipped", job_id)
        return "skipped"
    job = session.get(TranscodeJob, job_id)
    video = job.video
    st = storage()
    work = st.make_work_dir(f"job{job.id}-a{attempt}")
    hb_every = float(cfg("HEARTBEAT_SECONDS"))
    state = {"pct": 0.0, "last": 0.0, "lost": False}

    import time

    def on_percent(pct: float) -> None:  # called from ffmpeg's progress reader thread: no DB here
        state["pct"] = pct

    def should_stop() -> bool:  # called in this thread about once a second
        now = time.monotonic()
        if now - state["last"] >= hb_every:
            state["last"] = now
            if not job_state.heartbeat(session, TranscodeJob, job_id, attempt, utcnow(), state["pct"]):
                state["lost"] = True
        return state["lost"]

    log.info("transcode job %s attempt %s: %s", job_id, attempt, job.source_key)
    try:
        src = str(st.path(job.source_key))
        info = probe(src, max_duration=float(cfg("MAX_DURATION_SECONDS")), timeout=float(cfg("PROBE_TIMEOUT")))
        result = transcode(src, str(st.path(work)), info, heights=job.heights or ladder_heights(),
                           on_percent=on_percent, should_stop=should_stop,
                           memory_bytes=int(cfg("FFMPEG_MEMORY_BYTES")) or None)
    except FFmpegCancelled:
        st.delete(work)
        session.rollback()
        log.info("transcode job %s attempt %s stopped (cancelled or taken over)", job_id, attempt)
        return "cancelled"
    except ProbeError as exc:
        st.delete(work)
        return _fail(job_id, attempt, f"{exc.code}: {exc}", retry=False)
    except (FFmpegError, VerificationError, OSError) as exc:
        st.delete(work)
        detail = f"{exc}\n{getattr(exc, 'stderr_tail', '')}".strip()
        return _fail(job_id, attempt, detail, retry=True)
    except Exception as exc:  # never leave a job running because of an unexpected error
        st.delete(work)
        log.exception("transcode job %s failed unexpectedly", job_id)
        return _fail(job_id, attempt, f"{type(exc).__name__}: {exc}", retry=True)

    final = f"hls/{video.id}/{job.version}-{job.id}"
    # Still ours? Then publish with one rename and record it in the same breath.
    if not job_state.heartbeat(session, TranscodeJob, job_id, attempt, utcnow(), 100.0):
        st.delete(work)
        return _stopped_outcome(job_id)
    st.publish_dir(work, final)
    now = utcnow()
    if not job_state.finish(session, TranscodeJob, job_id, attempt, job_state.DONE, now, commit=False,
                            output_key=final):
        session.rollback()
        st.delete(final)
        return "lost"
    video = session.get(Video, job.video_id)
    old_hls = video.hls_key
    video.hls_key = final
    video.renditions = result.rungs
    video.sprite = result.sprite
    video.duration_seconds = info.duration
    video.source = info.as_dict()
    video.status = "awaiting_review"
    video.submitted_at = now
    video.review_note = None
    if video.lesson.duration_seconds is None or not video.published_hls_key:
        video.lesson.duration_seconds = int(round(info.duration))
    if video.previous_original_key and video.previous_original_key != video.original_key and \
            not video.published_hls_key:
        st.delete(video.previous_original_key)
        video.previous_original_key = None
    audit.log("microlecture.transcode.done", video, actor=None,
              details={"job": job_id, "attempt": attempt, "rungs": [r["name"] for r in result.rungs]})
    session.commit()
    if old_hls and old_hls not in (final, video.published_hls_key):
        st.delete(old_hls)
    log.info("transcode job %s done: %s", job_id, final)
    return "done"


def _fail(job_id: int, attempt: int, detail: str, retry: bool) -> str:
    session = db.session
    session.rollback()
    job = session.get(TranscodeJob, job_id)
    again = retry and attempt < job.max_attempts
    now = utcnow()
    if again:
        ok = job_state.finish(session, TranscodeJob, job_id, attempt, job_state.QUEUED, now, error=detail[:4000])
        if ok:
            delay = float(cfg("RETRY_DELAY_SECONDS")) * attempt
            log.warning("transcode job %s attempt %s failed, retry in %.0f s: %s", job_id, attempt, delay,
                        detail.splitlines()[0] if detail else "")
            dispatch(job_id, delay=delay)
        return "retry"
    ok = job_state.finish(session, TranscodeJob, job_id, attempt, job_state.FAILED, now, error=detail[:4000],
                          commit=False)
    if ok:
        video = session.get(Video, job.video_id)
        video.status = "failed"
        audit.log("microlecture.transcode.failed", video, actor=None, outcome="failure",
                  details={"job": job_id, "attempt": attempt, "reason": detail.splitlines()[0][:200] if detail else ""})
    session.commit()
    log.warning("transcode job %s failed for good: %s", job_id, detail.splitlines()[0] if detail else "")
    return "failed"


def reap(now=None) -> dict:
    """Requeue jobs of dead workers, redeliver lost queue messages, sweep dead attempts' work dirs."""
    now = now or utcnow()
    stale = float(cfg("STALE_SECONDS"))
    requeued, failed = job_state.reap(db.session, TranscodeJob, now, stale)
    for job_id in failed:
        job = db.session.get(TranscodeJob, job_id)
        job.video.status = "failed"
        audit.log("microlecture.transcode.failed", job.video, actor=None, outcome="failure",
                  details={"job": job_id, "reason": "worker stopped responding"})
    # A queued job nobody took for a long time lost its queue message (e.g. a Redis restart): deliver again.
    # A second delivery is harmless: only one can claim the job.
    forgotten = list(db.session.scalars(select(TranscodeJob.id).where(
        TranscodeJob.state == job_state.QUEUED, TranscodeJob.queued_at < now - timedelta(seconds=stale * 10),
        TranscodeJob.id.not_in(requeued or [-1]))))
    for job_id in forgotten:
        db.session.get(TranscodeJob, job_id).queued_at = now
    db.session.commit()
    for job_id in requeued + forgotten:
        dispatch(job_id)
    expired = expire_uploads(now)
    running = {f"job{j}-a{a}" for j, a in db.session.execute(
        select(TranscodeJob.id, TranscodeJob.attempt).where(TranscodeJob.state == job_state.RUNNING))}
    st = storage()
    keep = {f"tmp/{name}" for name in st.list_dir("tmp") if name.rsplit("-", 1)[0] in running}
    swept = st.sweep_tmp(keep, older_than=stale)
    if requeued or failed or swept or expired:
        log.info("reaper: requeued %s, failed %s, swept %s, expired uploads %s", requeued, failed, swept, expired)
    return {"requeued": requeued, "failed": failed, "redelivered": forgotten, "swept": swept,
            "expired_uploads": expired}


def expire_uploads(now=None) -> list[str]:
    """Unfinished uploads nobody resumed within MICROLECTURE_UPLOAD_EXPIRY_HOURS: their bytes go."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=float(cfg("UPLOAD_EXPIRY_HOURS")))
    gone = []
    for up in db.session.scalars(select(Upload).where(Upload.state == "receiving", Upload.updated_at < cutoff)):
        _drop_upload(up, "expired")
        if up.video.status == "uploading":
            up.video.status = _resting_status(up.video)
        gone.append(up.token)
    db.session.commit()
    return gone


# --- subtitles -------------------------------------------------------------------------------------------
def attach_subtitles(video: Video, file_storage, label: str) -> None:
    """Store an SRT or WebVTT upload as WebVTT; a file ffmpeg cannot parse is refused."""
    st = storage()
    data = file_storage.read(2 * 1024 * 1024 + 1)
    if len(data) > 2 * 1024 * 1024:
        raise MicrolectureError(_("字幕文件太大（最大 2 MB）。"), 413)
    if not data.strip():
        raise MicrolectureError(_("字幕文件是空的。"), 400)
    work = st.make_work_dir(f"subs{video.id}")
    try:
        src = st.path(f"{work}/in.txt")
        src.write_bytes(data)
        convert_subtitles(str(src), str(st.path(f"{work}/out.vtt")))
        key = f"subs/{video.id}/{secrets.token_hex(6)}.vtt"
        st.move(f"{work}/out.vtt", key)
    except FFmpegError as exc:
        raise MicrolectureError(_("无法读取字幕文件：请上传 SRT 或 WebVTT 格式（UTF-8 编码）。"), 400) from exc
    finally:
        st.delete(work)
    if video.subtitle_key:
        st.delete(video.subtitle_key)
    video.subtitle_key, video.subtitle_label = key, (label or _("中文")).strip()[:64]
    audit.log("microlecture.subtitles", video, details={"label": video.subtitle_label})


def remove_subtitles(video: Video) -> None:
    if video.subtitle_key:
        storage().delete(video.subtitle_key)
    video.subtitle_key = video.subtitle_label = None
    audit.log("microlecture.subtitles.remove", video)


# --- review -----------------------------------------------------------------------------------------
def approve(video: Video, reviewer, note: str = "") -> None:
    if video.status != "awaiting_review" or not video.hls_key:
        raise MicrolectureError(_("这个微课当前不在待审核状态。"), 409)
    st = storage()
    old = video.published_hls_key
    now = utcnow()
    video.published_hls_key = video.hls_key
    video.published_duration = video.duration_seconds
    video.lesson.duration_seconds = int(round(video.duration_seconds or 0)) or video.lesson.duration_seconds
    video.status = "published"
    video.reviewed_by_id, video.reviewed_at, video.review_note = reviewer.id, now, (note or "").strip() or None
    video.published_at = video.published_at or now
    if video.previous_original_key and video.previous_original_key != video.original_key:
        st.delete(video.previous_original_key)
        video.previous_original_key = None
    audit.log("microlecture.review.approve", video, details={"rendition": video.hls_key, "note": note[:500]})
    if old and old != video.hls_key:
        st.delete(old)


def send_back(video: Video, reviewer, note: str) -> None:
    note = (note or "").strip()
    if not note:
        raise MicrolectureError(_("退回时请写明原因，方便老师修改。"), 400)
    if video.status != "awaiting_review":
        raise MicrolectureError(_("这个微课当前不在待审核状态。"), 409)
    video.status = "returned"
    video.submitted_at = None
    video.reviewed_by_id, video.reviewed_at, video.review_note = reviewer.id, utcnow(), note
    audit.log("microlecture.review.return", video, details={"rendition": video.hls_key, "note": note[:500]})


def resubmit(video: Video) -> None:
    if video.status != "returned" or not video.hls_key:
        raise MicrolectureError(_("只有被退回的微课可以重新提交审核。"), 409)
    video.status = "awaiting_review"
    video.submitted_at = utcnow()
    audit.log("microlecture.review.resubmit", video)


def review_queue(user):
    """Lectures awaiting review that `user` may review (sysadmin: all; reviewer: their units' courses)."""
    from lms.org.services import subtree_ids_query

    q = select(Video).join(Lesson, Lesson.id == Video.lesson_id).join(Course, Course.id == Lesson.course_id).where(
        Video.status == "awaiting_review")
    if not user.is_sysadmin:
        roots = user.role_units("reviewer")
        if not roots:
            return select(Video).where(false())
        conds = [Course.owner_unit_id.in_(subtree_ids_query(r)) for r in roots]
        from sqlalchemy import or_

        q = q.where(or_(*conds))
    return q.order_by(Video.submitted_at)


# --- watching rules and progress -----------------------------------------------------------------------
@dataclass
class Rules:
    no_seek: bool = True  # 禁止拖动: no seeking beyond the furthest point until complete
    max_speed: float = 2.0
    pause_hidden: bool = True
    presence_minutes: int = 0  # 防挂机: 0 = off
    threshold: float = 0.95

    def as_dict(self) -> dict:
        return dict(self.__dict__)


SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def rules_for(course: Course) -> Rules:
    raw = (course.settings or {}).get("video") or {}
    r = Rules(threshold=float(cfg("COMPLETION_THRESHOLD")))
    if "no_seek" in raw:
        r.no_seek = bool(raw["no_seek"])
    if "max_speed" in raw:
        r.max_speed = min(2.0, max(1.0, float(raw["max_speed"])))
    if "pause_hidden" in raw:
        r.pause_hidden = bool(raw["pause_hidden"])
    if "presence_minutes" in raw:
        r.presence_minutes = max(0, min(120, int(raw["presence_minutes"])))
    if "threshold" in raw:
        r.threshold = min(1.0, max(0.5, float(raw["threshold"])))
    return r


def save_rules(course: Course, rules: Rules) -> None:
    settings = dict(course.settings or {})
    settings["video"] = rules.as_dict()
    course.settings = settings
    audit.log("microlecture.rules", course, target_type="course", details=rules.as_dict())


def merge_segments(segments) -> list[list[float]]:
    """Union of [from, to] ranges (overlaps counted once), sorted; the xAPI Video Profile's algorithm."""
    out: list[list[float]] = []
    for a, b in sorted((float(s[0]), float(s[1])) for s in segments if float(s[1]) > float(s[0])):
        if out and a <= out[-1][1] + 0.05:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [[round(a, 3), round(b, 3)] for a, b in out]


def covered(segments) -> float:
    return sum(b - a for a, b in merge_segments(segments))


def segments_str(segments) -> str:
    return "[,]".join(f"{a:g}[.]{b:g}" for a, b in merge_segments(segments))


def watch_state(user, lesson: Lesson, create: bool = False) -> WatchState | None:
    w = db.session.scalar(select(WatchState).where(WatchState.user_id == user.id, WatchState.lesson_id == lesson.id))
    if w is None and create:
        w = WatchState(user_id=user.id, lesson_id=lesson.id, registration=str(uuid.uuid4()), segments=[],
                       furthest=0.0, position=0.0)
        db.session.add(w)
        db.session.flush()
    return w


def playable_key(video: Video, user) -> str | None:
    """Which rendition `user` is shown: the approved one; managers and reviewers the newest."""
    from lms.authz import can
    from plugins.microlecture.permissions import PREVIEW

    if video.hls_key and can(user, PREVIEW, video):
        return video.hls_key
    return video.published_hls_key


def _duration(video: Video, user) -> float:
    key = playable_key(video, user)
    if key and key == video.published_hls_key and video.published_duration:
        return float(video.published_duration)
    return float(video.duration_seconds or 0)


def _statement(user, video: Video, verb: str, watch: WatchState, sess: ViewSession | None, rules: Rules,
               result_ext: dict | None = None, result: dict | None = None, with_length: bool = True) -> None:
    lesson = video.lesson
    ctx_ext = {EXT + "session-id": sess.id if sess else None}
    if with_length:
        ctx_ext[EXT + "length"] = round(_duration(video, user), 3)
    if rules.threshold != 1:
        ctx_ext[EXT + "completion-threshold"] = round(rules.threshold, 3)
    res = dict(result or {})
    if result_ext:
        res["extensions"] = result_ext
    events.record(events.LearningEvent(
        user=user, verb=verb,
        object_id=events.activity_iri("video", video.id),
        object_type=VIDEO_ACTIVITY,
        object_name={"zh-CN": lesson.title},
        result=res or None,
        context={
            "registration": watch.registration,
            "contextActivities": {
                "category": [{"id": VIDEO_PROFILE, "definition": {"type": "http://adlnet.gov/expapi/activities/profile"}}],
                "parent": [{"id": events.activity_iri("lesson", lesson.id)}],
            },
            "extensions": {k: v for k, v in ctx_ext.items() if v is not None},
        },
        course_id=lesson.course_id, lesson_id=lesson.id,
    ))


def start_session(user, video: Video) -> tuple[ViewSession, WatchState, Rules]:
    lesson = video.lesson
    rules = rules_for(lesson.course)
    watch = watch_state(user, lesson)
    if watch is None:
        watch = watch_state(user, lesson, create=True)
        video.view_count = (video.view_count or 0) + 1
    sess = ViewSession(id=uuid.uuid4().hex, user_id=user.id, lesson_id=lesson.id, started_at=utcnow(),
                       last_event_at=utcnow(), speed=1.0)
    db.session.add(sess)
    db.session.flush()
    _statement(user, video, "initialized", watch, sess, rules)
    return sess, watch, rules


def get_session(sid: str, user) -> ViewSession | None:
    sess = db.session.get(ViewSession, sid) if sid and re.fullmatch(r"[0-9a-f]{32}", sid) else None
    if sess is None or sess.user_id != user.id:
        return None
    return sess


def handle_event(user, video: Video, sess: ViewSession, verb: str, data: dict) -> dict:
    """Apply one player event; the server decides what counts. Returns the state for the player."""
    if sess.ended_at is not None:
        raise MicrolectureError(_("这次观看已结束，请刷新页面继续学习。"), 409)
    lesson = video.lesson
    rules = rules_for(lesson.course)
    watch = watch_state(user, lesson, create=True)
    duration = _duration(video, user)
    if duration <= 0:
        raise MicrolectureError(_("视频还不能播放。"), 409)
    now = utcnow()

    def num(name, default=None):
        value = data.get(name, default)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise MicrolectureError(_("请求数据有误：%(field)s 不是数字。", field=name), 400) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise MicrolectureError(_("请求数据有误：%(field)s 不是数字。", field=name), 400)
        return min(duration, max(0.0, value))

    completed = watch.completed_at is not None
    counted_before = sess.counted_seconds or 0.0
    speed = data.get("speed", sess.speed)
    try:
        speed = min(rules.max_speed, max(0.25, float(speed)))
    except (TypeError, ValueError):
        speed = 1.0

    def close(at: float) -> float:
        """End the open segment at `at`, accepting only what the session's wall clock allows."""
        if sess.open_from is None:
            return 0.0
        start, end = sess.open_from, at
        sess.open_from = None
        if end <= start:
            return 0.0
        elapsed = (now - sess.started_at).total_seconds()
        budget = elapsed * rules.max_speed + SLACK_SECONDS - sess.accepted_seconds
        length = min(end - start, max(0.0, budget))
        if length <= 0:
            return 0.0
        sess.accepted_seconds += length
        sess.counted_seconds += length / max(sess.speed or 1.0, 0.25)
        watch.segments = merge_segments(list(watch.segments or []) + [[start, start + length]])
        watch.furthest = max(watch.furthest or 0.0, start + length)
        return length

    def may_reach(t: float) -> bool:
        return completed or not rules.no_seek or t <= (watch.furthest or 0.0) + SEEK_TOLERANCE

    refused = None
    if verb == "played":
        t = num("time")
        close(t)
        if not may_reach(t):
            refused = watch.furthest
        else:
            sess.open_from, sess.speed = t, speed
            _statement(user, video, "played", watch, sess, rules, {EXT + "time": round(t, 3)}, with_length=False)
        watch.position = min(t, watch.furthest or 0.0) if refused is not None else t
    elif verb in ("paused", "ended", "terminated", "progress"):
        t = num("time")
        close(t)
        watch.position = t if verb != "ended" else 0.0
        if verb == "progress" and data.get("playing"):
            if may_reach(t):
                sess.open_from, sess.speed = t, speed
            else:
                refused = watch.furthest
        if verb in ("paused", "terminated"):
            _statement(user, video, verb, watch, sess, rules, {
                EXT + "time": round(t, 3), EXT + "progress": round(min(1.0, covered(watch.segments) / duration), 3),
                EXT + "played-segments": segments_str(watch.segments)})
        if verb == "terminated":
            sess.ended_at = now
    elif verb == "seeked":
        t_from, t_to = num("time_from"), num("time_to")
        close(t_from)
        if not may_reach(t_to):
            refused = watch.furthest
            watch.position = watch.furthest or 0.0
        else:
            _statement(user, video, "seeked", watch, sess, rules,
                       {EXT + "time-from": round(t_from, 3), EXT + "time-to": round(t_to, 3)}, with_length=False)
            watch.position = t_to
            if data.get("playing"):
                sess.open_from, sess.speed = t_to, speed
    else:
        raise MicrolectureError(_("未知的播放事件。"), 400)

    sess.last_event_at = now
    progress = min(1.0, covered(watch.segments) / duration)
    newly_counted = int(sess.counted_seconds or 0.0) - int(counted_before)
    just_completed = progress >= rules.threshold and watch.completed_at is None
    if just_completed:
        watch.completed_at = now
    course_services.update_progress(user, lesson, progress=progress, add_seconds=max(0, newly_counted),
                                    position_seconds=watch.position, complete=just_completed)
    if just_completed:
        _statement(user, video, "completed", watch, sess, rules, {
            EXT + "time": round(watch.position, 3), EXT + "progress": round(progress, 3),
            EXT + "played-segments": segments_str(watch.segments)},
            result={"completion": True, "duration": _iso(sess.counted_seconds)})
    out = player_state(watch, duration, rules)
    if refused is not None:
        out["refused"] = True
        out["message"] = _("完成本课之前，不能拖动到还没看过的位置。")
    return out


def player_state(watch: WatchState | None, duration: float, rules: Rules) -> dict:
    segs = list(watch.segments or []) if watch else []
    return {
        "progress": round(min(1.0, covered(segs) / duration), 3) if duration else 0.0,
        "furthest": round(watch.furthest, 3) if watch else 0.0,
        "position": round(watch.position, 3) if watch else 0.0,
        "completed": bool(watch and watch.completed_at),
        "segments": segs,
    }


def _iso(seconds: float) -> str:
    return f"PT{max(0.0, seconds):.2f}S"


# --- the 思政微课堂 area ------------------------------------------------------------------------------
def public_lectures(topic: str | None = None, sort: str = "new", presenter_id: int | None = None):
    """Approved lectures of published lessons in published courses."""
    q = select(Video).join(Lesson, Lesson.id == Video.lesson_id).join(Course, Course.id == Lesson.course_id).where(
        Video.published_hls_key.is_not(None), Lesson.status == "published", Course.status == "published")
    if topic:
        q = q.where(Video.topic == topic)
    if presenter_id:
        q = q.where(Video.presenter_id == presenter_id)
    if sort == "popular":
        q = q.order_by(Video.view_count.desc(), Video.published_at.desc())
    else:
        q = q.order_by(Video.published_at.desc(), Video.id.desc())
    return q


def teachers_with_lectures():
    from lms.accounts.models import User

    q = (select(User, func.count(Video.id)).join(Video, Video.presenter_id == User.id)
         .join(Lesson, Lesson.id == Video.lesson_id).join(Course, Course.id == Lesson.course_id)
         .where(Video.published_hls_key.is_not(None), Lesson.status == "published", Course.status == "published")
         .group_by(User.id).order_by(func.count(Video.id).desc()))
    return list(db.session.execute(q))


def managed_lectures(user):
    """Lectures of the courses `user` teaches or administers, newest first."""
    from lms.authz import MANAGE, can

    rows = db.session.scalars(select(Video).join(Lesson, Lesson.id == Video.lesson_id).order_by(Video.updated_at.desc()))
    return [v for v in rows if can(user, MANAGE, v.lesson)]


def managed_courses(user) -> list[Course]:
    from lms.authz import MANAGE, can

    return [c for c in db.session.scalars(select(Course).where(Course.status != "archived").order_by(Course.title))
            if can(user, MANAGE, c)]
