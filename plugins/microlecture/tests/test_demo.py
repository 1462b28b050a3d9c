"""`flask lms demo` adds one published micro-lecture whose clip went through the real pipeline (ffmpeg: slow)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lms.audit.models import AuditLog
from lms.courses.models import Lesson
from plugins.microlecture.demo import APPROVAL_NOTE, TITLE
from plugins.microlecture.models import TranscodeJob, Video


def get(client, url):
    r = client.get(url)
    r.get_data()
    r.close()
    return r


@pytest.mark.slow
def test_demo_lecture_is_transcoded_approved_and_plays(app, db, client, login_as, fast_hash):
    from lms.accounts.models import User
    from plugins.microlecture import services

    runner = app.test_cli_runner()
    result = runner.invoke(args=["lms", "demo"])  # the queue runs immediately in tests: the job runs here
    assert result.exit_code == 0, result.output
    assert "micro-lecture videos queued 1" in result.output

    lesson = db.session.scalar(select(Lesson).where(Lesson.title == TITLE))
    assert lesson.type == "video" and lesson.status == "published" and lesson.course.is_published
    video = db.session.scalar(select(Video).where(Video.lesson_id == lesson.id))
    job = db.session.scalar(select(TranscodeJob).where(TranscodeJob.video_id == video.id))
    assert job.state == "done", job.error
    assert video.status == "published" and video.published_hls_key == video.hls_key == job.output_key
    assert [r["name"] for r in video.renditions] == ["360p"]  # a 640×360 clip: nothing above it
    assert 9 <= video.duration_seconds <= 11 and lesson.duration_seconds == 10
    assert 100_000 <= video.original_size <= 600_000  # a few hundred KB
    st = services.storage()
    assert st.path(video.original_key).is_file() and st.list_dir("tmp") == []
    reviewer = db.session.scalar(select(User).where(User.login_id == "reviewer"))
    assert video.reviewed_by_id == reviewer.id
    approval = db.session.scalar(select(AuditLog).where(AuditLog.action == "microlecture.review.approve"))
    # Approved in the worker, not by a person at a browser: the row names no actor and says why.
    assert approval is not None and approval.details["note"] == APPROVAL_NOTE

    # A member finds it in the area and the player's playlist and segments are served.
    member = db.session.scalar(select(User).where(User.login_id == "member"))
    login_as(client, member)
    assert TITLE in client.get("/microlecture/").get_data(as_text=True)
    page = client.get(f"/microlecture/{video.id}").get_data(as_text=True)
    assert "data-ml-player" in page
    base = f"/microlecture/media/{video.id}/{video.published_hls_key.rsplit('/', 1)[1]}"
    master = get(client, f"{base}/master.m3u8")
    assert master.status_code == 200 and "360p/index.m3u8" in master.get_data(as_text=True)
    playlist = get(client, f"{base}/360p/index.m3u8").get_data(as_text=True)
    first = next(line for line in playlist.splitlines() if line and not line.startswith("#"))
    seg = get(client, f"{base}/360p/{first}")
    assert seg.status_code == 200 and seg.mimetype == "video/mp2t" and seg.data[:1] == b"\x47"  # MPEG-TS sync

    # A second run changes nothing: no second clip, job or lesson.
    result = runner.invoke(args=["lms", "demo"])
    assert result.exit_code == 0 and "未作改动" in result.output, result.output
    assert db.session.scalar(select(func.count(TranscodeJob.id))) == 1
    assert db.session.scalar(select(func.count(Lesson.id)).where(Lesson.title == TITLE)) == 1


def test_demo_without_ffmpeg_skips_the_lecture_and_says_why(app, db, monkeypatch, fast_hash):
    from media.ffmpeg import ffmpeg_exe

    monkeypatch.setenv("LMS_FFMPEG", "/nonexistent/ffmpeg")
    ffmpeg_exe.cache_clear()
    try:
        result = app.test_cli_runner().invoke(args=["lms", "demo"])
    finally:
        ffmpeg_exe.cache_clear()
    assert result.exit_code == 0, result.output
    assert "演示微课已跳过" in result.output and "/nonexistent/ffmpeg" in result.output
    assert db.session.scalar(select(Lesson).where(Lesson.title == TITLE)) is None
    assert db.session.scalar(select(func.count(Video.id))) == 0
    assert "演示数据已加载" in result.output  # the rest of the demo is there


def test_demo_lecture_waiting_for_review_is_approved_by_the_next_run(app, db, fast_hash, monkeypatch):
    """A transcode that needed a retry finishes outside the demo task: the next `flask lms demo` approves it."""
    from plugins.microlecture import tasks

    monkeypatch.setattr(tasks, "demo_transcode_task", lambda job_id, reviewer_id: None)  # the worker is away
    runner = app.test_cli_runner()
    assert runner.invoke(args=["lms", "demo"]).exit_code == 0
    video = db.session.scalar(select(Video))
    assert video.status == "processing"
    assert runner.invoke(args=["lms", "demo"]).exit_code == 0  # the job is still queued: nothing new
    assert db.session.scalar(select(func.count(TranscodeJob.id))) == 1

    from .conftest import publish_fake

    job = db.session.scalar(select(TranscodeJob))
    job.state = "done"
    publish_fake(video, duration=10, live=False)
    result = runner.invoke(args=["lms", "demo"])
    assert result.exit_code == 0 and "micro-lectures published 1" in result.output, result.output
    db.session.expire_all()
    assert db.session.get(Video, video.id).status == "published"
