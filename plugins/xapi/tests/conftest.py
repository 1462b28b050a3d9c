"""Fixtures of the xAPI tests: LRS credentials and a small client that speaks xAPI over the test client."""
from __future__ import annotations

import base64
import json
import uuid

import pytest


class LRS:
    """Sends xAPI requests through Flask's test client with Basic credentials and the version header."""

    def __init__(self, client, key: str, secret: str):
        self.client = client
        self.auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()

    def headers(self, extra=None, version="1.0.3", auth=True):
        h = {}
        if version:
            h["X-Experience-API-Version"] = version
        if auth:
            h["Authorization"] = self.auth
        h.update(extra or {})
        return h

    def get(self, path, params=None, headers=None, **kw):
        return self.client.get("/xapi/" + path, query_string=params or {}, headers=self.headers(headers, **kw))

    def head(self, path, params=None, headers=None):
        return self.client.head("/xapi/" + path, query_string=params or {}, headers=self.headers(headers))

    def post(self, path, body=None, params=None, headers=None, content_type="application/json", raw=None, **kw):
        data = raw if raw is not None else json.dumps(body)
        return self.client.post("/xapi/" + path, data=data, query_string=params or {},
                                headers=self.headers({"Content-Type": content_type, **(headers or {})}, **kw))

    def put(self, path, body=None, params=None, headers=None, content_type="application/json", raw=None):
        data = raw if raw is not None else json.dumps(body)
        return self.client.put("/xapi/" + path, data=data, query_string=params or {},
                               headers=self.headers({"Content-Type": content_type, **(headers or {})}))

    def delete(self, path, params=None, headers=None):
        return self.client.delete("/xapi/" + path, query_string=params or {}, headers=self.headers(headers))


def make_client(name="测试客户端", read=True, write=True):
    from lms.extensions import db
    from plugins.xapi.clients import create_client

    client, secret = create_client(name, read=read, write=write)
    db.session.commit()
    return client, secret


@pytest.fixture
def lrs(app, client):
    c, secret = make_client()
    return LRS(client, c.key, secret)


@pytest.fixture
def make_lrs(app, client):
    def make(read=True, write=True):
        c, secret = make_client(read=read, write=write)
        return LRS(client, c.key, secret), c

    return make


def stmt(**over) -> dict:
    """A valid statement; keyword arguments replace top-level properties."""
    s = {
        "actor": {"objectType": "Agent", "mbox": "mailto:xueyuan@example.org", "name": "学员"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced", "display": {"zh-CN": "学习", "en-US": "experienced"}},
        "object": {"id": "http://example.org/activities/lesson-1",
                   "definition": {"name": {"zh-CN": "第一课"}, "type": "http://adlnet.gov/expapi/activities/lesson"}},
    }
    s.update(over)
    return s


def new_id() -> str:
    return str(uuid.uuid4())
