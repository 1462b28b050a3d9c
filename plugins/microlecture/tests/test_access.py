"""Media is served only to people allowed to see the lesson, with HTTP ranges, never before approval."""
from __future__ import annotations

from decimal import Decimal

from .conftest import publish_fake


def get(client, url, **kw):
    """GET and close (a file response holds its file open until closed)."""
    r = client.get(url, **kw)
    r.get_data()
    r.close()
    return r


def seg_url(video, key=None, name="360p/seg_00000.ts"):
    key = key or video.published_hls_key
    return f"/microlecture/media/{video.id}/{key.rsplit('/', 1)[1]}/{name}"


def test_member_plays_a_published_lecture_with_ranges(client, login_as, users, published):
    login_as(client, users.member)
    r = get(client, seg_url(published, name="master.m3u8"))
    assert r.status_code == 200 and r.mimetype == "application/vnd.apple.mpegurl"
    r = get(client, seg_url(published), headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and len(r.data) == 100
    assert r.headers["Content-Range"].startswith("bytes 100-199/")
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.mimetype == "video/mp2t"


def test_anonymous_gets_nothing(client, published):
    r = get(client, seg_url(published))
    assert r.status_code in (302, 401)


def test_member_cannot_fetch_segments_of_a_lesson_they_may_not_see(app, client, login_as, users, org, published, db):
    from lms.courses.models import Course
    from plugins.microlecture import services

    # A second course, still a draft: its lecture has a rendition, but members may not see the lesson.
    other = Course(title="内部培训", category="rules", credit_hours=Decimal("1"), status="draft",
                   owner_unit_id=org.b.id, settings={})
    other.teachers.append(users.teacher)
    db.session.add(other)
    db.session.flush()
    hidden = services.create_lecture(other, "未发布的课", "rules", "", users.teacher)
    db.session.commit()
    publish_fake(hidden, key_suffix="2-5")
    login_as(client, users.member)
    assert get(client, seg_url(published)).status_code == 200
    assert get(client, seg_url(hidden)).status_code == 403
    assert get(client, seg_url(hidden, name="master.m3u8")).status_code == 403
    # Asking for the other lecture's files under this lecture's id finds nothing.
    assert get(client, f"/microlecture/media/{published.id}/{hidden.published_hls_key.rsplit('/', 1)[1]}/"
                      "360p/seg_00000.ts").status_code == 404


def test_unapproved_rendition_is_for_teacher_and_reviewer_only(client, login_as, users, lecture):
    publish_fake(lecture, live=False)
    url = seg_url(lecture, key=lecture.hls_key)
    login_as(client, users.member)
    assert get(client, url).status_code == 403
    login_as(client, users.teacher)
    assert get(client, url).status_code == 200
    login_as(client, users.reviewer)
    assert get(client, url).status_code == 200


def test_member_lecture_page_before_approval_is_forbidden(client, login_as, users, lecture):
    publish_fake(lecture, live=False)
    login_as(client, users.member)
    assert get(client, f"/microlecture/{lecture.id}").status_code == 403


def test_path_tricks_are_not_served(client, login_as, users, published):
    login_as(client, users.teacher)
    key = published.published_hls_key.rsplit("/", 1)[1]
    for name in ("../../../originals/1/1.mp4", "360p/../../x", "%2e%2e/secret", "360p/seg_1.ts", "master.m3u8.bak"):
        assert get(client, f"/microlecture/media/{published.id}/{key}/{name}").status_code == 404, name
