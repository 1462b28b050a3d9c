"""Chunked, resumable upload: limits while streaming, resume, rejection with a reason and nothing left behind."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from lms.audit.models import AuditLog
from plugins.microlecture.models import TranscodeJob, Upload


def start(client, lesson_id, name, size):
    return client.post(f"/microlecture/api/lessons/{lesson_id}/uploads", json={"filename": name, "size": size})


def put(client, url, data: bytes, offset: int):
    return client.put(url, data=data, headers={"Upload-Offset": str(offset), "Content-Type": "application/octet-stream"})


def upload_all(client, lesson_id, payload: bytes, name="lecture.mp4", chunk=None):
    r = start(client, lesson_id, name, len(payload))
    assert r.status_code == 201, r.get_json()
    up = r.get_json()
    chunk = chunk or up["chunk_size"]
    while up["received"] < len(payload):
        r = put(client, up["url"], payload[up["received"]: up["received"] + chunk], up["received"])
        assert r.status_code == 200, r.get_json()
        up = r.get_json()
    return up


def part_files(app):
    from plugins.microlecture import services

    d = services.storage().root / "uploads"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_upload_resumes_where_it_stopped(app, client, login_as, users, lecture, clips):
    app.config["MICROLECTURE_CHUNK_BYTES"] = 64 * 1024
    login_as(client, users.teacher)
    payload = clips.good.read_bytes()
    up = start(client, lecture.lesson_id, "讲座.mp4", len(payload)).get_json()
    assert put(client, up["url"], payload[:65536], 0).status_code == 200
    # The connection drops; the browser starts again with the same file: the server answers where to go on.
    again = start(client, lecture.lesson_id, "讲座.mp4", len(payload)).get_json()
    assert again["id"] == up["id"] and again["received"] == 65536
    # A chunk sent for the wrong offset is refused with the offset the server has.
    r = put(client, up["url"], payload[:65536], 0)
    assert r.status_code == 409 and r.get_json()["received"] == 65536
    assert client.get(up["url"]).get_json()["received"] == 65536


def test_chunk_over_the_limit_is_refused_and_leaves_nothing(app, client, login_as, users, lecture):
    app.config["MICROLECTURE_CHUNK_BYTES"] = 1024
    login_as(client, users.teacher)
    up = start(client, lecture.lesson_id, "a.mp4", 10_000).get_json()
    r = put(client, up["url"], b"x" * 1025, 0)
    assert r.status_code == 413
    # Without a Content-Length (chunked transfer) the limit holds while streaming.
    r = client.put(up["url"], input_stream=io.BytesIO(b"y" * 5000),
                   headers={"Upload-Offset": "0", "Content-Type": "application/octet-stream",
                            "Transfer-Encoding": "chunked"},
                   environ_overrides={"wsgi.input_terminated": True})
    assert r.status_code == 413
    assert client.get(up["url"]).get_json()["received"] == 0
    from plugins.microlecture import services

    part = services.storage().path(f"uploads/{up['id']}.part")
    assert not part.exists() or part.stat().st_size == 0


def test_file_over_the_configured_size_is_refused_up_front(app, client, login_as, users, lecture):
    app.config["MICROLECTURE_MAX_UPLOAD_BYTES"] = 1000
    login_as(client, users.teacher)
    r = start(client, lecture.lesson_id, "big.mp4", 1001)
    assert r.status_code == 413 and "太大" in r.get_json()["error"]
    assert start(client, lecture.lesson_id, "a.exe", 10).status_code == 415


@pytest.mark.parametrize("name,code", [("text", "not_video"), ("audio", "audio_only"), ("truncated", "truncated"),
                                       ("empty", None)])
def test_bad_upload_is_rejected_with_its_reason_and_nothing_stays(app, client, login_as, users, lecture, clips,
                                                                   db, name, code):
    login_as(client, users.teacher)
    payload = getattr(clips, name).read_bytes()
    if code is None:  # zero bytes: refused before anything is written
        r = start(client, lecture.lesson_id, "empty.mp4", 0)
        assert r.status_code == 400 and "0 字节" in r.get_json()["error"]
        return
    up = upload_all(client, lecture.lesson_id, payload, name="x.mp4")
    r = client.post(up["finish_url"])
    assert r.status_code == 422
    body = r.get_json()
    assert body["reason"] == code and body["error"]
    assert part_files(app) == []
    assert db.session.scalar(select(Upload.state).where(Upload.token == up["id"])) == "rejected"
    assert db.session.scalar(select(TranscodeJob.id)) is None
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "microlecture.upload.reject"))
    assert row is not None and row.details["reason"] == code


def test_only_the_course_teacher_may_upload(client, login_as, users, lecture):
    login_as(client, users.member)
    assert start(client, lecture.lesson_id, "a.mp4", 100).status_code == 403
    login_as(client, users.teacher)
    assert start(client, lecture.lesson_id, "a.mp4", 100).status_code == 201


def test_user_file_name_is_metadata_only(app, client, login_as, users, lecture, db):
    login_as(client, users.teacher)
    r = start(client, lecture.lesson_id, "../../etc/\u202eevil\r\nname.mp4", 100)
    up = r.get_json()
    stored = db.session.scalar(select(Upload).where(Upload.token == up["id"]))
    assert "/" not in stored.filename and "\r" not in stored.filename and "\u202e" not in stored.filename
    put(client, up["url"], b"z" * 100, 0)
    from plugins.microlecture import services

    assert part_files(app) == [f"{up['id']}.part"]
    assert services.storage().path(f"uploads/{up['id']}.part").is_file()


def test_abandoned_upload_expires_and_its_bytes_go(app, client, login_as, users, lecture, db):
    from datetime import timedelta

    from freezegun import freeze_time

    from lms.timeutil import utcnow
    from plugins.microlecture import services

    login_as(client, users.teacher)
    up = start(client, lecture.lesson_id, "a.mp4", 1000).get_json()
    put(client, up["url"], b"q" * 500, 0)
    assert services.reap()["expired_uploads"] == []  # still resumable
    with freeze_time(utcnow() + timedelta(hours=73)):
        assert services.reap()["expired_uploads"] == [up["id"]]
    assert part_files(app) == []
    db.session.expire_all()
    assert db.session.scalar(select(Upload.state).where(Upload.token == up["id"])) == "expired"
    assert client.get(up["url"]).get_json()["state"] == "expired"
    assert put(client, up["url"], b"q" * 500, 500).status_code == 409


def test_erasing_the_uploader_removes_a_half_received_upload_and_its_bytes(app, client, login_as, users, lecture,
                                                                          db):
    """PI-06/PI-07: a teacher who is erased leaves no partial upload behind (row and bytes)."""
    from lms.accounts import dsar

    login_as(client, users.teacher)
    up = start(client, lecture.lesson_id, "a.mp4", 1000).get_json()
    assert put(client, up["url"], b"q" * 500, 0).status_code == 200
    assert part_files(app) == [f"{up['id']}.part"]
    users.teacher.is_active_account = False
    db.session.commit()
    dsar.erase(None, users.teacher)
    db.session.commit()
    assert part_files(app) == []
    assert db.session.scalar(select(Upload).where(Upload.token == up["id"])) is None
