"""Forwarding to an external LRS: outbox rows survive a down LRS and are delivered once it is up; replay."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from plugins.xapi.tests.conftest import stmt


class StubLRS:
    """A minimal external LRS on 127.0.0.1 that records the statements it receives."""

    def __init__(self, port: int):
        self.port = port
        self.received: list[dict] = []
        self.auth: list[str] = []
        self.server = None

    def start(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.auth.append(self.headers.get("Authorization", ""))
                data = json.loads(body)
                stub.received.extend(data if isinstance(data, list) else [data])
                out = json.dumps([s["id"] for s in (data if isinstance(data, list) else [data])]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def forwarding_app(app_factory, free_port):
    a = app_factory(XAPI_FORWARD_URL=f"http://127.0.0.1:{free_port}/xapi/", XAPI_FORWARD_KEY="k",
                    XAPI_FORWARD_SECRET="s")
    with a.app_context():
        yield a


def pending(db):
    from plugins.xapi.models import XapiOutbox

    return db.session.scalar(select(func.count()).select_from(XapiOutbox).where(XapiOutbox.sent_at.is_(None)))


def test_down_lrs_loses_nothing_and_recovery_delivers(forwarding_app, free_port):
    from lms.extensions import db
    from plugins.xapi.forwarding import send_pending
    from plugins.xapi.models import XapiOutbox
    from plugins.xapi.tests.conftest import LRS, make_client

    c, secret = make_client()
    api = LRS(forwarding_app.test_client(), c.key, secret)
    # the external LRS is down: the request still succeeds, the statement waits in the outbox
    r = api.post("statements", [stmt(), stmt()])
    assert r.status_code == 200
    ids = r.get_json()
    assert pending(db) == 2
    row = db.session.scalars(select(XapiOutbox)).first()
    assert row.attempts == 1 and "Connection" in (row.last_error or "") and row.next_attempt_at > row.created_at
    # nothing is due during the back-off
    assert send_pending() == (0, 0)
    stub = StubLRS(free_port)
    stub.start()
    try:
        db.session.execute(XapiOutbox.__table__.update().values(next_attempt_at=row.created_at))
        db.session.commit()
        assert send_pending() == (2, 0)
        assert [s["id"] for s in stub.received] == ids
        assert stub.auth[0].startswith("Basic ")
        assert pending(db) == 0
        # statements stored while the LRS is up go out right after the request
        api.post("statements", stmt())
        assert len(stub.received) == 3 and pending(db) == 0
    finally:
        stub.stop()


def test_replay_requeues_a_range(forwarding_app, free_port):
    from lms.extensions import db
    from plugins.xapi.models import XapiOutbox
    from plugins.xapi.tests.conftest import LRS, make_client

    stub = StubLRS(free_port)
    stub.start()
    try:
        c, secret = make_client()
        api = LRS(forwarding_app.test_client(), c.key, secret)
        api.post("statements", [stmt(), stmt(), stmt()])
        assert len(stub.received) == 3
        res = forwarding_app.test_cli_runner().invoke(args=["xapi", "replay", "--since", "2000-01-01"])
        assert res.exit_code == 0, res.output
        assert "queued 3" in res.output and "sent 3" in res.output
        assert len(stub.received) == 6
        assert db.session.scalar(select(func.count()).select_from(XapiOutbox)) == 6
    finally:
        stub.stop()


def test_without_forwarding_configured_no_outbox_rows(lrs, db):
    lrs.post("statements", stmt())
    assert pending(db) == 0


def test_event_path_statements_are_queued_for_forwarding(users, forwarding_app):
    from lms import events
    from lms.extensions import db

    events.record(events.LearningEvent(user=users.member, verb="completed",
                                       object_id="http://lms.test/xapi/activities/lesson/1"))
    db.session.commit()
    assert pending(db) == 1
