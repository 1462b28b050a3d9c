"""XAPI-05/XAPI-06: the LRS's version header and parameters, forged authority, and its size limit."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from plugins.xapi.tests.conftest import LRS, make_client, stmt


@pytest.fixture
def lrs(app, client):
    c, secret = make_client()
    return LRS(client, c.key, secret)


def count(db):
    from plugins.xapi.models import XapiStatement

    return db.session.scalar(select(func.count(XapiStatement.id)))


def test_forged_authority_is_replaced_by_the_credentials_agent(lrs, db):
    forged = {"objectType": "Agent", "account": {"homePage": "http://lms.test", "name": "xapi-client-999"},
              "name": "系统管理员"}
    r = lrs.post("statements", stmt(authority=forged))
    assert r.status_code == 200
    sid = r.get_json()[0]
    stored = lrs.get("statements", {"statementId": sid}).get_json()
    assert stored["authority"] != forged
    assert stored["authority"]["account"]["name"].startswith("xapi-client-")
    assert stored["authority"]["account"]["name"] != "xapi-client-999"


def test_a_five_mib_statement_is_413_and_nothing_is_stored(app, lrs, db):
    big = stmt(result={"response": "x" * (5 * 1024**2)})
    before = count(db)
    r = lrs.post("statements", big)
    assert r.status_code == 413 and r.get_json()["status"] == 413
    assert r.headers["X-Experience-API-Version"].startswith("1.0")
    assert lrs.put("statements", big, params={"statementId": "5b0b6a4e-6d5c-4b1e-9d6b-3f1f6f0c1a11"}).status_code == 413
    # Without a Content-Length (chunked) the limit holds while reading.
    r = lrs.client.post("/xapi/statements", input_stream=__import__("io").BytesIO(json.dumps(big).encode()),
                        headers=lrs.headers({"Content-Type": "application/json", "Transfer-Encoding": "chunked"}),
                        environ_overrides={"wsgi.input_terminated": True})
    assert r.status_code == 413
    assert count(db) == before
    # Just under the configured limit is still accepted.
    limit = app.config["XAPI_MAX_BODY_BYTES"]
    ok = stmt(result={"response": "x" * (limit - 2000)})
    assert lrs.post("statements", ok).status_code == 200 and count(db) == before + 1


@pytest.mark.parametrize("version,status", [(None, 400), ("1.1.0", 400), ("2.0.0", 400), ("1.0", 200),
                                            ("1.0.0", 200), ("1.0.3", 200)])
def test_version_header(lrs, version, status):
    r = lrs.get("statements", version=version)
    assert r.status_code == status
    assert r.headers["X-Experience-API-Version"].startswith("1.0.")


@pytest.mark.parametrize("params", [{"colour": "red"}, {"Limit": "1"}, {"VERB": "http://x.org/v"},
                                    {"limit": ["1", "2"]}])
def test_unknown_case_variant_or_repeated_parameters_are_400_with_the_header(lrs, params):
    r = lrs.get("statements", params)
    assert r.status_code == 400
    assert r.headers["X-Experience-API-Version"].startswith("1.0.")


def test_every_lrs_response_carries_the_version_header(lrs, client):
    responses = [
        lrs.get("statements"), lrs.post("statements", stmt()), lrs.post("statements", {"bad": 1}),
        lrs.get("statements", {"statementId": "00000000-0000-4000-8000-000000000000"}),
        lrs.get("statements", auth=False), lrs.get("activities/state", {"activityId": "http://x.org/a"}),
        client.get("/xapi/about"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 400, 404, 401, 400, 200]
    assert all(r.headers.get("X-Experience-API-Version", "").startswith("1.0.") for r in responses)
