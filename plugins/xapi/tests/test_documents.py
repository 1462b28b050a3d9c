"""State, Activity Profile and Agent Profile resources: storage, listing, JSON merge, ETag concurrency."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from plugins.xapi.tests.conftest import new_id

ACTIVITY = "http://example.org/activities/lesson-1"
AGENT = json.dumps({"objectType": "Agent", "mbox": "mailto:xueyuan@example.org"})


def state_params(**kw):
    return {"activityId": ACTIVITY, "agent": AGENT, **kw}


def test_state_put_get_list_and_delete(lrs):
    p = state_params(stateId="bookmark")
    assert lrs.put("activities/state", raw=b"page=3", params=p, content_type="text/plain").status_code == 204
    got = lrs.get("activities/state", p)
    assert got.status_code == 200 and got.data == b"page=3" and got.mimetype == "text/plain"
    assert got.headers["ETag"].strip('"') and "Last-Modified" in got.headers
    lrs.put("activities/state", {"a": 1}, params=state_params(stateId="other"))
    assert sorted(lrs.get("activities/state", state_params()).get_json()) == ["bookmark", "other"]
    assert lrs.delete("activities/state", p).status_code == 204
    assert lrs.get("activities/state", p).status_code == 404
    assert lrs.delete("activities/state", state_params()).status_code == 204  # all of this agent's states
    assert lrs.get("activities/state", state_params()).get_json() == []


def test_state_is_scoped_by_registration_and_agent(lrs):
    reg = new_id()
    lrs.put("activities/state", {"r": 1}, params=state_params(stateId="s", registration=reg))
    assert lrs.get("activities/state", state_params(stateId="s")).status_code == 404
    other = json.dumps({"mbox": "mailto:other@example.org"})
    assert lrs.get("activities/state", {"activityId": ACTIVITY, "agent": other, "stateId": "s",
                                        "registration": reg}).status_code == 404
    assert lrs.get("activities/state", state_params(stateId="s", registration=reg)).get_json() == {"r": 1}


def test_state_list_since(lrs):
    lrs.put("activities/state", {"a": 1}, params=state_params(stateId="old"))
    time.sleep(0.01)
    cut = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    lrs.put("activities/state", {"a": 1}, params=state_params(stateId="new"))
    assert lrs.get("activities/state", state_params(since=cut)).get_json() == ["new"]


def test_state_requires_activity_and_valid_agent(lrs):
    assert lrs.get("activities/state", {"agent": AGENT}).status_code == 400
    r = lrs.get("activities/state", {"activityId": ACTIVITY, "agent": "{bad json"})
    assert r.status_code == 400 and "agent" in r.get_json()["error"]
    assert lrs.get("activities/state", state_params(registration="nope")).status_code == 400
    assert lrs.put("activities/state", {"a": 1}, params=state_params()).status_code == 400  # no stateId


def test_post_merges_json_objects(lrs):
    p = state_params(stateId="progress")
    lrs.post("activities/state", {"a": 1, "b": {"x": 1}}, params=p)
    lrs.post("activities/state", {"b": {"y": 2}, "c": 3}, params=p)
    assert lrs.get("activities/state", p).get_json() == {"a": 1, "b": {"y": 2}, "c": 3}


def test_post_merge_rejects_non_json(lrs):
    p = state_params(stateId="text")
    lrs.put("activities/state", raw=b"plain", params=p, content_type="text/plain")
    assert lrs.post("activities/state", {"a": 1}, params=p).status_code == 400
    p2 = state_params(stateId="json")
    lrs.put("activities/state", {"a": 1}, params=p2)
    assert lrs.post("activities/state", raw=b"[1, 2]", params=p2).status_code == 400
    assert lrs.get("activities/state", p2).get_json() == {"a": 1}


def test_activity_profile_concurrency(lrs):
    p = {"activityId": ACTIVITY, "profileId": "syllabus"}
    # creating without a precondition header is refused; If-None-Match: * creates
    assert lrs.put("activities/profile", {"v": 1}, params=p).status_code == 400
    assert lrs.put("activities/profile", {"v": 1}, params=p, headers={"If-None-Match": "*"}).status_code == 204
    etag = lrs.get("activities/profile", p).headers["ETag"]
    # the document exists: no header → 409; If-None-Match: * → 412; stale If-Match → 412
    assert lrs.put("activities/profile", {"v": 2}, params=p).status_code == 409
    assert lrs.put("activities/profile", {"v": 2}, params=p, headers={"If-None-Match": "*"}).status_code == 412
    assert lrs.put("activities/profile", {"v": 2}, params=p, headers={"If-Match": '"0000"'}).status_code == 412
    assert lrs.get("activities/profile", p).get_json() == {"v": 1}
    assert lrs.put("activities/profile", {"v": 2}, params=p, headers={"If-Match": etag}).status_code == 204
    assert lrs.get("activities/profile", p).get_json() == {"v": 2}
    assert lrs.delete("activities/profile", p, headers={"If-Match": etag}).status_code == 412
    assert lrs.get("activities/profile", {"activityId": ACTIVITY}).get_json() == ["syllabus"]
    assert lrs.delete("activities/profile", p).status_code == 204
    assert lrs.get("activities/profile", p).status_code == 404


def test_agent_profile_roundtrip_and_if_match_on_missing(lrs):
    p = {"agent": AGENT, "profileId": "prefs"}
    assert lrs.put("agents/profile", {"lang": "zh"}, params=p, headers={"If-Match": '"abc"'}).status_code == 412
    assert lrs.put("agents/profile", {"lang": "zh"}, params=p, headers={"If-None-Match": "*"}).status_code == 204
    assert lrs.post("agents/profile", {"speed": 1.5}, params=p).status_code == 204
    assert lrs.get("agents/profile", p).get_json() == {"lang": "zh", "speed": 1.5}
    assert lrs.get("agents/profile", {"agent": AGENT}).get_json() == ["prefs"]
    assert lrs.get("agents/profile", {"profileId": "prefs"}).status_code == 400


def test_document_resources_reject_unknown_parameters(lrs):
    assert lrs.get("activities/profile", {"activityId": ACTIVITY, "colour": "red"}).status_code == 400
