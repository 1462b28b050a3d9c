"""Benchmark of the xAPI learning record store under a real WSGI server (gunicorn on 127.0.0.1).

1. Ingest with 4 concurrent clients for a few seconds each: single-statement POSTs, then batches of 100
   (again into the full store after step 3; the last line reports the lower figure of the two).
2. Fill the store to --statements (default 1,000,000) through the same storing code (save_statements,
   in-process, 5,000 per transaction: the same rows, indexes and side tables as the HTTP path).
3. Filtered GETs (agent, verb, activity, since, and all four together; limit 50) against the full store:
   p50/p95 latency, plus the gunicorn workers' memory before and after the fill (flat = no growth with size).
4. With PostgreSQL reachable (--postgres-url, default the local server): the same 4-writer ingest against
   PostgreSQL, counting 5xx answers and deadlocks in the server log.

References (measured on this machine, see issue 4): ADL's LRS 16–29 statements/s; Ralph 567/s in batches of 100,
8.5/s single, filtered GETs 300–600 ms; a bare SQLite insert with five indexes ~10,000 rows/s.
Targets: batch ≥ 5,000/s, single ≥ 500/s, filtered GET p95 < 50 ms at 1 M statements.

Usage: .venv/bin/python benchmarks/xapi.py [--statements N] [--seconds S] [--postgres-url URL|none]
                                          [--workers N] [--threads N]
The last line is machine-readable:
ingest_sps_single=… ingest_sps_batch=… query_p50_ms=… query_p95_ms=…
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import logging
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
logging.disable(logging.WARNING)

REF = {"single": 500.0, "batch": 5000.0, "p95_ms": 50.0, "ralph_batch": 567.0, "ralph_single": 8.5,
       "adl": 29.0, "bare_sqlite": 10000.0}
ACTORS = 1000
VERBS = [f"http://adlnet.gov/expapi/verbs/{v}" for v in (
    "experienced", "attempted", "answered", "completed", "passed", "failed", "launched", "initialized",
    "terminated", "commented", "attended", "registered", "progressed", "interacted", "scored", "suspended",
    "resumed", "shared", "voided-not", "asked")]
ACTIVITIES = 2000
CLIENTS = 4
DATA_KEY = "62656e63682d6b65792d62656e63682d6b65792d62656e63682d6b65792d3332"  # production needs a field key


def statement(rng: random.Random) -> dict:
    return {
        "actor": {"objectType": "Agent", "mbox": f"mailto:member{rng.randrange(ACTORS)}@bench.example"},
        "verb": {"id": rng.choice(VERBS)},
        "object": {"id": f"http://bench.example/activities/{rng.randrange(ACTIVITIES)}"},
        "result": {"duration": f"PT{rng.randrange(1, 600)}S", "completion": rng.random() < 0.3},
        "timestamp": "2026-03-01T08:00:00.000+08:00",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(instance: Path, db_url: str) -> dict:
    env = dict(os.environ)
    env.update({
        "LMS_INSTANCE_PATH": str(instance), "LMS_DATABASE_URL": db_url, "LMS_SECRET_KEY": "bench-" + "x" * 24,
        "LMS_DATA_KEY": DATA_KEY,
        "LMS_BASE_URL": "http://127.0.0.1", "LMS_ENV": "production", "LMS_FORCE_HTTPS": "false",
        "LMS_QUEUE_URL": f"sqlite:///{instance}/queue.sqlite3",
        "LMS_PLUGINS": "xapi",  # the LRS alone: what is measured, unaffected by other plugins' work in progress
    })
    return env


def prepare(instance: Path, db_url: str) -> tuple[str, str]:
    """Migrate the database and create a read/write client; returns (key, secret)."""
    env = server_env(instance, db_url)
    flask = [str(ROOT / ".venv/bin/flask"), "--app", "wsgi"]
    subprocess.run(flask + ["db", "upgrade", "heads"], cwd=ROOT, env=env, check=True, capture_output=True)
    out = subprocess.run(flask + ["xapi", "create-client", "bench", "--scope", "read,write", "--json"], cwd=ROOT,
                         env=env, check=True, capture_output=True, text=True).stdout
    creds = json.loads(out.strip().splitlines()[-1])
    return creds["key"], creds["secret"]


class Server:
    def __init__(self, instance: Path, db_url: str, workers: int = 4, threads: int = 1):
        self.port = free_port()
        self.log = instance / "server.log"
        threading_args = ["--threads", str(threads), "--worker-class", "gthread"] if threads > 1 else []
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-w", str(workers), *threading_args, "-b", f"127.0.0.1:{self.port}",
             "--backlog", "256", "wsgi:app"],
            cwd=ROOT, env=server_env(instance, db_url), stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # every worker builds the app on boot; measure only once all of them are serving
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.log.read_text(errors="replace").count("plugins enabled") >= workers:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                    c.request("GET", "/xapi/about")
                    if c.getresponse().status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.3)
        raise SystemExit(f"server did not start; see {self.log}")

    def worker_rss_mb(self) -> float:
        total = 0
        for pid in [self.proc.pid] + self._children():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def _children(self) -> list[int]:
        try:
            return [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)  # our own gunicorn's process group only
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def ingest(port: int, auth: str, batch: int, seconds: float, seed: int) -> dict:
    """CLIENTS threads POST statements for `seconds`; returns counts and statements/s."""
    headers = {"Authorization": auth, "X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"}
    stop_at = time.perf_counter() + seconds
    counts = {"ok": 0, "5xx": 0, "other": 0, "errors": 0}
    lock = threading.Lock()

    def run(i: int):
        rng = random.Random(seed + i)
        bodies = [json.dumps(statement(rng) if batch == 1 else [statement(rng) for _ in range(batch)])
                  for _ in range(64)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = 0
        local = {"ok": 0, "5xx": 0, "other": 0, "errors": 0}
        while time.perf_counter() < stop_at:
            try:
                conn.request("POST", "/xapi/statements", body=bodies[n % len(bodies)], headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    local["ok"] += batch
                elif resp.status >= 500:
                    local["5xx"] += 1
                else:
                    local["other"] += 1
            except OSError:
                local["errors"] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            n += 1
        with lock:
            for k, val in local.items():
                counts[k] += val

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    counts["sps"] = counts["ok"] / elapsed
    return counts


def warm_up(port: int, auth: str) -> None:
    """First requests of a worker import and compile lazily; measure steady state, not that."""
    ingest(port, auth, 1, 2.0, 7)
    ingest(port, auth, 100, 2.0, 8)


def fill(instance: Path, db_url: str, target: int, seed: int) -> tuple[int, float]:
    """Store statements in-process through save_statements until the store holds `target`."""
    from sqlalchemy import func, select

    from lms import create_app
    from lms.extensions import db
    from plugins.xapi.models import XapiStatement
    from plugins.xapi.services import save_statements

    app = create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": db_url, "ENV": "production",
                      "SECRET_KEY": "bench-" + "x" * 24, "DATA_KEY": DATA_KEY, "BASE_URL": "http://127.0.0.1",
                      "FORCE_HTTPS": False, "PLUGINS": ["xapi"]})
    rng = random.Random(seed)
    authority = {"objectType": "Agent", "name": "bench", "account": {"homePage": "http://127.0.0.1",
                                                                     "name": "xapi-client-1"}}
    with app.app_context():
        have = db.session.scalar(select(func.count()).select_from(XapiStatement))
        todo = max(0, target - have)
        t0 = time.perf_counter()
        done = 0
        while done < todo:
            n = min(5000, todo - done)
            save_statements([statement(rng) for _ in range(n)], authority=authority)
            db.session.commit()
            done += n
            if done % 100_000 < 5000:
                print(f"  filled {have + done:,} statements ({done / (time.perf_counter() - t0):,.0f}/s)",
                      flush=True)
        elapsed = time.perf_counter() - t0
        db.session.remove()
        db.engine.dispose()
    return todo, (todo / elapsed if elapsed else 0.0)


def stored_range(instance: Path, db_url: str):
    from sqlalchemy import func, select

    from lms import create_app
    from lms.extensions import db
    from plugins.xapi.models import XapiStatement

    app = create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": db_url, "ENV": "production",
                      "SECRET_KEY": "bench-" + "x" * 24, "DATA_KEY": DATA_KEY, "FORCE_HTTPS": False, "PLUGINS": ["xapi"]})
    with app.app_context():
        lo, hi = db.session.execute(select(func.min(XapiStatement.stored), func.max(XapiStatement.stored))).one()
        db.engine.dispose()
    return lo, hi


def queries(port: int, auth: str, n: int, lo, hi, seed: int) -> list[float]:
    rng = random.Random(seed)
    headers = {"Authorization": auth, "X-Experience-API-Version": "1.0.3"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    span = (hi - lo).total_seconds()
    latencies = []
    for i in range(n):
        agent = json.dumps({"mbox": f"mailto:member{rng.randrange(ACTORS)}@bench.example"})
        verb = rng.choice(VERBS)
        activity = f"http://bench.example/activities/{rng.randrange(ACTIVITIES)}"
        since = (lo + (hi - lo) * rng.random()).isoformat() + "Z" if span else None
        kind = i % 5
        params = {"limit": 50}
        if kind == 0:
            params["agent"] = agent
        elif kind == 1:
            params["verb"] = verb
        elif kind == 2:
            params["activity"] = activity
        elif kind == 3 and since:
            params["since"] = since
        else:
            params.update({"agent": agent, "verb": verb, "activity": activity})
            if since:
                params["since"] = since
        t0 = time.perf_counter()
        conn.request("GET", "/xapi/statements?" + urlencode(params), headers=headers)
        resp = conn.getresponse()
        resp.read()
        latencies.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200:
            raise SystemExit(f"query failed with {resp.status}: {params}")
    return latencies


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def postgres_run(url: str, seconds: float, seed: int, workers: int = 4, threads: int = 1) -> dict | None:
    """4 concurrent writers against PostgreSQL: statements/s, 5xx count, deadlocks in the server log."""
    try:
        import psycopg
    except ImportError:
        return None
    admin = url.replace("postgresql+psycopg://", "postgresql://")
    base, _, dbname = admin.rpartition("/")
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            c.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL not reachable ({exc.__class__.__name__}); skipping the PostgreSQL run")
        return None
    instance = Path(tempfile.mkdtemp(prefix="xapi-bench-pg-"))
    try:
        key, secret = prepare(instance, url)
        auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
        srv = Server(instance, url, workers, threads)
        try:
            warm_up(srv.port, auth)
            single = ingest(srv.port, auth, 1, seconds, seed)
            batch = ingest(srv.port, auth, 100, seconds, seed + 100)
        finally:
            srv.stop()
        log = srv.log.read_text(errors="replace").lower()
        return {"single": single, "batch": batch, "deadlocks": log.count("deadlock")}
    finally:
        shutil.rmtree(instance, ignore_errors=True)
        try:
            with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        except psycopg.Error:
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--statements", type=int, default=1_000_000, help="store size for the query phase")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each ingest phase")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/xapi_bench",
                    help="'none' to skip the PostgreSQL writers run")
    ap.add_argument("--instance", help="instance folder to keep and reuse (a filled store is not filled again)")
    ap.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=1, help="threads per worker (more than 1: gthread workers)")
    args = ap.parse_args()
    seed = 20260301

    keep = bool(args.instance)
    instance = Path(args.instance) if keep else Path(tempfile.mkdtemp(prefix="xapi-bench-"))
    instance.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{instance}/lms.sqlite3"
    try:
        key, secret = prepare(instance, db_url)
        auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
        srv = Server(instance, db_url, args.workers, args.threads)
        try:
            print(f"SQLite, gunicorn {args.workers} workers x {args.threads} threads on 127.0.0.1:{srv.port}, "
                  f"{CLIENTS} concurrent clients")
            warm_up(srv.port, auth)
            single = ingest(srv.port, auth, 1, args.seconds, seed)
            print(f"single POSTs:   {single['sps']:8.0f} statements/s  (5xx {single['5xx']}, other {single['other']}, "
                  f"errors {single['errors']})")
            batch = ingest(srv.port, auth, 100, args.seconds, seed + 100)
            print(f"batches of 100: {batch['sps']:8.0f} statements/s  (5xx {batch['5xx']}, other {batch['other']}, "
                  f"errors {batch['errors']})")
            # warm the workers so that the memory figure compares like with like
            lo, hi = stored_range(instance, db_url)
            queries(srv.port, auth, 50, lo, hi, seed)
            rss_before = srv.worker_rss_mb()
        finally:
            srv.stop()
        t0 = time.perf_counter()
        added, fill_rate = fill(instance, db_url, args.statements, seed + 200)
        print(f"filled {added:,} statements in-process in {time.perf_counter() - t0:.0f} s ({fill_rate:,.0f}/s)")
        # what the worker's hourly task does on a live site: planner statistics of the statement tables
        subprocess.run([str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "xapi", "optimize"], cwd=ROOT,
                       env=server_env(instance, db_url), check=True, capture_output=True)
        lo, hi = stored_range(instance, db_url)
        srv = Server(instance, db_url, args.workers, args.threads)
        try:
            queries(srv.port, auth, 20, lo, hi, seed + 1)  # warm-up
            lat = queries(srv.port, auth, args.queries, lo, hi, seed + 2)
            rss_after = srv.worker_rss_mb()
            # the same ingest again into the full store: its indexes are now 1 M entries deep
            single_full = ingest(srv.port, auth, 1, args.seconds, seed + 300)
            batch_full = ingest(srv.port, auth, 100, args.seconds, seed + 400)
        finally:
            srv.stop()
        p50, p95 = statistics.median(lat), pct(lat, 95)
        size_mb = sum(f.stat().st_size for f in instance.glob("lms.sqlite3*")) / 1e6
        print(f"filtered GETs over {args.statements:,} statements (limit 50, {args.queries} queries): "
              f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(lat):.1f} ms; database {size_mb:,.0f} MB")
        print(f"server memory (master + {args.workers} workers): {rss_before:.0f} MB before the fill, {rss_after:.0f} MB after")
        print(f"ingest into the full store: single {single_full['sps']:.0f}/s, batches of 100 {batch_full['sps']:.0f}/s "
              f"(5xx {single_full['5xx'] + batch_full['5xx']}, other {single_full['other'] + batch_full['other']}, "
              f"errors {single_full['errors'] + batch_full['errors']})")
        # the figures reported are the lower of the two stores' (empty, full)
        single = min(single, single_full, key=lambda c: c["sps"])
        batch = min(batch, batch_full, key=lambda c: c["sps"])
        pg = None if args.postgres_url == "none" else postgres_run(args.postgres_url, min(args.seconds, 8.0), seed,
                                                                   args.workers, args.threads)
        if pg:
            print(f"PostgreSQL, 4 writers: single {pg['single']['sps']:.0f}/s, batch {pg['batch']['sps']:.0f}/s, "
                  f"5xx {pg['single']['5xx'] + pg['batch']['5xx']}, deadlocks {pg['deadlocks']}")
        print("ratios: "
              f"batch/target {batch['sps'] / REF['batch']:.2f}, batch/Ralph {batch['sps'] / REF['ralph_batch']:.1f}, "
              f"batch/ADL {batch['sps'] / REF['adl']:.0f}, batch/bare-SQLite {batch['sps'] / REF['bare_sqlite']:.2f}; "
              f"single/target {single['sps'] / REF['single']:.2f}, single/Ralph {single['sps'] / REF['ralph_single']:.0f}; "
              f"p95/target {p95 / REF['p95_ms']:.2f}")
        print(f"ingest_sps_single={single['sps']:.0f} ingest_sps_batch={batch['sps']:.0f} "
              f"query_p50_ms={p50:.1f} query_p95_ms={p95:.1f}")
    finally:
        if not keep:
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
