"""Per-person upload quota (UP-02): bytes and file count, held under 10 parallel uploads, no orphan files."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from lms.audit.models import AuditLog
from plugins.microlecture.models import Upload, Video


def start(client, lesson_id, name, size):
    return client.post(f"/microlecture/api/lessons/{lesson_id}/uploads", json={"filename": name, "size": size})


def put(client, url, data: bytes, offset: int):
    return client.put(url, data=data, headers={"Upload-Offset": str(offset), "Content-Type": "application/octet-stream"})


@pytest.fixture
def lectures(course, users, db):
    """Ten empty video lessons of users.teacher."""
    from plugins.microlecture import services

    made = [services.create_lecture(course, f"第{i + 1}讲", "theory", "", users.teacher) for i in range(10)]
    db.session.commit()
    return made


@pytest.fixture
def no_transcode(monkeypatch):
    """Accepted uploads queue a transcode; these tests stop at the upload."""
    from plugins.microlecture import services

    monkeypatch.setattr(services, "dispatch", lambda job_id, delay=None: None)


def stored_files(app) -> dict[str, list[str]]:
    from plugins.microlecture import services

    root = services.storage().root
    return {d: sorted(str(p.relative_to(root)) for p in (root / d).rglob("*") if p.is_file())
            for d in ("uploads", "originals")}


def test_ten_parallel_uploads_never_exceed_the_byte_quota(app, db, users, login_as, lectures, clips, no_transcode):
    payload = clips.good.read_bytes()
    size = len(payload)
    app.config["MICROLECTURE_QUOTA_BYTES"] = 3 * size + size // 2  # room for three
    app.config["MICROLECTURE_CHUNK_BYTES"] = max(64 * 1024, size // 3)
    results: list[tuple[int, dict]] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(len(lectures))

    def one(lesson_id: int, client) -> None:
        try:
            gate.wait()
            r = start(client, lesson_id, "讲座.mp4", size)
            if r.status_code != 201:
                results.append((r.status_code, r.get_json()))
                return
            up = r.get_json()
            while up["received"] < size:
                chunk = payload[up["received"]: up["received"] + up["chunk_size"]]
                resp = put(client, up["url"], chunk, up["received"])
                assert resp.status_code == 200, resp.get_json()
                up = resp.get_json()
            done = client.post(up["finish_url"])
            results.append((done.status_code, done.get_json()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    clients = [login_as(app.test_client(), users.teacher) for _ in lectures]
    threads = [threading.Thread(target=one, args=(v.lesson_id, c)) for v, c in zip(lectures, clients, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    codes = sorted(code for code, _ in results)
    assert codes == [200] * 3 + [413] * 7, results
    refused = [body for code, body in results if code == 413]
    assert all("上传空间不足" in b["error"] and b["quota"]["bytes_limit"] == 3 * size + size // 2 for b in refused)

    from plugins.microlecture import services

    usage = services.quota_usage(users.teacher.id)
    assert usage.bytes == 3 * size <= app.config["MICROLECTURE_QUOTA_BYTES"] and usage.files == 3
    # No orphan blobs: three originals, no unfinished parts; every original belongs to a video row.
    files = stored_files(app)
    assert files["uploads"] == [] and len(files["originals"]) == 3
    keys = {k for (k,) in db.session.execute(select(Video.original_key).where(Video.original_key.is_not(None)))}
    assert keys == set(files["originals"])
    assert db.session.scalar(select(Upload.id).where(Upload.state != "accepted")) is None
    denied = db.session.scalars(select(AuditLog).where(AuditLog.action == "microlecture.upload.quota")).all()
    assert len(denied) == 7 and {d.outcome for d in denied} == {"denied"}


def test_the_file_count_is_limited_and_freed_when_an_upload_ends(app, db, users, login_as, lectures):
    from freezegun import freeze_time

    from lms.timeutil import utcnow
    from plugins.microlecture import services

    app.config["MICROLECTURE_QUOTA_FILES"] = 2
    client = login_as(app.test_client(), users.teacher)
    first = start(client, lectures[0].lesson_id, "a.mp4", 1000)
    assert first.status_code == 201
    assert start(client, lectures[1].lesson_id, "b.mp4", 1000).status_code == 201
    r = start(client, lectures[2].lesson_id, "c.mp4", 1000)
    assert r.status_code == 413 and "数量上限" in r.get_json()["error"] and r.get_json()["quota"]["files_used"] == 2
    # Resuming an upload already counted is not a new file.
    assert start(client, lectures[0].lesson_id, "a.mp4", 1000).status_code == 201
    # A new file for the same lecture replaces the unfinished one: no extra file either.
    assert start(client, lectures[0].lesson_id, "a2.mp4", 500).status_code == 201
    # An abandoned upload expires and gives its place back.
    with freeze_time(utcnow() + timedelta(hours=73)):
        services.reap()
    assert start(client, lectures[2].lesson_id, "c.mp4", 1000).status_code == 201


def test_a_rejected_file_gives_its_bytes_back(app, db, users, login_as, lecture, clips):
    payload = clips.text.read_bytes()
    app.config["MICROLECTURE_QUOTA_BYTES"] = len(payload) + 10
    client = login_as(app.test_client(), users.teacher)
    up = start(client, lecture.lesson_id, "notes.mp4", len(payload)).get_json()
    assert put(client, up["url"], payload, 0).status_code == 200
    assert client.post(up["finish_url"]).status_code == 422  # not a video: rejected, bytes deleted
    assert start(client, lecture.lesson_id, "again.mp4", len(payload)).status_code == 201
    assert stored_files(app)["originals"] == []


def test_a_replaced_original_counts_until_it_is_deleted(app, db, users, login_as, lecture, clips, no_transcode):
    """The original behind the live rendition is kept (and counted) until a newer one is approved."""
    from plugins.microlecture import services

    from .conftest import publish_fake

    payload = clips.good.read_bytes()
    size = len(payload)
    client = login_as(app.test_client(), users.teacher)

    def upload() -> int:
        up = start(client, lecture.lesson_id, "v.mp4", size).get_json()
        put(client, up["url"], payload, 0)
        return client.post(up["finish_url"]).status_code

    assert upload() == 200
    db.session.expire_all()
    publish_fake(db.session.get(Video, lecture.id), key_suffix="1-1")
    assert upload() == 200  # the first original stays: members still watch what was made from it
    assert services.quota_usage(users.teacher.id).bytes == 2 * size
    app.config["MICROLECTURE_QUOTA_BYTES"] = 2 * size + size // 2
    r = start(client, lecture.lesson_id, "v3.mp4", size)
    assert r.status_code == 413
    # Approving the new rendition deletes the old original: its bytes are free again.
    video = db.session.get(Video, lecture.id)
    publish_fake(video, live=False, key_suffix="2-2")
    services.approve(video, users.reviewer)
    db.session.commit()
    assert services.quota_usage(users.teacher.id).bytes == size
    assert start(client, lecture.lesson_id, "v3.mp4", size).status_code == 201


def test_no_limit_when_the_quota_is_zero(app, users, login_as, lectures):
    app.config.update(MICROLECTURE_QUOTA_BYTES=0, MICROLECTURE_QUOTA_FILES=0, MICROLECTURE_MAX_UPLOAD_BYTES=10**13)
    client = login_as(app.test_client(), users.teacher)
    assert [start(client, v.lesson_id, "a.mp4", 10**12).status_code for v in lectures[:3]] == [201] * 3
