"""The real pipeline: upload → probe → ONE ffmpeg ladder → verify → publish for review (ffmpeg: slow)."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from media.transcode import ladder_for
from plugins.microlecture.models import TranscodeJob, Video

from .test_upload import upload_all


def test_ladder_never_goes_above_the_source():
    assert [r.name for r in ladder_for(1080, 1920)] == ["720p", "480p", "360p"]
    assert [r.name for r in ladder_for(1080, 1920, (1080, 720, 480, 360))] == ["1080p", "720p", "480p", "360p"]
    assert [r.name for r in ladder_for(720, 1280, (1080, 720, 480, 360))] == ["720p", "480p", "360p"]
    assert [r.name for r in ladder_for(400, 712)] == ["360p"]
    assert [r.name for r in ladder_for(1920, 1080)] == ["720p", "480p", "360p"]  # portrait: the short side
    assert [r.name for r in ladder_for(240, 320)] == ["240p"]


@pytest.fixture
def small_ladder(app):
    app.config["MICROLECTURE_LADDER"] = [720, 360, 240]
    app.config["MICROLECTURE_ENABLE_1080P"] = True
    return app


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_upload_is_transcoded_verified_and_waits_for_review(small_ladder, client, login_as, users, lecture, clips, db):
    from plugins.microlecture import services

    login_as(client, users.teacher)
    up = upload_all(client, lecture.lesson_id, clips.good.read_bytes(), name="第一讲.mp4")
    r = client.post(up["finish_url"])  # the queue runs immediately in tests
    assert r.status_code == 200, r.get_json()
    status = client.get(r.get_json()["status_url"]).get_json()
    assert status["status"] == "awaiting_review" and status["label"] == "待审核"
    assert status["job"]["state"] == "done" and status["job"]["progress"] == 100
    video = db.session.get(Video, lecture.id)
    db.session.refresh(video)
    st = services.storage()
    root = st.path(video.hls_key)
    # 640×360 source, ladder 1080/720/360/240 configured: nothing above the source.
    assert [r["name"] for r in video.renditions] == ["360p", "240p"]
    master = (root / "master.m3u8").read_text()
    assert "360p/index.m3u8" in master and "240p/index.m3u8" in master and "720p" not in master
    for rung in ("360p", "240p"):
        pl = (root / rung / "index.m3u8").read_text()
        assert pl.rstrip().endswith("#EXT-X-ENDLIST")
        total = sum(float(x.split(":")[1].rstrip(",")) for x in pl.splitlines() if x.startswith("#EXTINF"))
        assert abs(total - 4.0) <= 1.0
    for img in ("poster.jpg", "thumb.jpg", "sprite.jpg"):
        assert (root / img).read_bytes()[:2] == b"\xff\xd8"
    assert "#xywh=" in (root / "thumbnails.vtt").read_text()
    assert video.lesson.duration_seconds == 4
    assert st.path(video.original_key).is_file()  # the original is kept
    assert st.list_dir("tmp") == []  # no work directory left
    # The teacher previews, with the whole-lecture sprite overview; members see nothing until review.
    html = client.get(f"/microlecture/lessons/{lecture.lesson_id}/edit").get_data(as_text=True)
    assert "data-ml-player" in html and "sprite.jpg" in html and "预览" in html
    login_as(client, users.member)
    assert client.get(f"/microlecture/{video.id}").status_code == 403


@pytest.mark.slow
def test_failed_transcode_keeps_the_original_retries_then_fails(small_ladder, client, login_as, users, lecture, clips,
                                                               db, monkeypatch):
    import media.transcode
    from plugins.microlecture import services

    def broken(*a, **kw):
        raise media.transcode.VerificationError("rung 360p lasts 2.00 s, the source 4.00 s")

    monkeypatch.setattr(media.transcode, "verify", broken)
    small_ladder.config["MICROLECTURE_MAX_ATTEMPTS"] = 2
    scheduled = []
    monkeypatch.setattr(services, "dispatch", lambda job_id, delay=None: scheduled.append((job_id, delay))
                        if delay else services.run_job(job_id))
    login_as(client, users.teacher)
    up = upload_all(client, lecture.lesson_id, clips.good.read_bytes())
    client.post(up["finish_url"])
    job = db.session.scalar(select(TranscodeJob))
    db.session.refresh(job)
    assert job.state == "queued" and job.attempt == 1 and "lasts 2.00 s" in job.error
    assert scheduled == [(job.id, 30.0)]  # retried with a delay
    assert services.run_job(job.id) == "failed"
    db.session.expire_all()
    job = db.session.get(TranscodeJob, job.id)
    video = db.session.get(Video, lecture.id)
    assert job.state == "failed" and job.attempt == 2
    assert video.status == "failed" and video.hls_key is None
    assert services.storage().path(video.original_key).is_file()
    assert not services.storage().path(f"hls/{video.id}").exists()
    assert services.storage().list_dir("tmp") == []
    html = client.get(f"/microlecture/lessons/{lecture.lesson_id}/edit").get_data(as_text=True)
    assert "转码失败" in html and "重新转码" in html


@pytest.mark.slow
def test_second_delivery_is_skipped_and_retranscode_replaces_output(small_ladder, client, login_as, users, lecture,
                                                                   clips, db):
    from plugins.microlecture import services

    login_as(client, users.teacher)
    up = upload_all(client, lecture.lesson_id, clips.good.read_bytes())
    client.post(up["finish_url"])
    job = db.session.scalar(select(TranscodeJob))
    assert services.run_job(job.id) == "skipped"  # delivered again: exactly one result
    video = db.session.get(Video, lecture.id)
    first = video.hls_key
    original_hash = sha(services.storage().path(video.original_key))
    r = client.post(f"/microlecture/videos/{video.id}/retranscode")
    assert r.status_code == 302
    db.session.expire_all()
    video = db.session.get(Video, lecture.id)
    assert video.hls_key != first and video.status == "awaiting_review"
    assert services.storage().list_dir(f"hls/{video.id}") == [video.hls_key.rsplit("/", 1)[1]]
    assert sha(services.storage().path(video.original_key)) == original_hash
    assert len(list(db.session.scalars(select(TranscodeJob).where(TranscodeJob.state == "done")))) == 2


@pytest.mark.slow
def test_subtitles_srt_are_served_as_webvtt(client, login_as, users, lecture, db):
    import io

    from .conftest import publish_fake

    publish_fake(lecture)
    login_as(client, users.teacher)
    srt = "1\n00:00:01,000 --> 00:00:03,500\n同志们好\n\n2\n00:00:04,000 --> 00:00:06,000\n今天学习党章\n"
    r = client.post(f"/microlecture/videos/{lecture.id}/subtitles",
                    data={"subs-file": (io.BytesIO(srt.encode()), "a.srt"), "subs-label": "中文"},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    login_as(client, users.member)
    r = client.get(f"/microlecture/media/{lecture.id}/subtitles.vtt")
    body = r.get_data(as_text=True)
    r.close()
    assert r.mimetype == "text/vtt" and body.startswith("WEBVTT") and "00:01.000 --> 00:03.500" in body
    assert "同志们好" in body
    login_as(client, users.teacher)
    r = client.post(f"/microlecture/videos/{lecture.id}/subtitles",
                    data={"subs-file": (io.BytesIO(b"<html>no</html>"), "a.srt")}, content_type="multipart/form-data")
    assert r.status_code == 302
    assert "无法读取字幕文件" in client.get(r.headers["Location"]).get_data(as_text=True)


@pytest.mark.slow
def test_cancel_stops_a_running_transcode_and_keeps_the_original(app, client, login_as, users, lecture, db, tmp_path):
    import os
    import threading

    from plugins.microlecture import services

    from .conftest import make_clip
    from .test_worker_kill import ffmpeg_pids, wait_for

    app.config["MICROLECTURE_HEARTBEAT_SECONDS"] = 0
    st = services.storage()
    key = f"originals/{lecture.id}/1.mp4"
    st.ensure_parent(key)
    os.replace(make_clip(tmp_path / "long.mp4", seconds=20, size="854x480"), st.path(key))
    video = db.session.get(Video, lecture.id)
    video.original_key, video.version = key, 1
    job = services.queue_transcode(video, users.teacher)
    db.session.commit()
    job_id, outcome = job.id, {}

    def work():
        with app.app_context():
            outcome["result"] = services.run_job(job_id)

    t = threading.Thread(target=work)
    t.start()
    try:
        def running():
            db.session.expire_all()
            j = db.session.get(TranscodeJob, job_id)
            return j.state == "running" and j.progress > 0
        assert wait_for(running, 60)
        login_as(client, users.teacher)
        r = client.post(f"/microlecture/videos/{lecture.id}/cancel")
        assert r.status_code == 302
    finally:
        t.join(timeout=60)
    assert outcome["result"] == "cancelled"
    db.session.expire_all()
    assert db.session.get(TranscodeJob, job_id).state == "cancelled"
    video = db.session.get(Video, lecture.id)
    assert video.status == "cancelled" and video.hls_key is None
    assert st.list_dir("tmp") == [] and not st.path(f"hls/{lecture.id}").exists()
    assert st.path(key).is_file()
    assert not ffmpeg_pids(st.root)
    assert "已取消转码" in client.get(f"/microlecture/lessons/{lecture.lesson_id}/edit").get_data(as_text=True)
