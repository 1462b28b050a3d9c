"""Uploaded images (checked by content, re-encoded, served only to people who may see the course) and the
sensitive-word administration (add, bulk import from a text file, check, delete, audit)."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from lms.audit.models import AuditLog
from lms.extensions import db
from plugins.discussion import services
from plugins.discussion.models import DiscussionImage, DiscussionWord


def _png(size=(40, 30), color=(200, 22, 29), mode="RGB", fmt="PNG", **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format=fmt, **save)
    return buf.getvalue()


def _upload(client, course, data: bytes, name="a.png"):
    return client.post(f"/discussion/courses/{course.id}/images", data={"image": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers={"Accept": "application/json"})


def test_upload_reencodes_and_serves_only_to_viewers(app, users, courses, clients):
    exif = Image.Exif()
    exif[0x010F] = "Secret Camera"  # Make
    jpeg = _png(fmt="JPEG", exif=exif) + b"<script>alert(1)</script>"  # trailing payload after the image
    resp = _upload(clients.member, courses.a, jpeg, "photo.jpg")
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["markdown"] == f"![图片]({body['url']})"
    with clients.member_b.get(body["url"]) as served:
        assert served.status_code == 200 and served.mimetype == "image/jpeg"
        assert b"<script>" not in served.data and b"Secret Camera" not in served.data
        assert Image.open(io.BytesIO(served.data)).size == (40, 30)
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    # An image of a course someone may not view is not served to them.
    draft_img = services.save_image(users.teacher, courses.draft, io.BytesIO(_png()))
    db.session.commit()
    assert clients.member.get(f"/discussion/images/{draft_img.id}").status_code == 403
    with clients.teacher.get(f"/discussion/images/{draft_img.id}") as resp:
        assert resp.status_code == 200


def test_transparent_png_stays_png_and_big_images_are_scaled(app, users, courses, clients):
    resp = _upload(clients.member, courses.a, _png(size=(3000, 1000), mode="RGBA", color=(0, 0, 0, 0)))
    img = db.session.get(DiscussionImage, resp.get_json()["id"])
    assert img.mimetype == "image/png" and (img.width, img.height) == (2000, 667)


@pytest.mark.parametrize("data, name, message", [
    (b"<html><script>alert(1)</script></html>", "evil.png", "只支持"),
    (b"GIF89a" + b"\x00" * 20, "broken.gif", "已损坏"),
    (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "broken.png", "已损坏"),
    (b"%PDF-1.4 fake", "doc.jpg", "只支持"),
    (b"", "empty.png", "请选择"),
])
def test_hostile_or_broken_files_are_refused(app, users, courses, clients, data, name, message):
    resp = _upload(clients.member, courses.a, data, name)
    assert resp.status_code == 400
    assert message in resp.get_json()["error"]
    assert db.session.query(DiscussionImage).count() == 0


def test_extension_lies_are_caught_by_content(app, users, courses, clients):
    # A PNG that says it is a GIF in its name is fine (content decides); a GIF claiming PNG magic is not.
    assert _upload(clients.member, courses.a, _png(), "pic.gif").status_code == 201
    fake = b"\x89PNG\r\n\x1a\n" + _png(fmt="GIF")[8:]
    assert _upload(clients.member, courses.a, fake, "pic.png").status_code == 400


def test_oversized_and_too_many_pixels_are_refused(app, users, courses, clients):
    app.config["DISCUSSION_IMAGE_MAX_BYTES"] = 2000
    resp = _upload(clients.member, courses.a, _png(size=(400, 400), color=None, mode="RGB") + b"\x00" * 5000)
    assert resp.status_code == 400 and "不能超过" in resp.get_json()["error"]
    app.config["DISCUSSION_IMAGE_MAX_BYTES"] = 5 * 1024 * 1024
    app.config["DISCUSSION_IMAGE_MAX_PIXELS"] = 10_000
    resp = _upload(clients.member, courses.a, _png(size=(200, 200)))
    assert resp.status_code == 400 and "尺寸过大" in resp.get_json()["error"]


def test_image_chosen_in_the_form_is_attached_to_the_post(app, users, courses, clients):
    resp = clients.member.post(f"/discussion/courses/{courses.a.id}/new",
                               data={"title": "带图", "body": "看图", "image": (io.BytesIO(_png()), "x.png")},
                               content_type="multipart/form-data", follow_redirects=True)
    html = resp.get_data(as_text=True)
    img = db.session.scalar(select(DiscussionImage))
    assert f'<img src="/discussion/images/{img.id}" alt="图片">' in html


def test_word_admin_is_for_system_administrators_only(app, users, clients):
    for who in ("member", "teacher", "org_admin"):
        assert getattr(clients, who).get("/discussion/admin/words").status_code == 403
        assert getattr(clients, who).post("/discussion/admin/words",
                                          data={"which": "add", "add-words": "x"}).status_code == 403
    assert db.session.query(DiscussionWord).count() == 0


def test_bulk_import_from_a_text_file(app, users, clients):
    text = "# 注释行\n法轮功\n\n赌 博\nＶＰＮ翻墙\n赌博\n" + "长" * 150 + "\n"
    resp = clients.sysadmin.post("/discussion/admin/words",
                                 data={"which": "import", "imp-file": (io.BytesIO(text.encode("utf-8")), "words.txt")},
                                 content_type="multipart/form-data", follow_redirects=True)
    assert "新增 3 个，重复 1 个，无效 1 个" in resp.get_data(as_text=True)
    assert sorted(db.session.scalars(select(DiscussionWord.word))) == sorted(["法轮功", "赌博", "vpn翻墙"])
    # GB18030 files (what Windows Notepad in Chinese often saves) import too.
    resp = clients.sysadmin.post("/discussion/admin/words",
                                 data={"which": "import", "imp-file": (io.BytesIO("六合彩\n".encode("gb18030")), "w.txt")},
                                 content_type="multipart/form-data", follow_redirects=True)
    assert "新增 1 个" in resp.get_data(as_text=True)
    # A binary file is refused beside the field.
    resp = clients.sysadmin.post("/discussion/admin/words",
                                 data={"which": "import", "imp-file": (io.BytesIO(b"\x00\x01\x02"), "w.bin")},
                                 content_type="multipart/form-data")
    assert resp.status_code == 400 and "这不是文本文件" in resp.get_data(as_text=True)
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "discussion.words_add")).all()
    assert [r.details["added"] for r in rows] == [3, 1]


def test_new_words_take_effect_at_once_and_check_box_shows_matches(app, users, courses, clients):
    assert services.create_thread(users.member, courses.a, title="t", body="六 合 彩").status == "published"
    clients.sysadmin.post("/discussion/admin/words", data={"which": "add", "add-words": "六合彩\n代开发票"})
    assert services.create_thread(users.member, courses.a, title="t", body="六 合 彩").status == "pending"
    resp = clients.sysadmin.post("/discussion/admin/words", data={"which": "check", "chk-text": "今天买了六-合-彩"})
    assert "“六-合-彩” 命中 六合彩" in resp.get_data(as_text=True)
    word = db.session.scalar(select(DiscussionWord).where(DiscussionWord.word == "六合彩"))
    clients.sysadmin.post(f"/discussion/admin/words/{word.id}/delete")
    assert services.create_thread(users.member, courses.a, title="t", body="六 合 彩").status == "published"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "discussion.word_delete")).details == {
        "word": "六合彩"}


def test_erasing_a_person_removes_their_image_files_only_when_committed(app, users, courses):
    """PI-06/PI-07: the erasure deletes the person's uploaded images, rows and files; a rolled-back erasure
    leaves both (nothing is lost), and other people's images stay."""
    from lms.accounts import dsar

    mine = services.save_image(users.member, courses.a, io.BytesIO(_png()))
    theirs = services.save_image(users.teacher, courses.a, io.BytesIO(_png()))
    db.session.commit()
    mine_file, theirs_file = services.image_file(mine), services.image_file(theirs)
    mine_id, theirs_id = mine.id, theirs.id
    assert mine_file.is_file() and theirs_file.is_file()
    users.member.is_active_account = False
    db.session.commit()

    dsar.erase(None, users.member)
    db.session.rollback()  # e.g. another module's hook failed: rows and file stay together
    assert mine_file.is_file() and db.session.get(DiscussionImage, mine_id) is not None

    dsar.erase(None, db.session.get(type(users.member), users.member.id))
    db.session.commit()
    assert not mine_file.exists() and db.session.get(DiscussionImage, mine_id) is None
    assert theirs_file.is_file() and db.session.get(DiscussionImage, theirs_id) is not None
