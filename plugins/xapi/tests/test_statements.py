"""Statements resource: storing, retrieving, every query parameter, paging, formats, voiding, conflicts."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from plugins.xapi.tests.conftest import LRS, new_id, stmt

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def ids_of(resp):
    return [s["id"] for s in resp.get_json()["statements"]]


def test_post_single_returns_id_and_get_returns_it_with_lrs_fields(lrs):
    r = lrs.post("statements", stmt())
    assert r.status_code == 200
    assert r.headers["X-Experience-API-Version"] == "1.0.3"
    [sid] = r.get_json()
    got = lrs.get("statements", {"statementId": sid})
    assert got.status_code == 200
    s = got.get_json()
    assert s["id"] == sid and s["verb"]["id"].endswith("experienced")
    assert s["stored"].endswith("Z") and s["timestamp"] == s["stored"]
    assert s["authority"]["account"]["name"].startswith("xapi-client-")
    assert s["version"] == "1.0.0"
    assert "X-Experience-API-Consistent-Through" in got.headers
    assert "Last-Modified" in got.headers


def test_put_stores_under_given_id_and_requires_statement_id(lrs):
    sid = new_id()
    assert lrs.put("statements", stmt(), params={"statementId": sid}).status_code == 204
    assert lrs.get("statements", {"statementId": sid}).get_json()["id"] == sid
    r = lrs.put("statements", stmt())
    assert r.status_code == 400 and "statementId" in r.get_json()["error"]
    r = lrs.put("statements", stmt(id=new_id()), params={"statementId": sid})
    assert r.status_code == 400


def test_batch_post_returns_ids_in_order(lrs):
    given = new_id()
    r = lrs.post("statements", [stmt(), stmt(id=given), stmt()])
    ids = r.get_json()
    assert r.status_code == 200 and len(ids) == 3 and ids[1] == given
    assert len(ids_of(lrs.get("statements"))) == 3


def test_batch_with_one_invalid_statement_stores_none(lrs):
    bad = stmt(verb={"id": "not an iri"})
    r = lrs.post("statements", [stmt(), bad, stmt()])
    assert r.status_code == 400
    assert "statement[1].verb.id" in r.get_json()["error"]
    assert ids_of(lrs.get("statements")) == []


def test_a_batch_with_one_id_twice_is_400_and_stores_none(lrs):
    sid = new_id()
    for twice in ([stmt(id=sid), stmt(), stmt(id=sid)],  # the same statement twice
                  [stmt(id=sid), stmt(id=sid.upper(), verb={"id": "http://adlnet.gov/expapi/verbs/failed"})]):
        r = lrs.post("statements", twice)
        assert r.status_code == 400 and "more than once" in r.get_json()["error"]
    assert ids_of(lrs.get("statements")) == []


def test_reused_id_with_other_content_is_409_and_stored_untouched(lrs):
    sid = new_id()
    lrs.put("statements", stmt(), params={"statementId": sid})
    other = stmt(verb={"id": "http://adlnet.gov/expapi/verbs/failed"})
    assert lrs.put("statements", other, params={"statementId": sid}).status_code == 409
    assert lrs.post("statements", [stmt(), dict(other, id=sid)]).status_code == 409
    assert lrs.get("statements", {"statementId": sid}).get_json()["verb"]["id"].endswith("experienced")
    assert len(ids_of(lrs.get("statements"))) == 1  # the batch with the conflict stored nothing


def test_reposting_the_same_statement_is_accepted_without_a_second_copy(lrs):
    sid = new_id()
    assert lrs.put("statements", stmt(), params={"statementId": sid}).status_code == 204
    assert lrs.put("statements", stmt(), params={"statementId": sid}).status_code == 204
    assert lrs.post("statements", [stmt(id=sid)]).get_json() == [sid]
    assert ids_of(lrs.get("statements")) == [sid]


def test_get_unknown_statement_is_404(lrs):
    r = lrs.get("statements", {"statementId": new_id()})
    assert r.status_code == 404 and "X-Experience-API-Consistent-Through" in r.headers


def test_statement_id_cannot_be_combined_with_filters(lrs):
    r = lrs.get("statements", {"statementId": new_id(), "verb": "http://x.y/z"})
    assert r.status_code == 400
    assert lrs.get("statements", {"statementId": new_id(), "voidedStatementId": new_id()}).status_code == 400


def test_unknown_query_parameter_is_rejected(lrs):
    r = lrs.get("statements", {"colour": "red"})
    assert r.status_code == 400 and "colour" in r.get_json()["error"]


def test_voiding_hides_the_target_except_by_voided_statement_id(lrs):
    target = lrs.post("statements", stmt()).get_json()[0]
    void = stmt(verb={"id": VOIDED}, object={"objectType": "StatementRef", "id": target})
    void_id = lrs.post("statements", void).get_json()[0]
    assert lrs.get("statements", {"statementId": target}).status_code == 404
    assert lrs.get("statements", {"voidedStatementId": target}).get_json()["id"] == target
    assert lrs.get("statements", {"voidedStatementId": void_id}).status_code == 404
    assert ids_of(lrs.get("statements")) == [void_id]


def test_a_voiding_statement_cannot_be_voided(lrs):
    target = lrs.post("statements", stmt()).get_json()[0]
    void_id = lrs.post("statements", stmt(verb={"id": VOIDED}, object={"objectType": "StatementRef",
                                                                       "id": target})).get_json()[0]
    r = lrs.post("statements", stmt(verb={"id": VOIDED}, object={"objectType": "StatementRef", "id": void_id}))
    assert r.status_code == 400 and "voiding" in r.get_json()["error"]


def test_filter_agent_verb_activity_registration(lrs):
    reg = new_id()
    a = lrs.post("statements", stmt(context={"registration": reg})).get_json()[0]
    b = lrs.post("statements", stmt(actor={"mbox": "mailto:other@example.org"})).get_json()[0]
    c = lrs.post("statements", stmt(verb={"id": "http://adlnet.gov/expapi/verbs/completed"})).get_json()[0]
    d = lrs.post("statements", stmt(object={"id": "http://example.org/activities/other"})).get_json()[0]
    agent = json.dumps({"mbox": "mailto:other@example.org"})
    assert ids_of(lrs.get("statements", {"agent": agent})) == [b]
    assert ids_of(lrs.get("statements", {"verb": "http://adlnet.gov/expapi/verbs/completed"})) == [c]
    assert ids_of(lrs.get("statements", {"activity": "http://example.org/activities/other"})) == [d]
    assert ids_of(lrs.get("statements", {"registration": reg})) == [a]


def test_agent_filter_matches_agent_as_object_and_related_agents(lrs):
    teacher = {"mbox": "mailto:teacher@example.org"}
    as_object = lrs.post("statements", stmt(object=dict(teacher, objectType="Agent"))).get_json()[0]
    as_instructor = lrs.post("statements", stmt(context={"instructor": teacher})).get_json()[0]
    q = {"agent": json.dumps(teacher)}
    assert ids_of(lrs.get("statements", q)) == [as_object]
    assert set(ids_of(lrs.get("statements", dict(q, related_agents="true")))) == {as_object, as_instructor}


def test_related_activities_include_context_activities(lrs):
    course = "http://example.org/activities/course-1"
    in_context = lrs.post("statements", stmt(context={"contextActivities": {"parent": {"id": course}}})).get_json()[0]
    assert ids_of(lrs.get("statements", {"activity": course})) == []
    assert ids_of(lrs.get("statements", {"activity": course, "related_activities": "true"})) == [in_context]
    # a single context activity is returned as an array
    got = lrs.get("statements", {"statementId": in_context}).get_json()
    assert got["context"]["contextActivities"]["parent"] == [{"id": course}]


def test_filters_also_return_statements_referencing_a_match(lrs):
    target = lrs.post("statements", stmt(verb={"id": "http://adlnet.gov/expapi/verbs/attempted"})).get_json()[0]
    ref = lrs.post("statements", stmt(verb={"id": "http://adlnet.gov/expapi/verbs/commented"},
                                      object={"objectType": "StatementRef", "id": target})).get_json()[0]
    assert set(ids_of(lrs.get("statements", {"verb": "http://adlnet.gov/expapi/verbs/attempted"}))) == {target, ref}


def test_since_until_ascending_and_limit_with_more_paging(lrs):
    ids = []
    for _ in range(5):
        ids.append(lrs.post("statements", stmt()).get_json()[0])
        time.sleep(0.002)
    first = lrs.get("statements", {"limit": 2})
    page = first.get_json()
    assert [s["id"] for s in page["statements"]] == ids[:-3:-1]
    assert page["more"].startswith("/xapi/statements?more=")
    seen = [s["id"] for s in page["statements"]]
    while page["more"]:
        nxt = lrs.client.get(page["more"], headers=lrs.headers())
        page = nxt.get_json()
        seen += [s["id"] for s in page["statements"]]
    assert seen == ids[::-1]
    asc = ids_of(lrs.get("statements", {"ascending": "true"}))
    assert asc == ids
    third = lrs.get("statements", {"statementId": ids[2]}).get_json()["stored"]
    assert ids_of(lrs.get("statements", {"since": third, "ascending": "true"})) == ids[3:]
    assert ids_of(lrs.get("statements", {"until": third, "ascending": "true"})) == ids[:3]
    assert lrs.get("statements", {"since": "yesterday"}).status_code == 400
    assert lrs.get("statements", {"limit": "-1"}).status_code == 400
    assert lrs.get("statements", {"more": "forged"}).status_code == 400


def test_format_ids_and_canonical(lrs):
    s = stmt()
    s["object"]["definition"]["name"]["en-US"] = "Lesson one"
    sid = lrs.post("statements", s).get_json()[0]
    ids = lrs.get("statements", {"statementId": sid, "format": "ids"}).get_json()
    assert ids["actor"] == {"objectType": "Agent", "mbox": "mailto:xueyuan@example.org"}
    assert ids["verb"] == {"id": s["verb"]["id"]} and ids["object"] == {"id": s["object"]["id"]}
    canon = lrs.get("statements", {"statementId": sid, "format": "canonical"},
                    headers={"Accept-Language": "en-US"}).get_json()
    assert canon["object"]["definition"]["name"] == {"en-US": "Lesson one"}
    assert canon["verb"]["display"] == {"en-US": "experienced"}
    exact = lrs.get("statements", {"statementId": sid, "format": "exact"}).get_json()
    assert exact["object"]["definition"]["name"] == {"zh-CN": "第一课", "en-US": "Lesson one"}
    assert lrs.get("statements", {"format": "pretty"}).status_code == 400


def test_head_returns_headers_without_body(lrs):
    lrs.post("statements", stmt())
    r = lrs.head("statements")
    assert r.status_code == 200 and r.data == b"" and "X-Experience-API-Consistent-Through" in r.headers


def test_version_header_is_required_and_checked(lrs):
    assert lrs.get("statements", version=None).status_code == 400
    assert lrs.get("statements", version="0.95").status_code == 400
    assert lrs.get("statements", version="1.0.1").status_code == 200


def test_statements_need_json_or_multipart(lrs):
    r = lrs.post("statements", raw="x=1", content_type="text/plain")
    assert r.status_code == 400 and "Content-Type" in r.get_json()["error"]
    assert lrs.post("statements", raw="{not json").status_code == 400


def test_alternate_request_syntax(lrs):
    from urllib.parse import urlencode

    sid = new_id()
    form = urlencode({"statementId": sid, "content": json.dumps(stmt()), "Authorization": lrs.auth,
                      "X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"})
    r = lrs.client.post("/xapi/statements?method=PUT", data=form,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 204
    got = lrs.client.post("/xapi/statements?method=GET", data=urlencode({"statementId": sid}),
                          headers=lrs.headers({"Content-Type": "application/x-www-form-urlencoded"}))
    assert got.get_json()["id"] == sid
    extra = lrs.client.post(f"/xapi/statements?method=GET&statementId={sid}", data="",
                            headers=lrs.headers({"Content-Type": "application/x-www-form-urlencoded"}))
    assert extra.status_code == 400
    not_post = lrs.client.put("/xapi/statements?method=GET", headers=lrs.headers())
    assert not_post.status_code == 400


def test_about_needs_no_credentials(client):
    r = client.get("/xapi/about")
    assert r.status_code == 200 and "1.0.3" in r.get_json()["version"]


def test_activities_resource_merges_definitions(lrs):
    aid = "http://example.org/activities/merged"
    lrs.post("statements", [stmt(object={"id": aid, "definition": {"name": {"zh-CN": "会议"}}}),
                            stmt(object={"id": aid, "definition": {"name": {"en-US": "meeting"}}})])
    got = lrs.get("activities", {"activityId": aid}).get_json()
    assert got["definition"]["name"] == {"zh-CN": "会议", "en-US": "meeting"}
    assert lrs.get("activities").status_code == 400


def test_agents_resource_returns_a_person(lrs):
    r = lrs.get("agents", {"agent": json.dumps({"mbox": "mailto:a@example.org", "name": "A"})})
    assert r.get_json() == {"objectType": "Person", "name": ["A"], "mbox": ["mailto:a@example.org"]}
    assert lrs.get("agents", {"agent": json.dumps({"name": "no ifi"})}).status_code == 400


def test_timestamps_with_offsets_are_stored_as_given_and_indexed_in_utc(lrs, db):
    from plugins.xapi.models import XapiStatement

    sid = lrs.post("statements", stmt(timestamp="2026-03-01T08:00:00.000+08:00")).get_json()[0]
    assert lrs.get("statements", {"statementId": sid}).get_json()["timestamp"] == "2026-03-01T08:00:00.000+08:00"
    row = db.session.query(XapiStatement).filter_by(statement_id=sid).one()
    assert row.timestamp == datetime(2026, 3, 1, 0, 0)


def test_since_in_the_future_returns_nothing(lrs):
    lrs.post("statements", stmt())
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert ids_of(lrs.get("statements", {"since": future})) == []


@pytest.mark.parametrize("value", ["true", "false"])
def test_boolean_parameters_accept_true_false(lrs, value):
    assert lrs.get("statements", {"related_agents": value}).status_code == 200
    assert lrs.get("statements", {"related_agents": "maybe"}).status_code == 400


def test_concurrent_insert_of_the_same_id_is_retried_not_a_500(lrs, db, monkeypatch):
    import copy

    from sqlalchemy.exc import IntegrityError

    from plugins.xapi import services

    original = services._store
    sid = new_id()
    calls = []

    def racing(statements, *args, **kwargs):
        if not calls:
            calls.append(1)
            # another request wins the race with the same statement, then our insert hits the unique index
            original(copy.deepcopy(statements), *args, **kwargs)
            db.session.commit()
            raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: xapi_statement.statement_id"))
        return original(statements, *args, **kwargs)

    monkeypatch.setattr(services, "_store", racing)
    r = lrs.put("statements", stmt(), params={"statementId": sid})
    assert r.status_code == 204
    assert ids_of(lrs.get("statements")) == [sid]


def test_fifty_concurrent_puts_of_one_id_store_exactly_one(app, lrs):
    """XAPI-02: 50 clients PUT different statements under one id at the same moment: one 204, 49 × 409, and the
    stored statement is the one that was acknowledged."""
    import threading

    sid = new_id()
    start = threading.Barrier(50)
    statuses: dict[int, int] = {}

    def put(i: int) -> None:
        client = LRS(app.test_client(), "", "")
        client.auth = lrs.auth
        body = stmt(object={"id": f"http://example.org/activities/race-{i}"})
        start.wait()
        statuses[i] = client.put("statements", body, params={"statementId": sid}).status_code

    threads = [threading.Thread(target=put, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses.values()) == [204] + [409] * 49
    winner = next(i for i, code in statuses.items() if code == 204)
    stored = lrs.get("statements", {"statementId": sid}).get_json()
    assert stored["object"]["id"] == f"http://example.org/activities/race-{winner}"
    assert ids_of(lrs.get("statements")) == [sid]
