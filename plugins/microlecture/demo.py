"""Demo data of 思政微课堂: one micro-lecture whose video goes through the real pipeline.

`flask lms demo` makes a short clip with ffmpeg (test pattern and a tone, ~10 s, a few hundred KB), probes
it like an upload, keeps it as the lecture's original and queues a transcode job. The worker (`make run`
starts one) transcodes it; the demo reviewer then approves it, so members find a published lecture.
Idempotent: a lecture that is published, waiting for its job, or already transcoded is not made again.
Without a usable ffmpeg the lecture is skipped with the reason printed.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from lms.courses.models import Lesson
from lms.extensions import db
from media import ffmpeg
from media.probe import ProbeError, probe
from plugins.microlecture import services
from plugins.microlecture.models import Video

log = logging.getLogger(__name__)

COURSE, CHAPTER = "theory", 1
TITLE = "微课：新时代的伟大变革（演示视频）"
DESCRIPTION = ("演示用的十秒短片（测试图案与提示音）：由 flask lms demo 现场生成，经上传检查、多码率转码和审核后发布，"
               "可用来试用播放器、学习进度和防拖动规则。")
SECONDS = 10
APPROVAL_NOTE = "演示数据：自动审核通过"


def make_clip(path: str, seconds: int = SECONDS) -> None:
    """A lecture-like H.264/AAC MP4: ffmpeg's testsrc pattern with a 440 Hz tone (about 250 KB for 10 s)."""
    argv = ffmpeg.base_args() + [
        "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc=size=640x360:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-g", "50",
        "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart", path,
    ]
    ffmpeg.run(argv, ffmpeg.Limits(timeout=120, memory_bytes=1 << 30))


def load(demo) -> None:
    courses = getattr(demo, "courses", {}) or {}
    if COURSE not in courses:
        return
    course = courses[COURSE]
    lesson = db.session.scalar(select(Lesson).where(Lesson.course_id == course.id, Lesson.title == TITLE))
    video = services.video_for(lesson, create=False) if lesson is not None else None
    reviewer = (getattr(demo, "users", {}) or {}).get("reviewer")
    if video is not None and video.published_hls_key:
        return  # complete
    if video is not None and video.status == "awaiting_review" and video.hls_key:
        _approve(video, reviewer)  # transcoded by the worker after an earlier run, not yet approved
        if hasattr(demo, "count"):
            demo.count("micro-lectures published")
        return
    if video is not None and services.active_job(video) is not None:
        return  # the worker has it (or will: the reaper redelivers a forgotten queued job)

    st = services.storage()
    work = st.make_work_dir("demo")
    clip = f"{work}/demo-lecture.mp4"
    try:
        try:
            make_clip(str(st.path(clip)))
            info = probe(str(st.path(clip)), max_duration=float(services.cfg("MAX_DURATION_SECONDS")),
                         timeout=float(services.cfg("PROBE_TIMEOUT")))
        except (OSError, RuntimeError, ProbeError) as exc:
            # OSError: no binary at LMS_FFMPEG; RuntimeError: imageio-ffmpeg has none either, or ffmpeg failed
            # (FFmpegError, e.g. a build without libx264).
            reason = _reason(exc)
            log.warning("micro-lecture demo skipped: %s", reason)
            if hasattr(demo, "note"):
                demo.note(f"思政微课堂：演示微课已跳过，无法用 ffmpeg 生成视频 / demo micro-lecture skipped, "
                          f"ffmpeg could not make the clip: {reason}")
            return
        if lesson is None:
            lesson, _created = demo.lesson(COURSE, CHAPTER, TITLE, services.VIDEO_TYPE, required=True,
                                           status="published", settings={})
        video = services.video_for(lesson)
        video.topic, video.description = "theory", DESCRIPTION
        if video.original_key and not video.published_hls_key:
            st.delete(video.original_key)  # an earlier demo clip whose transcode failed
        video.version += 1
        key = f"originals/{video.id}/{video.version}.mp4"
        size = st.size(clip)
        st.move(clip, key)
    finally:
        st.delete(work)
    video.original_key, video.original_name, video.original_size = key, "演示微课.mp4", size
    video.source = info.as_dict()
    video.duration_seconds = info.duration
    job = services.queue_transcode(video, course.teachers[0] if course.teachers else None)
    if hasattr(demo, "count"):
        demo.count("micro-lecture videos queued")
    job_id, reviewer_id = job.id, getattr(reviewer, "id", None)

    def enqueue() -> None:
        from plugins.microlecture.tasks import demo_transcode_task

        demo_transcode_task(job_id, reviewer_id)

    if hasattr(demo, "after_commit"):
        demo.after_commit(enqueue)


def _reason(exc: BaseException) -> str:
    tail = (getattr(exc, "stderr_tail", "") or "").strip().splitlines()
    return tail[-1] if tail else (str(exc) or type(exc).__name__)


def _approve(video: Video, reviewer) -> bool:
    """The demo reviewer approves the transcoded lecture (audited like a reviewer's click)."""
    if reviewer is None or video.status != "awaiting_review" or not video.hls_key:
        return False
    services.approve(video, reviewer, note=APPROVAL_NOTE)
    return True


def transcode_and_publish(job_id: int, reviewer_id: int | None) -> str:
    """The worker's side: run the transcode job like any other, then approve the demo lecture."""
    from lms.accounts.models import User

    outcome = services.run_job(job_id)
    if outcome != "done":
        return outcome
    job = db.session.get(services.TranscodeJob, job_id)
    video = db.session.get(Video, job.video_id)
    reviewer = db.session.get(User, reviewer_id) if reviewer_id else None
    if _approve(video, reviewer):
        db.session.commit()
        log.info("demo micro-lecture %s published", video.id)
    return outcome
