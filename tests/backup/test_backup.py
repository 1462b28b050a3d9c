"""REL-06: `flask lms backup`, `backup-check` (restore into a scratch database, compare) and `restore`.

Runs on the suite's database: SQLite by default (online backup API), PostgreSQL with LMS_TEST_DATABASE_URL
(pg_dump -Fc / pg_restore, which must be on PATH or under /usr/lib/postgresql).
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import make_url

from lms.testing import pg_url

PEOPLE = 1500
STATEMENTS = 1500


@pytest.fixture
def filled(app, db, users, org, password_hash):
    """Real rows in many tables: the org tree, people (with encrypted phones), roles, a course, enrolments,
    xAPI statements (with their agent and activity index rows) and audit rows."""
    from lms import audit
    from lms.accounts.models import User
    from lms.courses.models import Chapter, Course, Enrollment, Lesson
    from plugins.xapi.hooks import site_authority
    from plugins.xapi.services import save_statements

    db.session.execute(insert(User), [
        {"login_id": f"B{i:06d}", "name": f"学员{i}", "org_unit_id": (org.a1, org.a2, org.b1)[i % 3].id,
         "category": "full", "joined_on": date(2010 + i % 15, 7, 1), "password_hash": password_hash,
         "phone": f"138{i:08d}" if i % 10 == 0 else None}
        for i in range(PEOPLE)])
    course = Course(title="党的理论专题", status="published", owner_unit_id=org.root.id)
    db.session.add(course)
    db.session.flush()
    chapter = Chapter(course_id=course.id, title="第一章", position=1)
    db.session.add(chapter)
    db.session.flush()
    db.session.add_all([Lesson(course_id=course.id, chapter_id=chapter.id, title=f"第{i}课", type="article",
                               position=i, settings={"minutes": i}) for i in range(1, 6)])
    ids = db.session.scalars(select(User.id).where(User.login_id.like("B%"))).all()
    db.session.execute(insert(Enrollment), [{"user_id": uid, "course_id": course.id, "progress": (uid % 7) / 7}
                                            for uid in ids])
    for n in range(5):
        audit.log("people.import", target_type="org_unit", target_id=org.a1.id, details={"batch": n})
    db.session.commit()
    statements = [{
        "actor": {"objectType": "Agent", "mbox": f"mailto:m{i % 300}@dx.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced", "display": {"zh-CN": "学习了"}},
        "object": {"id": f"http://dx.example/activities/{i % 40}"},
        "result": {"duration": f"PT{i % 600}S", "completion": i % 3 == 0},
        "timestamp": "2026-03-01T08:00:00.000+08:00",
    } for i in range(STATEMENTS)]
    for start in range(0, STATEMENTS, 500):
        save_statements(statements[start:start + 500], authority=site_authority(), commit=True)
    db.session.commit()
    return course


def invoke(runner, *args):
    return runner.invoke(args=["lms", *map(str, args)], catch_exceptions=False)


def make_backup(runner, folder: Path, with_output: bool = False):
    result = invoke(runner, "backup", "--to", folder)
    assert result.exit_code == 0, result.output
    path = Path(result.output.splitlines()[0])
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    return (path, manifest, result.output) if with_output else (path, manifest)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_backup_then_check_restores_every_table_with_equal_counts_and_checksums(app, db, runner, filled, tmp_path):
    from lms.audit.models import AuditLog

    path, manifest, output = make_backup(runner, tmp_path / "bk", with_output=True)
    tables = manifest["tables"]
    total = sum(t["rows"] for t in tables.values())
    assert tables["user"]["rows"] >= PEOPLE and tables["enrollment"]["rows"] == PEOPLE
    assert tables["xapi_statement"]["rows"] == STATEMENTS
    assert sum(1 for t in tables.values() if t["rows"]) >= 12  # many tables hold rows, not one
    assert f"backup written: {len(tables)} tables, {total} rows" in output
    assert manifest["dialect"] == db.engine.dialect.name
    assert manifest["alembic_revisions"] == manifest["code_heads"]
    # A backup holds personal data: only its owner reads it; nothing half-written is left beside it.
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".manifest.json"]

    result = invoke(runner, "backup-check", path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"ok: {len(tables)} tables, {total} rows, restored in ")
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action.like("backup.%"))
                                   .order_by(AuditLog.id)).all()
    assert actions == ["backup.create", "backup.check"]


def _change_a_row_in_the_backup(path: Path, sql: str) -> None:
    """Edit the backup file itself: the SQLite copy directly, a pg_dump by restoring, editing and dumping again."""
    if path.suffix == ".sqlite3":
        conn = sqlite3.connect(path)
        conn.execute(sql)
        conn.commit()
        conn.close()
        return
    from lms.backup.services import pg_conninfo, pg_tool

    url = make_url(pg_url())
    scratch = f"{url.database}_edit"
    conninfo, env = pg_conninfo(url.set(database=scratch).render_as_string(hide_password=False))
    admin, _ = pg_conninfo(pg_url())
    subprocess.run(["psql", admin, "-c", f'DROP DATABASE IF EXISTS "{scratch}"', "-c",
                    f'CREATE DATABASE "{scratch}"'], check=True, capture_output=True, env=env)
    try:
        subprocess.run([pg_tool("pg_restore"), "--no-owner", "-d", conninfo, str(path)],
                       check=True, capture_output=True, env=env)
        subprocess.run(["psql", conninfo, "-c", sql], check=True, capture_output=True, env=env)
        subprocess.run([pg_tool("pg_dump"), "-Fc", "-f", str(path), conninfo], check=True, capture_output=True,
                       env=env)
    finally:
        subprocess.run(["psql", admin, "-c", f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'],
                       capture_output=True, env=env)


def test_a_row_changed_in_the_backup_file_is_named_and_fails_the_check(app, db, runner, filled, tmp_path):
    path, _ = make_backup(runner, tmp_path)
    _change_a_row_in_the_backup(path, "UPDATE enrollment SET progress = 0.99 WHERE id = 7")

    result = invoke(runner, "backup-check", path)
    assert result.exit_code == 1
    assert "table enrollment:" in result.output and "content differs" in result.output
    assert f"MISMATCH file {path.name}: " in result.output and "changed after the backup" in result.output
    mismatches = [line for line in result.output.splitlines() if line.startswith("MISMATCH table ")]
    assert len(mismatches) == 1  # only the changed table is named
    assert "backup check FAILED" in result.output


def test_a_deleted_row_in_the_backup_is_reported_with_both_counts(app, db, runner, filled, tmp_path):
    path, manifest = make_backup(runner, tmp_path)
    _change_a_row_in_the_backup(path, "DELETE FROM lesson WHERE position = 3")

    result = invoke(runner, "backup-check", path)
    assert result.exit_code == 1
    assert f"table lesson: {manifest['tables']['lesson']['rows']} rows in the manifest, 4 restored" in result.output


def test_a_truncated_backup_fails_with_a_clear_reason(app, db, runner, filled, tmp_path):
    path, manifest = make_backup(runner, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    result = invoke(runner, "backup-check", path)
    assert result.exit_code == 1
    assert f"{len(data) // 2} bytes, the backup wrote {len(data)}: truncated" in result.output
    assert "Traceback" not in result.output
    refused = invoke(runner, "restore", path, "--yes")
    assert refused.exit_code == 1
    assert "truncated" in refused.output and "nothing was restored" in refused.output


def test_a_backup_without_its_manifest_is_refused_as_incomplete(app, runner, filled, tmp_path):
    path, _ = make_backup(runner, tmp_path)
    path.with_name(path.name + ".manifest.json").unlink()
    result = invoke(runner, "backup-check", path)
    assert result.exit_code == 1
    assert "manifest" in result.output and "incomplete" in result.output


def test_restore_brings_back_rows_deleted_after_the_backup(app, db, runner, filled, tmp_path):
    from lms.accounts.models import User
    from lms.courses.models import Enrollment, Lesson

    path, manifest = make_backup(runner, tmp_path)
    db.session.execute(delete(Enrollment).where(Enrollment.id > 100))
    db.session.execute(delete(Lesson))
    db.session.scalars(select(User).where(User.login_id == "B000010")).one().name = "改过的名字"
    db.session.commit()
    assert count(db, Enrollment) == 100

    refused = invoke(runner, "restore", path)
    assert refused.exit_code == 2 and "--yes" in refused.output and "Stop the web server" in refused.output
    assert count(db, Enrollment) == 100

    db.session.remove()  # the site is stopped before a restore: no session of this test holds the tables
    result = invoke(runner, "restore", path, "--yes")
    assert result.exit_code == 0, result.output
    assert "restored and verified" in result.output
    db.session.remove()
    assert count(db, Enrollment) == PEOPLE and count(db, Lesson) == 5
    assert db.session.scalar(select(func.count()).select_from(User).where(User.phone.is_not(None))) == PEOPLE // 10
    person = db.session.scalars(select(User).where(User.login_id == "B000010")).one()
    assert (person.name, person.phone) == ("学员10", "13800000010")
    # The restored database is the backup plus the audit row of the restore itself.
    check = invoke(runner, "backup-check", path)
    assert check.exit_code == 0, check.output


def test_restore_refuses_a_backup_of_another_schema_version(app, db, runner, filled, tmp_path):
    from lms.courses.models import Lesson

    path, manifest = make_backup(runner, tmp_path)
    manifest["alembic_revisions"] = ["core_0001"]
    path.with_name(path.name + ".manifest.json").write_text(json.dumps(manifest))
    db.session.execute(delete(Lesson))
    db.session.commit()

    result = invoke(runner, "restore", path, "--yes")
    assert result.exit_code == 1
    assert "schema revisions core_0001 differ" in result.output and "db upgrade heads" in result.output
    assert count(db, Lesson) == 0


@pytest.mark.skipif(bool(pg_url()), reason="SQLite online backup while another thread writes")
def test_sqlite_backup_taken_while_the_site_writes_is_consistent(app, db, runner, filled, tmp_path):
    from lms.courses.models import Chapter

    stop, writing = threading.Event(), threading.Event()
    course_id = filled.id

    def write():
        with app.app_context():
            while not stop.is_set():
                db.session.execute(insert(Chapter), [{"course_id": course_id, "title": "新章节"}] * 20)
                db.session.commit()
                writing.set()
            db.session.remove()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert writing.wait(10)
        backups = [make_backup(runner, tmp_path / str(n)) for n in range(3)]
        paths = [path for path, _ in backups]
    finally:
        stop.set()
        writer.join()
    assert backups[-1][1]["tables"]["chapter"]["rows"] > 1  # taken while chapters were being added
    for path in paths:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
        result = invoke(runner, "backup-check", path)
        assert result.exit_code == 0, result.output


def test_daily_backup_keeps_the_newest(app_factory, tmp_path):
    from lms.backup import services, tasks

    folder = tmp_path / "daily"
    folder.mkdir()
    for stamp in ("20250101T010101Z", "20250102T010101Z", "20250103T010101Z"):
        for name in (f"lms-{stamp}.sqlite3", f"lms-{stamp}.sqlite3.manifest.json"):
            (folder / name).write_text("old")
    (folder / "notes.txt").write_text("the operator's own file")
    a = app_factory(BACKUP_DIR=str(folder), BACKUP_KEEP=2, BACKUP_SCHEDULE="on")
    with a.app_context():
        assert services.schedule_enabled(a)
        tasks.daily_backup.call_local()
    left = sorted(p.name for p in folder.iterdir())
    assert "notes.txt" in left and "lms-20250103T010101Z.sqlite3" in left
    assert "lms-20250102T010101Z.sqlite3" not in left and "lms-20250101T010101Z.sqlite3.manifest.json" not in left
    newest = [p for p in folder.iterdir() if p.suffix in {".sqlite3", ".dump"} and "2025" not in p.name]
    assert len(newest) == 1
    with a.app_context():
        assert services.check_backup(a, newest[0]).ok
        tasks.daily_backup.call_local()  # a second worker's copy of the same periodic run
    assert sorted(p.name for p in folder.iterdir()) == left  # no second backup within the hour


def test_the_daily_backup_is_on_for_sqlite_and_off_for_postgresql_unless_set(app):
    from lms.backup.services import schedule_enabled

    app.config["BACKUP_SCHEDULE"] = "auto"
    assert schedule_enabled(app) is app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    app.config["BACKUP_SCHEDULE"] = "off"
    assert not schedule_enabled(app)
    app.config["BACKUP_SCHEDULE"] = "on"
    assert schedule_enabled(app)


def test_pg_connection_arguments_carry_no_password():
    from lms.backup.services import pg_conninfo

    conninfo, env = pg_conninfo("postgresql+psycopg://lms:s3cr%40t@db.example:5433/lms?sslmode=require")
    assert "s3cr" not in conninfo
    assert conninfo == "postgresql://lms@db.example:5433/lms?sslmode=require"
    assert env["PGPASSWORD"] == "s3cr@t"


@pytest.mark.skipif(bool(pg_url()), reason="SQLite: another process holding the database file")
def test_restore_refuses_while_another_process_has_the_sqlite_database_open(app, db, runner, filled, tmp_path):
    import sys

    from lms.courses.models import Lesson

    path, _ = make_backup(runner, tmp_path)
    db.session.execute(delete(Lesson))
    db.session.commit()
    database = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    server = subprocess.Popen([sys.executable, "-c", (  # stands in for a running web server
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({database!r}); c.execute('SELECT count(*) FROM lesson').fetchall()\n"
        "print('ready', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        result = invoke(runner, "restore", path, "--yes")
    finally:
        server.kill()
        server.wait()
        server.stdout.close()
    assert result.exit_code == 1
    assert f"open in other processes ({server.pid})" in result.output and "stop the web server" in result.output
    assert count(db, Lesson) == 0  # nothing restored


@pytest.mark.skipif(not pg_url(), reason="PostgreSQL: set LMS_TEST_DATABASE_URL to test the session guard")
def test_restore_refuses_while_another_session_uses_the_postgresql_database(app, db, runner, filled, tmp_path):
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from lms.courses.models import Lesson

    path, _ = make_backup(runner, tmp_path)
    db.session.execute(delete(Lesson))
    db.session.commit()
    db.session.remove()
    server = create_engine(pg_url(), poolclass=NullPool)  # stands in for a running web server
    try:
        with server.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            result = invoke(runner, "restore", path, "--yes")
    finally:
        server.dispose()
    assert result.exit_code == 1
    assert "1 other session(s) use the database" in result.output and "nothing was restored" in result.output
    assert count(db, Lesson) == 0
