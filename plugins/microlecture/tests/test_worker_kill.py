"""REL-01: a worker killed with -9 mid-transcode; after restart the job is done and no partial output shows."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from plugins.microlecture.models import TranscodeJob, Video

from .conftest import make_clip

ROOT = Path(__file__).resolve().parents[3]


def start_worker(env) -> subprocess.Popen:
    flask = str(Path(sys.executable).parent / "flask")
    return subprocess.Popen([flask, "--app", "wsgi", "lms", "worker", "--workers", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def job_row(db, job_id=None):
    db.session.expire_all()
    q = select(TranscodeJob).order_by(TranscodeJob.id.desc())
    return db.session.scalar(q if job_id is None else q.where(TranscodeJob.id == job_id))


def ffmpeg_pids(marker: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "ffmpeg" in cmd and str(marker) in cmd:
            pids.append(int(proc.name))
    return pids


def wait_for(pred, timeout, step=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return None


@pytest.mark.slow
def test_killed_worker_job_is_picked_up_again_and_finishes(app, tmp_path, users, course, db):
    from lms.testing import pg_url
    from plugins.microlecture import services

    if pg_url():
        pytest.skip("runs on the SQLite file database shared with a subprocess worker")
    video = services.create_lecture(course, "长视频", "theory", "", users.teacher)
    db.session.commit()
    st = services.storage()
    src = make_clip(tmp_path / "long.mp4", seconds=24, size="854x480")
    key = f"originals/{video.id}/1.mp4"
    st.ensure_parent(key)
    os.replace(src, st.path(key))
    original_hash = hashlib.sha256(st.path(key).read_bytes()).hexdigest()
    video.original_key, video.version, video.status = key, 1, "processing"
    db.session.commit()
    video_id = video.id

    env = dict(os.environ, LMS_INSTANCE_PATH=str(tmp_path), LMS_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               LMS_MEDIA_ROOT=app.config["MEDIA_ROOT"], LMS_QUEUE_URL=f"sqlite:///{tmp_path / 'queue.sqlite3'}",
               LMS_SECRET_KEY="worker-test", LMS_ENV="testing", LMS_MICROLECTURE_STALE_SECONDS="3",
               LMS_MICROLECTURE_REAPER_SECONDS="1", LMS_MICROLECTURE_HEARTBEAT_SECONDS="1")
    env.pop("LMS_TEST_DATABASE_URL", None)
    # The product's own command queues the job (on the worker's queue).
    flask = str(Path(sys.executable).parent / "flask")
    subprocess.run([flask, "--app", "wsgi", "microlecture", "retranscode", str(video_id)], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=120)
    worker = start_worker(env)
    try:
        running = wait_for(lambda: (j := job_row(db)) and j.state == "running" and j.progress >= 10 and j, 120)
        assert running, f"the job never got going: {job_row(db).state}"
        assert running.progress < 95
        job_id = running.id
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        assert job_row(db, job_id).state == "running"  # nobody has noticed yet
        # The worker's ffmpeg died with it (parent-death signal): nothing keeps writing the dead attempt.
        assert wait_for(lambda: not ffmpeg_pids(tmp_path), 5), "an orphaned ffmpeg kept running"
        # The dead attempt's work is not visible as a result.
        assert db.session.get(Video, video_id).hls_key is None
        assert not st.path(f"hls/{video_id}").exists()

        worker = start_worker(env)
        done = wait_for(lambda: (j := job_row(db, job_id)) and j.state in ("done", "failed") and j, 180)
        assert done and done.state == "done", (done.state, done.error) if done else "timed out"
        assert done.attempt == 2
        video = db.session.get(Video, video_id)
        db.session.refresh(video)
        assert video.status == "awaiting_review" and video.hls_key == done.output_key
        assert st.list_dir(f"hls/{video_id}") == [done.output_key.rsplit("/", 1)[1]]
        for rung in ("480p", "360p"):
            assert (st.path(done.output_key) / rung / "index.m3u8").read_text().rstrip().endswith("#EXT-X-ENDLIST")
        assert hashlib.sha256(st.path(key).read_bytes()).hexdigest() == original_hash
        # The dead attempt's work directory is swept once it is stale.
        assert wait_for(lambda: st.list_dir("tmp") == [], 20)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
