"""INP-05: JSON endpoints take JSON only. The same body sent as text/plain, as a form or as multipart without
attachments is refused with 400/415 and stores nothing."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from plugins.quiz.tests.test_attempts import start
from plugins.xapi.tests.conftest import stmt
from tests.security.test_csrf_everywhere import _database_checksum

REFUSED = (400, 415)


def _wrong_types(body: dict):
    text = json.dumps(body)
    return [
        {"data": text, "content_type": "text/plain"},
        {"data": {"payload": text}},  # application/x-www-form-urlencoded
        {"data": {"payload": text}, "content_type": "multipart/form-data"},
    ]


def test_browser_json_endpoints_refuse_other_content_types(client, db, users, login_as, fixed_paper):
    lesson, paper, qs = fixed_paper
    login_as(client, users.member)
    aid = start(client, lesson)
    targets = [
        (f"/quiz/attempt/{aid}/save", {"answers": {str(qs["single"].id): 1}}),
        (f"/quiz/attempt/{aid}/check", {"question_id": qs["single"].id, "response": 1}),
        ("/xapi/browser/statements", stmt()),
    ]
    before = _database_checksum(db, skip=("audit_log",))
    wrong = []
    for url, body in targets:
        for kwargs in _wrong_types(body):
            resp = client.post(url, **kwargs)
            if resp.status_code not in REFUSED:
                wrong.append(f"{url} {kwargs.get('content_type', 'form')} -> {resp.status_code}")
    assert wrong == []
    db.session.expire_all()
    assert _database_checksum(db, skip=("audit_log",)) == before
    # The same bodies as JSON are accepted (the refusals above are about the type, not the content).
    assert client.post(targets[0][0], json=targets[0][1]).status_code == 200


def test_the_lrs_refuses_statements_that_are_not_json_or_multipart_with_attachments(lrs, db):
    from plugins.xapi.models import XapiStatement

    body = json.dumps(stmt())
    assert lrs.post("statements", raw=body, content_type="text/plain").status_code in REFUSED
    assert lrs.post("statements", raw="content=" + body,
                    content_type="application/x-www-form-urlencoded").status_code in REFUSED
    boundary = "b0undary"
    multipart = (f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n{body}\r\n--{boundary}--\r\n")
    assert lrs.post("statements", raw=multipart,
                    content_type=f"multipart/mixed; boundary={boundary}").status_code in REFUSED
    assert db.session.scalar(select(func.count()).select_from(XapiStatement)) == 0
    assert lrs.post("statements", stmt()).status_code == 200
