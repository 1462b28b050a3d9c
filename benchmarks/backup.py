"""Benchmark of the backup and restore drill (REL-06) on a 100,000-statement store.

1. Migrate a fresh database (SQLite in a temporary instance folder; PostgreSQL: a database of its own, created
   and dropped here) and fill it with --statements xAPI statements through save_statements (with their agent and
   activity index rows: about 3 table rows per statement), plus --people people with enrolments.
2. Time `flask lms backup` and `flask lms backup-check` as an operator runs them (separate processes, so the
   figures include start-up), and `flask lms restore --yes` into the same database.

Target (checklist REL-06): restore 100% (every table's row count and checksum equal), restore ≤ 10 min on 2 cores.

Usage: .venv/bin/python benchmarks/backup.py [--statements N] [--people N] [--postgres-url URL|none]
The last line is machine-readable:
sqlite_backup_s=… sqlite_check_s=… sqlite_restore_s=… pg_backup_s=… pg_check_s=… pg_restore_s=… rows=…
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
logging.disable(logging.WARNING)

DATA_KEY = "62656e63682d6b65792d62656e63682d6b65792d62656e63682d6b65792d3332"
LIMIT_S = 600.0


def config(instance: Path, db_url: str) -> dict:
    return {"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": db_url, "SECRET_KEY": "bench-" + "x" * 24,
            "DATA_KEY": DATA_KEY, "BASE_URL": "http://127.0.0.1"}


def fill(instance: Path, db_url: str, statements: int, people: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import insert, select
    from werkzeug.security import generate_password_hash

    from lms import create_app
    from lms.accounts.models import User
    from lms.courses.models import Course, Enrollment
    from lms.extensions import db
    from lms.org.services import create_unit
    from plugins.xapi.hooks import site_authority
    from plugins.xapi.services import save_statements

    app = create_app(config(instance, db_url))
    rng = random.Random(6)  # noqa: S311  (benchmark data)
    with app.app_context():
        upgrade(revision="heads")
        root = create_unit("某大学党委", "committee")
        branch = create_unit("计算机学院教工党支部", "branch", create_unit("计算机学院党委", "college_committee", root))
        pw = generate_password_hash("Bench#2026", method="pbkdf2:sha256:1000")
        db.session.execute(insert(User), [
            {"login_id": f"P{i:06d}", "name": f"学员{i}", "org_unit_id": branch.id, "category": "full",
             "joined_on": date(2015, 7, 1), "password_hash": pw, "phone": f"139{i:08d}" if i % 5 == 0 else None}
            for i in range(people)])
        course = Course(title="党的理论专题", status="published", owner_unit_id=root.id)
        db.session.add(course)
        db.session.flush()
        ids = db.session.scalars(select(User.id)).all()
        db.session.execute(insert(Enrollment), [{"user_id": uid, "course_id": course.id} for uid in ids])
        db.session.commit()
        t0 = time.perf_counter()
        for start in range(0, statements, 5000):
            batch = [{
                "actor": {"objectType": "Agent", "mbox": f"mailto:member{rng.randrange(people)}@bench.example"},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
                "object": {"id": f"http://bench.example/activities/{rng.randrange(2000)}"},
                "result": {"duration": f"PT{rng.randrange(1, 600)}S", "completion": rng.random() < 0.3},
                "timestamp": "2026-03-01T08:00:00.000+08:00",
            } for _ in range(min(5000, statements - start))]
            save_statements(batch, authority=site_authority())
            db.session.commit()
        print(f"  filled {statements:,} statements in {time.perf_counter() - t0:.1f} s", flush=True)
        db.session.remove()
        db.engine.dispose()


def flask(instance: Path, db_url: str, *args: str) -> tuple[float, str]:
    env = dict(os.environ, LMS_INSTANCE_PATH=str(instance), LMS_DATABASE_URL=db_url, LMS_DATA_KEY=DATA_KEY,
               LMS_SECRET_KEY="bench-" + "x" * 24)
    t0 = time.perf_counter()
    out = subprocess.run([str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "lms", *args],  # noqa: S603
                         cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"flask lms {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return seconds, out.stdout


def drill(label: str, instance: Path, db_url: str) -> dict:
    backup_s, out = flask(instance, db_url, "backup", "--to", str(instance / "bk"))
    path = Path(out.splitlines()[0])
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    rows = sum(t["rows"] for t in manifest["tables"].values())
    print(f"{label}: {out.splitlines()[1]}  (command {backup_s:.1f} s)")
    check_s, out = flask(instance, db_url, "backup-check", str(path))
    print(f"{label}: {out.strip()}  (command {check_s:.1f} s)")
    restore_s, out = flask(instance, db_url, "restore", str(path), "--yes")
    print(f"{label}: {out.strip()}  (command {restore_s:.1f} s)")
    return {"backup_s": backup_s, "check_s": check_s, "restore_s": restore_s, "rows": rows,
            "bytes": manifest["file_bytes"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--statements", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=2_000)
    ap.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/backup_bench",
                    help="a database this script may create and drop; 'none' skips PostgreSQL")
    args = ap.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="lms-backup-bench-") as tmp:
        instance = Path(tmp) / "sqlite"
        instance.mkdir()
        url = f"sqlite:///{instance / 'lms.sqlite3'}"
        fill(instance, url, args.statements, args.people)
        figures["sqlite"] = drill("SQLite", instance, url)
        if args.postgres_url != "none":
            from sqlalchemy import create_engine
            from sqlalchemy.engine import make_url

            pg = make_url(args.postgres_url)
            admin = create_engine(pg.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{pg.database}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{pg.database}"')
            try:
                instance = Path(tmp) / "pg"
                instance.mkdir()
                fill(instance, args.postgres_url, args.statements, args.people)
                figures["pg"] = drill("PostgreSQL", instance, args.postgres_url)
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{pg.database}" WITH (FORCE)')
                admin.dispose()
    worst = max(f["check_s"] for f in figures.values())
    print(f"slowest restore drill {worst:.1f} s against the {LIMIT_S:.0f} s limit ({worst / LIMIT_S:.1%})")
    parts = [f"{db}_{k}={v:.1f}" for db, f in figures.items() for k, v in f.items() if k.endswith("_s")]
    print(" ".join(parts) + f" rows={figures['sqlite']['rows']}")


if __name__ == "__main__":
    main()
