"""The learning-event path, progress projections, the browser endpoint and the record pages."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from lms import events
from plugins.xapi.tests.conftest import stmt

LESSON = "http://lms.test/xapi/activities/lesson/7"


def record(user, verb="completed", **kw):
    ev = events.LearningEvent(user=user, verb=verb, object_id=kw.pop("object_id", LESSON),
                              object_type="http://adlnet.gov/expapi/activities/lesson",
                              object_name={"zh-CN": "党章学习"}, **kw)
    events.record(ev)
    return ev


def stored(db):
    from plugins.xapi.models import XapiStatement

    return [json.loads(d) for d in db.session.scalars(select(XapiStatement.data).order_by(XapiStatement.id))]


def progress(db, user, activity=LESSON):
    from plugins.xapi.models import XapiProgress

    return db.session.scalar(select(XapiProgress).where(XapiProgress.person_id == user.id,
                                                        XapiProgress.activity_id == activity))


def test_recorded_event_becomes_a_statement_with_an_account_actor_only(app, db, users):
    ev = record(users.member, result={"completion": True, "duration": "PT5M"})
    db.session.commit()
    [s] = stored(db)
    assert s["id"] == ev.statement_id
    assert s["actor"] == {"objectType": "Agent", "account": {"homePage": "http://lms.test", "name": str(users.member.id)}}
    assert users.member.name not in json.dumps(s, ensure_ascii=False)
    assert s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"
    assert s["object"]["definition"]["name"] == {"zh-CN": "党章学习"}
    assert s["authority"]["account"]["name"] == "lms"


def test_interaction_definition_of_an_answer_is_stored_with_its_correct_responses(app, db, users):
    definition = {"interactionType": "choice", "correctResponsesPattern": ["b"],
                  "choices": [{"id": "a", "description": {"zh-CN": "甲"}}, {"id": "b", "description": {"zh-CN": "乙"}}]}
    record(users.member, verb="answered", object_id="http://lms.test/xapi/activities/quiz-question/3",
           result={"response": "b", "success": True}, object_definition=definition)
    db.session.commit()
    [s] = stored(db)
    d = s["object"]["definition"]
    assert d["interactionType"] == "choice" and d["correctResponsesPattern"] == ["b"]
    assert [c["id"] for c in d["choices"]] == ["a", "b"]
    assert d["name"] == {"zh-CN": "党章学习"}


def test_statement_is_part_of_the_callers_transaction(app, db, users):
    record(users.member)
    db.session.rollback()
    assert stored(db) == []
    record(users.member)
    db.session.commit()
    assert len(stored(db)) == 1


def test_invalid_event_aborts_the_domain_change(app, db, users):
    from plugins.xapi.services import LRSError

    with pytest.raises(LRSError):
        record(users.member, result={"score": {"scaled": 7}})
    db.session.rollback()
    assert stored(db) == []


def test_course_enrolment_records_through_the_event_path(app, db, users):
    from lms.courses.models import Course
    from lms.courses.services import enroll

    course = Course(title="新时代党员教育", created_by_id=users.teacher.id)
    db.session.add(course)
    db.session.flush()
    enroll(users.member, course)
    db.session.commit()
    [s] = stored(db)
    assert s["verb"]["id"].endswith("/registered") and s["object"]["id"].endswith(f"/course/{course.id}")


def test_projection_tracks_completion_score_time_and_is_idempotent(app, db, users, lrs):
    ev = record(users.member, verb="experienced", result={"duration": "PT10M",
                "extensions": {"https://w3id.org/xapi/video/extensions/progress": 0.4}})
    record(users.member, verb="passed", result={"score": {"scaled": 0.9}, "success": True, "duration": "PT5M"})
    db.session.commit()
    p = progress(db, users.member)
    assert p.completion is True and p.success is True and p.progress == 100
    assert p.score_scaled == 0.9 and p.effective_seconds == 900 and p.statement_count == 2
    assert p.activity_name == "党章学习"
    before = (p.progress, p.effective_seconds, p.statement_count, p.last_seen)
    # re-posting the same statement (same id, same content) through the LRS changes nothing
    again = [s for s in stored(db) if s["id"] == ev.statement_id][0]
    again = {k: val for k, val in again.items() if k not in ("stored", "authority", "version")}
    assert lrs.post("statements", again).status_code == 200
    db.session.expire_all()
    p = progress(db, users.member)
    assert (p.progress, p.effective_seconds, p.statement_count, p.last_seen) == before


def test_voiding_reverses_the_projection(app, db, users, lrs):
    record(users.member, verb="experienced", result={"duration": "PT1M"})
    done = record(users.member, verb="completed", result={"duration": "PT2M"})
    db.session.commit()
    assert progress(db, users.member).completion is True
    void = stmt(verb={"id": "http://adlnet.gov/expapi/verbs/voided"},
                object={"objectType": "StatementRef", "id": done.statement_id})
    assert lrs.post("statements", void).status_code == 200
    db.session.expire_all()
    p = progress(db, users.member)
    assert p.completion is False and p.effective_seconds == 60 and p.statement_count == 1


def test_statements_of_other_actors_do_not_project(app, db, users, lrs):
    from plugins.xapi.models import XapiProgress

    lrs.post("statements", stmt())
    other_site = stmt(actor={"account": {"homePage": "http://elsewhere.example", "name": str(users.member.id)}})
    lrs.post("statements", other_site)
    assert db.session.scalar(select(func.count()).select_from(XapiProgress)) == 0


def test_published_hook_reports_stored_statements(app, db, users):
    from lms.plugins import hookimpl

    seen = []

    class Listener:
        @hookimpl
        def lms_event_statement_stored(self, statements, person_ids):
            seen.extend(zip([s["id"] for s in statements], person_ids, strict=True))

    app.extensions["lms_plugins"].pm.register(Listener(), name="test-listener")
    ev = record(users.member)
    assert seen == [(ev.statement_id, users.member.id)]


def test_without_the_xapi_plugin_recording_is_a_no_op(app_factory, users):
    other = app_factory(PLUGINS=[])
    with other.app_context():
        from lms.accounts.models import User
        from lms.extensions import db

        u = db.session.get(User, users.member.id)
        events.record(events.LearningEvent(user=u, verb="completed", object_id=LESSON))
        db.session.commit()
        assert "xapi" not in other.extensions


# --- browser endpoint -----------------------------------------------------------------------------
def played(**over):
    s = {"verb": {"id": "https://w3id.org/xapi/video/verbs/played"},
         "object": {"id": LESSON, "definition": {"name": {"zh-CN": "党章学习"}}},
         "result": {"extensions": {"https://w3id.org/xapi/video/extensions/time": 12.5}}}
    s.update(over)
    return s


def test_browser_endpoint_fills_the_actor_from_the_session(app, db, client, users, login_as):
    login_as(client, users.member)
    r = client.post("/xapi/browser/statements", json=played())
    assert r.status_code == 200, r.get_json()
    [s] = stored(db)
    assert s["actor"]["account"]["name"] == str(users.member.id)
    assert progress(db, users.member).statement_count == 1


def test_browser_endpoint_refuses_statements_for_someone_else(app, db, client, users, login_as):
    login_as(client, users.member)
    forged = played(actor={"account": {"homePage": "http://lms.test", "name": str(users.member_b.id)}})
    r = client.post("/xapi/browser/statements", json=forged)
    assert r.status_code == 403 and "他人" in r.get_json()["error"]
    assert stored(db) == []


def test_browser_endpoint_refuses_completion_results(app, db, client, users, login_as):
    login_as(client, users.member)
    r = client.post("/xapi/browser/statements", json=played(verb={"id": "http://adlnet.gov/expapi/verbs/completed"}))
    assert r.status_code == 403
    r = client.post("/xapi/browser/statements", json=played(result={"completion": True}))
    assert r.status_code == 403
    assert stored(db) == []


def test_browser_endpoint_validates_like_the_lrs(app, client, users, login_as):
    login_as(client, users.member)
    r = client.post("/xapi/browser/statements", json=played(verb={"id": "played"}))
    assert r.status_code == 400 and "verb.id" in r.get_json()["error"]
    assert client.post("/xapi/browser/statements", data="x", content_type="text/plain").status_code == 400


def test_browser_endpoint_needs_a_session(client, app):
    assert client.post("/xapi/browser/statements", json=played()).status_code == 401


def test_browser_endpoint_needs_the_csrf_token(app_factory, users, login_as):
    strict = app_factory(WTF_CSRF_ENABLED=True)
    c = strict.test_client()
    with strict.app_context():
        login_as(c, users.member)
        assert c.post("/xapi/browser/statements", json=played()).status_code == 400
        page = c.get("/records/me").get_data(as_text=True)
        token = page.split('name="csrf-token" content="')[1].split('"')[0]
        r = c.post("/xapi/browser/statements", json=played(), headers={"X-CSRFToken": token})
        assert r.status_code == 200


def test_service_publishes_the_browser_endpoint(app):
    with app.test_request_context():
        assert app.extensions["xapi"].browser_endpoint() == "/xapi/browser/statements"


# --- pages ----------------------------------------------------------------------------------------
def test_member_sees_own_timeline(app, db, client, users, login_as):
    record(users.member, result={"duration": "PT1H2M"})
    db.session.commit()
    login_as(client, users.member)
    home = client.get("/").get_data(as_text=True)
    assert "/records/me" in home
    html = client.get("/records/me").get_data(as_text=True)
    assert "党章学习" in html and "完成" in html and "1小时2分" in html


def test_timeline_shows_verbs_in_the_readers_language(app, db, client, users, login_as):
    record(users.member)
    db.session.commit()
    login_as(client, users.member)
    client.set_cookie("lang", "en")
    html = client.get("/records/me").get_data(as_text=True)
    assert "completed" in html and "完成" not in html


def test_org_admin_sees_a_members_record_with_statements_and_it_is_audited(app, db, client, users, login_as):
    from lms.audit.models import AuditLog

    record(users.member, result={"duration": "PT3M"})
    db.session.commit()
    login_as(client, users.org_admin)
    listing = client.get("/records/people").get_data(as_text=True)
    assert users.member.name in listing and users.member_b.name not in listing
    html = client.get(f"/records/people/{users.member.id}", query_string={"activity": LESSON}).get_data(as_text=True)
    assert "党章学习" in html and "1 条语句" in html
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "xapi.record.view")) is not None


def test_record_of_someone_outside_the_scope_is_forbidden(app, client, users, login_as):
    login_as(client, users.org_admin)
    assert client.get(f"/records/people/{users.member_b.id}").status_code == 403
    login_as(client, users.member)
    assert client.get(f"/records/people/{users.member_a2.id}").status_code == 403
    assert client.get("/records/people").status_code == 403
    assert client.get(f"/records/people/{users.member.id}").status_code == 200


def test_timeline_requires_login(client, app):
    r = client.get("/records/me")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_unknown_person_is_404(app, client, users, login_as):
    login_as(client, users.sysadmin)
    assert client.get("/records/people/999999").status_code == 404



def test_event_extensions_and_registration_reach_the_statement(app, db, users):
    reg = "6f9619ff-8b86-4011-b42d-00c04fc964ff"
    record(users.member, verb="experienced", registration=reg,
           extensions={"https://w3id.org/xapi/video/extensions/session-id": "abc"})
    db.session.commit()
    [s] = stored(db)
    assert s["context"]["registration"] == reg
    assert s["context"]["extensions"] == {"https://w3id.org/xapi/video/extensions/session-id": "abc"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_projection_equals_a_full_recompute(app, db, users, lrs, seed):
    """Statements arrive one by one through the LRS, some with timestamps older than the last one (sent late),
    some in batches: the projected row is exactly what recomputing it from all statements gives."""
    import random

    from plugins.xapi import projections

    rng = random.Random(seed)
    actor = {"objectType": "Agent", "account": {"homePage": "http://lms.test", "name": str(users.member.id)}}
    verbs = ["experienced", "progressed", "completed", "passed", "failed", "attempted"]

    def one(minute):
        result = {"duration": f"PT{rng.randrange(1, 90)}S"}
        if rng.random() < 0.5:
            result["extensions"] = {"https://w3id.org/xapi/video/extensions/progress": round(rng.random(), 3)}
        if rng.random() < 0.3:
            result["score"] = {"scaled": round(rng.random(), 2)}
        if rng.random() < 0.2:
            result["success"] = rng.random() < 0.5
        return stmt(actor=actor, verb={"id": f"http://adlnet.gov/expapi/verbs/{rng.choice(verbs)}"},
                    object={"id": LESSON, "definition": {"name": {"zh-CN": f"第{minute}课"}}},
                    result=result, timestamp=f"2026-03-01T08:{minute:02d}:00.000Z")

    minute = 10
    for _ in range(25):
        late = rng.random() < 0.2
        if rng.random() < 0.2:
            body = [one(minute + i) for i in range(3)]
            minute += 3
        else:
            body = one(minute - rng.randrange(1, 10) if late else minute)
            minute += 1
        assert lrs.post("statements", body).status_code == 200
        db.session.expire_all()
        p = progress(db, users.member)
        incremental = (p.progress, p.completion, p.completed_at, p.success, p.score_scaled, p.effective_seconds,
                       p.statement_count, p.first_seen, p.last_seen, p.activity_name)
        full = projections.recompute(users.member.id, LESSON)
        assert incremental == (full.progress, full.completion, full.completed_at, full.success, full.score_scaled,
                               full.effective_seconds, full.statement_count, full.first_seen, full.last_seen,
                               full.activity_name)
        db.session.rollback()
