"""REL-02: every queue job that changes data, delivered twice at the same time and one after the other, has one result.

Each concurrent pair runs in two threads, each with its own application context (so its own database session
and connection), started together at a barrier, against the suite's database (SQLite file, or PostgreSQL with
LMS_TEST_DATABASE_URL). The second delivery must end `skipped` or do nothing.
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from lms.timeutil import utcnow
from plugins.microlecture.tests import conftest as lecture_fixtures
from plugins.quiz.tests import conftest as quiz_fixtures

# the fixtures this module borrows (the micro-lecture's `lecture` is built on the quiz tests' `course`)
course, make_lesson, add_q = quiz_fixtures.course, quiz_fixtures.make_lesson, quiz_fixtures.add_q
fixed_paper, recorded_events = quiz_fixtures.fixed_paper, quiz_fixtures.recorded_events
lecture = lecture_fixtures.lecture


def twice_at_once(app, fn, *args):
    """Run fn(*args) in two threads at the same moment; returns both results (exceptions are raised)."""
    from lms.extensions import db

    barrier = threading.Barrier(2)
    results: list = [None, None]
    errors: list = []

    def run(i):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results[i] = fn(*args)
            except BaseException as exc:  # noqa: BLE001  (handed to the test thread)
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the transcode job -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_transcode_delivered_twice_at_once_then_again_publishes_one_rendition(app, client, login_as, users, lecture,
                                                                             db, monkeypatch, tmp_path):
    from plugins.microlecture import services, tasks
    from plugins.microlecture.models import TranscodeJob, Video
    from plugins.microlecture.tests.conftest import make_clip
    from plugins.microlecture.tests.test_upload import upload_all

    app.config["MICROLECTURE_LADDER"] = [240]
    dispatched = []
    monkeypatch.setattr(services, "dispatch", lambda job_id, delay=None: dispatched.append(job_id))
    login_as(client, users.teacher)
    clip = make_clip(tmp_path / "short.mp4", seconds=2, size="426x240", audio=False)
    up = upload_all(client, lecture.lesson_id, clip.read_bytes())
    assert client.post(up["finish_url"]).status_code == 200
    [job_id] = dispatched  # queued, not run yet
    db.session.commit()

    outcomes = twice_at_once(app, tasks.transcode_task.call_local, job_id)
    assert sorted(outcomes) == ["done", "skipped"]
    assert tasks.transcode_task.call_local(job_id) == "skipped"  # and once more, afterwards

    db.session.expire_all()
    jobs = list(db.session.scalars(select(TranscodeJob).where(TranscodeJob.video_id == lecture.id)))
    assert [(j.state, j.attempt) for j in jobs] == [("done", 1)]
    video = db.session.get(Video, lecture.id)
    st = services.storage()
    assert video.hls_key == jobs[0].output_key and video.status == "awaiting_review"
    assert st.list_dir(f"hls/{video.id}") == [video.hls_key.rsplit("/", 1)[1]]  # one set of files
    assert st.list_dir("tmp") == []


# --- quiz: auto-submit of overdue attempts, grading of closed ones ------------------------------------------
def test_overdue_attempt_submitted_twice_at_once_is_closed_and_graded_once(app, db, users, fixed_paper,
                                                                          recorded_events):
    from plugins.quiz import services, tasks
    from plugins.quiz.models import QuizAnswer, QuizAttempt

    lesson, paper, qs = fixed_paper
    attempt = services.start_attempt(paper, users.member)
    attempt.deadline = utcnow() - timedelta(hours=1)
    db.session.commit()
    aid = attempt.id

    assert sorted(twice_at_once(app, tasks.quiz_submit_overdue.call_local)) == [0, 1]
    assert tasks.quiz_submit_overdue.call_local() == 0

    db.session.expire_all()
    got = db.session.get(QuizAttempt, aid)
    assert got.status in ("graded", "pending") and got.auto_submitted and got.submitted_at == got.deadline
    assert db.session.scalar(select(func.count()).select_from(QuizAnswer).where(QuizAnswer.attempt_id == aid)) == 5
    verbs = [e.verb for e in recorded_events]
    assert verbs.count("attempted") == 1 and verbs.count("answered") == 5


def test_closed_contest_attempt_graded_twice_at_once_is_graded_once(app, db, users, fixed_paper, recorded_events):
    from plugins.quiz import services
    from plugins.quiz.models import QuizAnswer, QuizAttempt

    lesson, paper, qs = fixed_paper
    paper.closes_at = utcnow() + timedelta(minutes=10)
    db.session.commit()
    attempt = services.start_attempt(paper, users.member)
    aid = attempt.id
    assert services.submit_with_answers(attempt, {str(qs["single"].id): 1}) is None
    paper.closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert db.session.get(QuizAttempt, aid).status == "closed"

    assert sorted(twice_at_once(app, services.grade_due_attempts)) == [0, 1]
    assert services.grade_due_attempts() == 0

    db.session.expire_all()
    got = db.session.get(QuizAttempt, aid)
    assert got.status in ("graded", "pending") and got.score == 2
    assert db.session.scalar(select(func.count()).select_from(QuizAnswer).where(QuizAnswer.attempt_id == aid)) == 5
    verbs = [e.verb for e in recorded_events]
    assert verbs.count("attempted") == 1 and verbs.count("answered") == 5


# --- xAPI forwarding to the external LRS ---------------------------------------------------------------------
class SlowLRS:
    """An external LRS on 127.0.0.1 that takes 0.3 s per request and keeps every statement id it receives."""

    def __init__(self, port: int):
        self.received: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                threading.Event().wait(0.3)
                ids = [s["id"] for s in (data if isinstance(data, list) else [data])]
                stub.received.extend(ids)
                out = json.dumps(ids).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_xapi_forwarding_delivered_twice_at_once_sends_each_statement_once(app_factory):
    from lms.extensions import db
    from plugins.xapi import tasks
    from plugins.xapi.models import XapiOutbox
    from plugins.xapi.tests.conftest import LRS, make_client, stmt

    port = _free_port()
    app = app_factory(XAPI_FORWARD_URL=f"http://127.0.0.1:{port}/xapi/", XAPI_FORWARD_KEY="k",
                      XAPI_FORWARD_SECRET="s")
    with app.app_context():
        c, secret = make_client()
        api = LRS(app.test_client(), c.key, secret)
        r = api.post("statements", [stmt() for _ in range(5)])  # the external LRS is down: kept in the outbox
        assert r.status_code == 200
        ids = r.get_json()
        db.session.execute(XapiOutbox.__table__.update().values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        lrs = SlowLRS(port)
        try:
            results = twice_at_once(app, tasks.forward_statements.call_local)
            assert tasks.forward_statements.call_local() == (0, 0)  # and once more, afterwards
        finally:
            lrs.stop()
        assert sorted(results) == [(0, 0), (5, 0)]
        assert sorted(lrs.received) == sorted(ids)  # each statement sent once
        db.session.expire_all()
        rows = list(db.session.scalars(select(XapiOutbox)))
        assert len(rows) == 5 and all(r.sent_at is not None and r.attempts == 2 for r in rows)


def test_xapi_rows_of_a_sender_that_died_are_sent_once_its_claim_runs_out(app_factory):
    from lms.extensions import db
    from plugins.xapi import forwarding
    from plugins.xapi.models import XapiOutbox
    from plugins.xapi.tests.conftest import LRS, make_client, stmt

    port = _free_port()
    app = app_factory(XAPI_FORWARD_URL=f"http://127.0.0.1:{port}/xapi/", XAPI_FORWARD_KEY="k",
                      XAPI_FORWARD_SECRET="s")
    with app.app_context():
        c, secret = make_client()
        LRS(app.test_client(), c.key, secret).post("statements", stmt())
        db.session.execute(XapiOutbox.__table__.update().values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert len(forwarding._claim(utcnow(), 100)) == 1  # a sender claims the row, then is killed
        lrs = SlowLRS(port)
        try:
            assert forwarding.send_pending() == (0, 0)  # claimed: not sent again meanwhile
            later = utcnow() + forwarding.CLAIM + timedelta(seconds=1)
            assert forwarding.send_pending(now=later) == (1, 0)
        finally:
            lrs.stop()
        assert len(lrs.received) == 1


# --- 党员e家: e-mail notices of a pushed material --------------------------------------------------------------
@pytest.fixture
def slow_smtp():
    """A local SMTP server (aiosmtpd) that takes 0.2 s per message and keeps the envelopes."""
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            await asyncio.sleep(0.2)
            self.messages.append(envelope)
            return "250 OK"

    port = _free_port()
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield type("Stub", (), {"port": port, "messages": handler.messages})
    finally:
        controller.stop()


def test_material_mail_delivered_twice_at_once_mails_each_person_once(app, client, db, users, org, login_as,
                                                                     monkeypatch, slow_smtp):
    from plugins.party_school import tasks
    from plugins.party_school.models import Material, MaterialReceipt

    app.config.update(PARTY_SCHOOL_SMTP_HOST="127.0.0.1", PARTY_SCHOOL_SMTP_PORT=slow_smtp.port,
                      PARTY_SCHOOL_SMTP_FROM="dangxiao@example.edu.cn", PARTY_SCHOOL_MAIL_DOMAIN="example.edu.cn")
    real = tasks.send_material_mail
    monkeypatch.setattr(tasks, "send_material_mail", lambda material_id: None)  # queued, not run yet
    login_as(client, users.org_admin)
    r = client.post("/party-school/admin/materials/new", content_type="multipart/form-data",
                    data={"title": "学习资料：党章总纲", "org_unit_id": org.a.id, "required_minutes": "1",
                          "body": "中国共产党是中国工人阶级的先锋队。" * 10, "send_email": "y"})
    assert r.status_code == 302
    monkeypatch.undo()
    m = db.session.scalar(select(Material))
    assert m.send_email
    db.session.commit()

    counts = twice_at_once(app, real.call_local, m.id)
    assert real.call_local(m.id) == 0  # and once more, afterwards

    rcpts = [a for msg in slow_smtp.messages for a in msg.rcpt_tos]
    assert len(rcpts) >= 2 and len(set(rcpts)) == len(rcpts)  # nobody mailed twice
    assert sum(counts) == len(rcpts)
    db.session.expire_all()
    emailed = db.session.scalar(select(func.count()).select_from(MaterialReceipt)
                                .where(MaterialReceipt.emailed_at.is_not(None)))
    assert emailed == len(rcpts)


def test_material_mail_that_fails_is_released_for_the_retry(app, db, users, org, monkeypatch, slow_smtp):
    from plugins.party_school import tasks
    from plugins.party_school.models import Material, MaterialReceipt

    app.config.update(PARTY_SCHOOL_SMTP_HOST="127.0.0.1", PARTY_SCHOOL_SMTP_PORT=_free_port(),  # nobody listens
                      PARTY_SCHOOL_SMTP_FROM="dangxiao@example.edu.cn", PARTY_SCHOOL_MAIL_DOMAIN="example.edu.cn")
    m = Material(title="党章", html="<p>正文</p>", org_unit_id=org.a.id, send_email=True)
    db.session.add(m)
    db.session.flush()
    db.session.add(MaterialReceipt(material_id=m.id, user_id=users.member.id))
    db.session.commit()
    with pytest.raises(OSError):
        tasks.send_material_mail.call_local(m.id)
    db.session.expire_all()
    assert db.session.scalar(select(MaterialReceipt.emailed_at)) is None  # not claimed for ever
    app.config["PARTY_SCHOOL_SMTP_PORT"] = slow_smtp.port
    assert tasks.send_material_mail.call_local(m.id) == 1
    assert [msg.rcpt_tos for msg in slow_smtp.messages] == [[f"{users.member.login_id}@example.edu.cn"]]


# --- the daily backup ----------------------------------------------------------------------------------------
def test_daily_backup_delivered_twice_at_once_makes_one_backup(app_factory, tmp_path):
    from lms.audit.models import AuditLog
    from lms.backup import services, tasks
    from lms.extensions import db

    folder = tmp_path / "daily"
    folder.mkdir()
    app = app_factory(BACKUP_DIR=str(folder), BACKUP_SCHEDULE="on")
    with app.app_context():
        twice_at_once(app, tasks.daily_backup.call_local)
        tasks.daily_backup.call_local()  # and once more, afterwards
        assert len(services.complete_backups(folder)) == 1
        rows = db.session.scalar(select(func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "backup.create", AuditLog.outcome == "success"))
        assert rows == 1
