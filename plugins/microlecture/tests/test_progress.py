"""The server decides what counts: union of played segments, capped by the session's wall clock."""
from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from lms.courses.models import LessonProgress
from lms.plugins import hookimpl
from lms.timeutil import utcnow

from .conftest import publish_fake

EXT = "https://w3id.org/xapi/video/extensions/"


class Capture:
    def __init__(self):
        self.events = []

    @hookimpl
    def lms_event_learning(self, event):
        self.events.append(event)


@pytest.fixture
def captured(app):
    cap = Capture()
    app.extensions["lms_plugins"].pm.register(cap, name="test-capture")
    yield cap
    app.extensions["lms_plugins"].pm.unregister(cap)


@pytest.fixture
def hour_long(lecture):
    publish_fake(lecture, duration=3600.0)
    return lecture


def session(client, video):
    r = client.post(f"/microlecture/api/videos/{video.id}/sessions")
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def event(client, s, verb, **kw):
    return client.post(s["events_url"], json={"verb": verb, **kw})


def progress_row(db, user, video):
    return db.session.scalar(select(LessonProgress).where(LessonProgress.user_id == user.id,
                                                          LessonProgress.lesson_id == video.lesson_id))


def test_forged_request_cannot_claim_an_hour_in_a_minute(client, login_as, users, hour_long, db):
    login_as(client, users.member)
    with freeze_time(utcnow()) as clock:
        s = session(client, hour_long)
        assert event(client, s, "played", time=0).status_code == 200
        clock.tick(timedelta(seconds=60))
        body = event(client, s, "paused", time=3600).get_json()
    # At most 60 s × the 2× speed cap (+ a few seconds of network slack) out of 3 600 s.
    assert body["progress"] <= (60 * 2 + 5) / 3600 + 0.001
    assert body["completed"] is False
    row = progress_row(db, users.member, hour_long)
    assert row.status != "completed" and row.progress < 0.04
    assert row.effective_seconds <= 125


def test_honest_watching_completes_the_lesson_once(client, login_as, users, published, db, captured):
    login_as(client, users.member)
    with freeze_time(utcnow()) as clock:
        s = session(client, published)
        event(client, s, "played", time=0)
        for t in range(10, 100, 10):
            clock.tick(timedelta(seconds=10))
            body = event(client, s, "progress", time=t, playing=True).get_json()
        assert body["completed"] is False and body["progress"] == 0.9  # 90 s of 100
        clock.tick(timedelta(seconds=6))
        body = event(client, s, "paused", time=96).get_json()
    assert body["completed"] and body["progress"] >= 0.95
    row = progress_row(db, users.member, published)
    assert row.status == "completed" and 90 <= row.effective_seconds <= 100
    verbs = [e.verb for e in captured.events if e.object_type and "video" in e.object_type]
    assert verbs == ["initialized", "played", "paused", "completed"]
    done = next(e for e in captured.events if e.verb == "completed" and "video" in (e.object_type or ""))
    assert done.result["completion"] is True
    assert done.result["extensions"][EXT + "played-segments"].startswith("0[.]")
    assert done.context["extensions"][EXT + "length"] == 100.0
    lesson_done = [e for e in captured.events if e.verb == "completed" and e.lesson_id == published.lesson_id
                   and "lesson" in (e.object_type or "")]
    assert len(lesson_done) == 1


def test_under_threshold_does_not_complete(client, login_as, users, published, db):
    login_as(client, users.member)
    with freeze_time(utcnow()) as clock:
        s = session(client, published)
        event(client, s, "played", time=0)
        clock.tick(timedelta(seconds=90))
        body = event(client, s, "paused", time=90).get_json()
    assert body["completed"] is False and body["progress"] == 0.9
    assert progress_row(db, users.member, published).status != "completed"


def test_seeking_ahead_is_refused_until_complete(client, login_as, users, published, db):
    login_as(client, users.member)
    with freeze_time(utcnow()) as clock:
        s = session(client, published)
        event(client, s, "played", time=0)
        clock.tick(timedelta(seconds=10))
        r = event(client, s, "seeked", time_from=10, time_to=80, playing=True)
        assert r.status_code == 409
        body = r.get_json()
        assert body["refused"] and body["furthest"] == 10 and "不能拖动" in body["message"]
        # Pressing play far ahead is refused too; going back is fine.
        assert event(client, s, "played", time=70).status_code == 409
        assert event(client, s, "progress", time=70, playing=True).status_code == 409
        assert event(client, s, "seeked", time_from=10, time_to=2, playing=True).status_code == 200


def test_seeking_allowed_when_the_course_allows_it_but_gaps_still_count(client, login_as, users, published, db):
    published.lesson.course.settings = {"video": {"no_seek": False}}
    db.session.commit()
    login_as(client, users.member)
    with freeze_time(utcnow()) as clock:
        s = session(client, published)
        event(client, s, "played", time=0)
        clock.tick(timedelta(seconds=10))
        assert event(client, s, "seeked", time_from=10, time_to=80, playing=True).status_code == 200
        clock.tick(timedelta(seconds=10))
        body = event(client, s, "paused", time=90).get_json()
    assert body["segments"] == [[0, 10], [80, 90]] and body["progress"] == 0.2


def test_rewatching_adds_no_progress_and_resume_point_is_kept(client, login_as, users, published, db):
    login_as(client, users.member)
    with freeze_time(utcnow()) as clock:
        s = session(client, published)
        event(client, s, "played", time=0)
        clock.tick(timedelta(seconds=30))
        event(client, s, "paused", time=30)
        event(client, s, "seeked", time_from=30, time_to=0)
        event(client, s, "played", time=0)
        clock.tick(timedelta(seconds=20))
        body = event(client, s, "paused", time=20).get_json()
        assert body["progress"] == 0.3
        event(client, s, "terminated", time=20)
        again = session(client, published)
    assert again["position"] == 20 and again["furthest"] == 30


def test_speed_above_the_course_cap_is_not_believed(client, login_as, users, hour_long, db):
    hour_long.lesson.course.settings = {"video": {"max_speed": 1.0}}
    db.session.commit()
    login_as(client, users.member)
    with freeze_time(utcnow()) as clock:
        s = session(client, hour_long)
        event(client, s, "played", time=0, speed=16)
        clock.tick(timedelta(seconds=100))
        body = event(client, s, "paused", time=1600, speed=16).get_json()
    assert body["furthest"] <= 105


def test_someone_elses_session_and_bad_input(client, login_as, users, published):
    login_as(client, users.member)
    s = session(client, published)
    assert event(client, s, "played", time="abc").status_code == 400
    assert event(client, s, "played", time="NaN").status_code == 400
    assert event(client, s, "jumped", time=1).status_code == 400
    r = client.post(s["events_url"], data="not json", content_type="application/json")
    assert r.status_code == 400 and r.is_json
    login_as(client, users.member_b)
    assert event(client, s, "played", time=0).status_code == 404
