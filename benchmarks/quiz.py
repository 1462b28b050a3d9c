"""Benchmark of the quiz plugin: a branch-wide knowledge contest (党章党规知识竞赛) under a real WSGI server.

N simulated members (default 300) take one exam served by gunicorn on 127.0.0.1 over SQLite (WAL):
each opens the exam page, starts, autosaves changed answers every few seconds, and everyone submits
in the last 10 seconds before the shared deadline (the quiz closes then). Afterwards the database is
compared with what the server acknowledged: every answer acknowledged by a 2xx must be stored and graded.

Usage: .venv/bin/python benchmarks/quiz.py [--members 300] [--duration 90] [--interval 5] [--questions 20]
       [--workers 4] [--threads 2]
The last line is machine-readable: autosave_p95_ms=… submit_p95_ms=… lost_answers=… errors=…
"""
from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
logging.disable(logging.WARNING)

COOKIE = "lms_session"


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(members: int, questions: int):
    """Migrate a fresh database and create the branch, the members (with sessions) and the exam."""
    from lms import create_app
    from lms.accounts import privacy
    from lms.accounts.models import User
    from lms.auth.models import UserSession
    from lms.courses.models import Course, Lesson
    from lms.extensions import db
    from lms.org.services import create_unit
    from lms.testing import migrate_to_heads
    from lms.timeutil import utcnow
    from plugins.quiz import importers, services
    from plugins.quiz.models import QuizPaperItem

    app = create_app()
    migrate_to_heads(app)
    rng = random.Random(7)
    with app.app_context():
        root = create_unit("某大学党委", "committee")
        branches = [create_unit(f"第{i + 1}党支部", "branch", root) for i in range(10)]
        teacher = User(login_id="T0001", name="出题老师", org_unit_id=root.id, must_change_password=False)
        course = Course(title="党章党规", status="published")
        course.teachers.append(teacher)
        db.session.add_all([teacher, course])
        db.session.flush()
        bank = services.bank_for(course)
        kinds = ["单选题", "多选题", "判断题", "填空题"]
        qs = []
        for i in range(questions):
            kind = kinds[i % 4]
            opts = [f"选项{j}" for j in range(4)] if "选" in kind else []
            answer = {"单选题": "B", "多选题": "AC", "判断题": "对", "填空题": "党章|中国共产党章程"}[kind]
            data, errs = importers.build_question({"type": kind, "stem": f"第{i + 1}题 党章党规知识", "options": opts,
                                                   "answer": answer, "score": 5})
            assert not errs, errs
            qs.append(services.save_question(bank, data, teacher))
        lesson = Lesson(course_id=course.id, title="党章党规知识竞赛", type="quiz")
        db.session.add(lesson)
        db.session.flush()
        paper = services.paper_for(lesson)
        paper.mode = "exam"
        paper.time_limit_minutes = 60
        paper.closes_at = utcnow() + timedelta(hours=1)  # set to the real deadline once the server is up
        for n, q in enumerate(qs):
            paper.items.append(QuizPaperItem(question_id=q.id, position=n))
        services.publish_paper(paper)
        tokens = []
        for i in range(members):
            u = User(login_id=f"M{i:05d}", name=f"党员{i}", org_unit_id=rng.choice(branches).id,
                     must_change_password=False)
            db.session.add(u)
            db.session.flush()
            token = secrets.token_urlsafe(32)
            import hashlib

            db.session.add(UserSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=u.id,
                                       mfa_passed=True))
            privacy.record_consent(u)  # agreed to the privacy notice at an earlier login
            tokens.append(token)
        db.session.commit()
        serializer = app.session_interface.get_signing_serializer(app)
        cookies = [serializer.dumps({"sid": t}) for t in tokens]
        lesson_id = lesson.id
        db.engine.dispose()
    return app, lesson_id, cookies


def set_deadline(app, lesson_id: int, seconds: float) -> float:
    """Close the exam `seconds` from now (every attempt's deadline); returns the wall-clock deadline."""
    from lms.extensions import db
    from lms.timeutil import utcnow
    from plugins.quiz.models import QuizPaper

    with app.app_context():
        paper = db.session.query(QuizPaper).filter_by(lesson_id=lesson_id).one()
        paper.closes_at = utcnow() + timedelta(seconds=seconds)
        db.session.commit()
        db.engine.dispose()
    return time.time() + seconds


class Member:
    def __init__(self, idx: int, port: int, cookie: str, lesson_id: int, stats: dict, lock: threading.Lock):
        self.idx, self.port, self.cookie, self.lesson_id = idx, port, cookie, lesson_id
        self.stats, self.lock = stats, lock
        self.rng = random.Random(idx)
        self.conn: http.client.HTTPConnection | None = None
        self.csrf = ""
        self.attempt_id = None
        self.questions: list[tuple[int, str]] = []
        self.current: dict[str, object] = {}
        self.acked: dict[str, object] = {}  # what the server acknowledged (2xx) per question
        self.submitted = False

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        headers["Cookie"] = f"{COOKIE}={self.cookie}"
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                t0 = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                ms = (time.perf_counter() - t0) * 1000
                for k, v in resp.getheaders():
                    if k.lower() == "set-cookie" and v.startswith(COOKIE + "="):
                        self.cookie = v.split(";", 1)[0].split("=", 1)[1]
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, data, ms, resp.getheader("Location")
            except (ConnectionError, http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    self.count("transport_errors")
                    return 0, b"", 0.0, None
        return 0, b"", 0.0, None

    def count(self, key, n=1):
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def record(self, key, ms, status):
        with self.lock:
            self.stats.setdefault(key, []).append(ms)
            self.stats.setdefault(key + "_at", []).append(time.time())
            if status >= 500:
                self.stats["5xx"] = self.stats.get("5xx", 0) + 1

    def open_exam(self):
        status, body, ms, _ = self.request("GET", f"/quiz/lesson/{self.lesson_id}")
        self.record("page_ms", ms, status)
        m = re.search(rb'name="csrf-token" content="([^"]+)"', body)
        if status != 200 or not m:
            self.count("unexpected")
            return False
        self.csrf = m.group(1).decode()
        status, body, ms, location = self.request(
            "POST", f"/quiz/lesson/{self.lesson_id}/start", body=urlencode({"csrf_token": self.csrf}),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.record("start_ms", ms, status)
        if status != 302 or not location or "/quiz/attempt/" not in location:
            self.count("unexpected")
            return False
        self.attempt_id = int(location.rstrip("/").split("/")[-1])
        status, body, ms, _ = self.request("GET", f"/quiz/attempt/{self.attempt_id}")
        self.record("page_ms", ms, status)
        self.questions = [(int(q), t.decode()) for q, t in
                          re.findall(rb'data-qid="(\d+)" data-type="(\w+)"', body)]
        return status == 200 and bool(self.questions)

    def random_answer(self, qtype):
        r = self.rng
        if qtype == "single":
            return r.randrange(4)
        if qtype == "multiple":
            return sorted(r.sample(range(4), r.randint(1, 3)))
        if qtype == "truefalse":
            return r.random() < 0.7
        return [r.choice(["党章", "中国共产党章程", "党纲", "ＤＡＮＧＺＨＡＮＧ"])]

    def save(self, answers: dict):
        body = json.dumps({"answers": answers}).encode()
        status, data, ms, _ = self.request("POST", f"/quiz/attempt/{self.attempt_id}/save", body=body,
                                           headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf})
        self.record("autosave_ms", ms, status)
        if 200 <= status < 300:
            self.acked.update(answers)
        elif status != 409:
            self.count("unexpected")

    def submit(self):
        answers = dict(self.current)
        body = json.dumps({"answers": answers}).encode()
        status, data, ms, _ = self.request("POST", f"/quiz/attempt/{self.attempt_id}/submit", body=body,
                                           headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf})
        self.record("submit_ms", ms, status)
        if 200 <= status < 300:
            reply = json.loads(data)
            if not reply.get("message"):  # the final answers were accepted (not refused as late)
                self.acked.update(answers)
            self.submitted = True
        else:
            self.count("unexpected")

    def run(self, deadline_at: float, interval: float, ramp: float):
        time.sleep(self.rng.uniform(0, ramp))
        if not self.open_exam():
            return
        submit_at = deadline_at - self.rng.uniform(1.0, 10.0)
        pending: dict = {}
        next_save = time.time() + self.rng.uniform(0, interval)
        while time.time() < submit_at:
            # Answer or change one to three questions between saves, as a person does.
            for qid, qtype in self.rng.sample(self.questions, self.rng.randint(1, 3)):
                value = self.random_answer(qtype)
                self.current[str(qid)] = value
                pending[str(qid)] = value
            wait = min(next_save, submit_at) - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() >= submit_at:
                break
            if pending:
                self.save(pending)
                pending = {}
            next_save = time.time() + interval * self.rng.uniform(0.8, 1.2)
        self.submit()


def grade_after_close(app) -> tuple[float, float, int]:
    """The periodic task's work after the close: (wall seconds, CPU seconds, attempts graded)."""
    from lms.extensions import db
    from plugins.quiz.services import finalize_overdue, grade_due_attempts

    with app.app_context():
        t0, c0 = time.perf_counter(), time.process_time()
        finalize_overdue()
        graded = grade_due_attempts(limit=100000)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        db.engine.dispose()
    return elapsed, cpu, graded


def check_db(app, members: list[Member]) -> tuple[int, int]:
    """Lost answers: acknowledged responses missing or different in the database; attempts left open."""
    from sqlalchemy import select

    from lms.extensions import db
    from plugins.quiz.models import QuizAnswer, QuizAttempt

    lost = 0
    open_left = 0
    with app.app_context():
        for m in members:
            if m.attempt_id is None:
                continue
            attempt = db.session.get(QuizAttempt, m.attempt_id)
            if attempt.status == "open":
                open_left += 1
            stored = {str(a.question_id): a for a in db.session.scalars(
                select(QuizAnswer).where(QuizAnswer.attempt_id == m.attempt_id))}
            for qid, value in m.acked.items():
                row = stored.get(qid)
                if row is None or json.dumps(row.response, sort_keys=True) != json.dumps(value, sort_keys=True):
                    lost += 1
                elif attempt.status != "open" and row.points is None and not row.needs_grading:
                    lost += 1  # stored but never graded
        db.engine.dispose()
    return lost, open_left


def server_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by the server's processes (Linux /proc; 0 elsewhere).

    Wall-clock latencies on a shared machine include waiting for a CPU; the server's CPU per request does not.
    """
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


class CpuSampler(threading.Thread):
    """Samples the server's CPU seconds twice a second, so that phases can be told apart afterwards."""

    def __init__(self, pgid: int):
        super().__init__(daemon=True)
        self.pgid, self.samples, self.running = pgid, [], True

    def run(self):
        while self.running:
            self.samples.append((time.time(), server_cpu_seconds(self.pgid)))
            time.sleep(0.5)

    def between(self, start: float, end: float) -> float:
        def at(t):
            return min(self.samples, key=lambda s: abs(s[0] - t))[1] if self.samples else 0.0

        return max(0.0, at(end) - at(start))


def warm_up(port: int, concurrency: int, limit_s: float = 120.0) -> None:
    """Wait until every gunicorn worker has booted the app: rounds of concurrent GETs all answer fast."""
    def get(out: list):
        try:
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/login")
            ok = conn.getresponse().status == 200
            conn.close()
            out.append(ok and time.perf_counter() - t0 < 0.5)
        except OSError:
            out.append(False)

    end = time.time() + limit_s
    while time.time() < end:
        results: list = []
        threads = [threading.Thread(target=get, args=(results,)) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if all(results):
            return
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=300)
    ap.add_argument("--duration", type=float, default=90.0, help="seconds from the start to the deadline")
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between autosaves of one member")
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lms-quiz-bench-"))
    env = dict(os.environ, LMS_INSTANCE_PATH=str(tmp), LMS_DATABASE_URL=f"sqlite:///{tmp / 'lms.sqlite3'}",
               LMS_QUEUE_URL=f"sqlite:///{tmp / 'queue.sqlite3'}", LMS_ENV="development",
               LMS_BASE_URL="http://127.0.0.1", LMS_LOGIN_IP_LIMIT="100000")
    os.environ.update({k: v for k, v in env.items() if k.startswith("LMS_")})
    app, lesson_id, cookies = seed(args.members, args.questions)
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(args.workers),
         "-k", "gthread", "--threads", str(args.threads), "--timeout", "120", "--log-level", "warning",
         "--backlog", "2048", "wsgi:app"],
        cwd=str(ROOT), env=env, start_new_session=True)
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        warm_up(port, args.workers * args.threads * 2)
        deadline_at = set_deadline(app, lesson_id, args.duration)
        stats: dict = {}
        lock = threading.Lock()
        members = [Member(i, port, c, lesson_id, stats, lock) for i, c in enumerate(cookies)]
        ramp = min(15.0, args.duration / 4)
        threads = [threading.Thread(target=m.run, args=(deadline_at, args.interval, ramp), daemon=True)
                   for m in members]
        sampler = CpuSampler(server.pid)  # (start_new_session: the server's process group is its pid)
        sampler.start()
        load_before = os.getloadavg()[0]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.duration + 180)
        elapsed = time.time() - t0
        time.sleep(0.6)
        sampler.running = False
        load_after = os.getloadavg()[0]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    # The periodic task grades the contest once it has closed (as `flask lms worker` does every minute).
    time.sleep(max(0.0, deadline_at + 4 - time.time()))
    grading_s, grading_cpu, graded = grade_after_close(app)
    lost, open_left = check_db(app, members)
    shutil.rmtree(tmp, ignore_errors=True)

    autosave, submit = stats.get("autosave_ms", []), stats.get("submit_ms", [])
    # Steady state: after every member has started, before the first submit (no page-load or submit storm).
    started = max(stats.get("start_ms_at", [0]))
    first_submit = min(stats.get("submit_ms_at", [0]) or [0]) - pct(submit, 0) / 1000
    timed = list(zip(autosave, stats.get("autosave_ms_at", []), strict=True))
    steady = [ms for ms, at in timed if started < at - ms / 1000 and at < first_submit]
    # The two bursts: autosaves sent while members were still starting, and once submitting had begun.
    ramp = [ms for ms, at in timed if at - ms / 1000 <= started]
    storm = [ms for ms, at in timed if at >= first_submit]
    errors = stats.get("5xx", 0) + stats.get("transport_errors", 0) + stats.get("unexpected", 0)
    submitted = sum(1 for m in members if m.submitted)
    print(f"quiz contest: {args.members} members, {args.questions} questions, {elapsed:.0f} s, "
          f"gunicorn {args.workers}x{args.threads} threads, SQLite WAL")
    print(f"  autosaves  {len(autosave):6d}  p50 {pct(autosave, 50):7.1f} ms  p95 {pct(autosave, 95):7.1f} ms"
          f"  max {max(autosave or [0]):7.1f} ms  ({len(autosave) / max(elapsed, 1):.0f}/s)")
    print(f"  steady     {len(steady):6d}  p50 {pct(steady, 50):7.1f} ms  p95 {pct(steady, 95):7.1f} ms"
          "  (autosaves between the last start and the first submit)")
    print(f"  ramp       {len(ramp):6d}  p50 {pct(ramp, 50):7.1f} ms  p95 {pct(ramp, 95):7.1f} ms"
          f"  max {max(ramp or [0]):7.1f} ms  (sent while members were still starting)")
    print(f"  storm      {len(storm):6d}  p50 {pct(storm, 50):7.1f} ms  p95 {pct(storm, 95):7.1f} ms"
          f"  max {max(storm or [0]):7.1f} ms  (sent once the submits had begun)")
    print(f"  submits    {len(submit):6d}  p50 {pct(submit, 50):7.1f} ms  p95 {pct(submit, 95):7.1f} ms"
          f"  max {max(submit or [0]):7.1f} ms")
    pages, starts = stats.get("page_ms", []), stats.get("start_ms", [])
    print(f"  page loads {len(pages):6d}  p50 {pct(pages, 50):7.1f} ms  p95 {pct(pages, 95):7.1f} ms;"
          f"  starts p50 {pct(starts, 50):.1f} ms  p95 {pct(starts, 95):.1f} ms")
    print(f"  grading after the close (periodic task): {graded} attempts in {grading_s:.1f} s "
          f"({graded / max(grading_s, 0.001):.1f}/s, with their xAPI statements; "
          f"CPU {1000 * grading_cpu / max(graded, 1):.0f} ms per attempt)")
    # Server CPU per request in each phase: what the latencies above cost, independent of the machine's load.
    at = {k: stats.get(k + "_at", []) for k in ("page_ms", "start_ms", "autosave_ms", "submit_ms")}
    last_at = max((max(v) for v in at.values() if v), default=t0)

    def requests(a, b):
        return sum(1 for v in at.values() for x in v if a <= x < b)

    phases = [("ramp", t0, started), ("steady", started, first_submit), ("storm", first_submit, last_at + 0.5)]
    cost = "; ".join(f"{name} {1000 * sampler.between(a, b) / max(requests(a, b), 1):.1f}"
                     for name, a, b in phases if b > a)
    total_cpu, total_requests = sampler.between(t0, last_at + 0.5), sum(len(v) for v in at.values())
    print(f"  server CPU per request (ms): {cost}; all {1000 * total_cpu / max(total_requests, 1):.1f}"
          f" ({total_cpu:.0f} CPU s in {last_at - t0:.0f} s on {os.cpu_count()} cores)")
    print(f"  load average {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} cores "
          "(other work on the machine adds to every wall-clock figure)")
    print(f"  submitted {submitted}/{args.members}, attempts left open {open_left}, 5xx {stats.get('5xx', 0)}, "
          f"transport errors {stats.get('transport_errors', 0)}, unexpected statuses {stats.get('unexpected', 0)}")
    print(f"autosave_p50_ms={pct(autosave, 50):.1f} autosave_p95_ms={pct(autosave, 95):.1f} "
          f"submit_p95_ms={pct(submit, 95):.1f} lost_answers={lost + open_left} errors={errors}")


if __name__ == "__main__":
    main()
