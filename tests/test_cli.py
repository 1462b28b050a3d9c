"""`flask lms …` commands of the platform: demo data and its logins table."""
from __future__ import annotations

from collections import Counter

import lms_test_plugins as tp
import pytest
from sqlalchemy import func, select


@pytest.fixture
def fast_hash(monkeypatch):
    """Demo seeding hashes ~60 passwords with scrypt; tests that do not log in use a cheap hash."""
    from werkzeug.security import generate_password_hash

    import lms.auth.services as auth_services

    monkeypatch.setattr(auth_services, "hash_password",
                        lambda pw: generate_password_hash(pw, method="pbkdf2:sha256:1000"))


def snapshot(db) -> dict:
    """Every row of every table, to compare the database before and after a command."""
    out = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            out[table.name] = sorted(map(tuple, conn.execute(table.select()).all()), key=repr)
    return out


def test_demo_builds_a_realistic_university(app, runner, db, fast_hash):
    from lms.accounts.models import RoleAssignment, User
    from lms.auth.services import verify_password
    from lms.courses.models import Course
    from lms.demo import DEMO_PASSWORD
    from lms.org.models import OrgUnit

    result = runner.invoke(args=["lms", "demo"])
    assert result.exit_code == 0, result.output
    assert "演示数据已加载" in result.output

    units = db.session.scalars(select(OrgUnit)).all()
    kinds = Counter(u.kind for u in units)
    assert kinds == {"committee": 1, "college_committee": 3, "branch": 8}
    root = next(u for u in units if u.parent_id is None)
    assert root.name == "某某大学党委"
    assert {u.name for u in root.children} == {"马克思主义学院党委", "计算机学院党委", "机关党委"}
    branch_names = " ".join(u.name for u in units if u.kind == "branch")
    assert "教工" in branch_names and "本科生" in branch_names and "离退休" in branch_names

    people = db.session.scalars(select(User)).all()
    assert 55 <= len(people) <= 70
    assert len({p.name for p in people}) == len(people)  # plausible, distinct names
    assert all(2 <= len(p.name) <= 3 for p in people)
    assert {"full", "probationary", "candidate", "activist"} <= {p.category for p in people}
    assert len({p.joined_on.year for p in people if p.joined_on}) >= 15
    assert all(p.org_unit_id for p in people)

    roles = Counter((r.role, r.org_unit_id) for r in db.session.scalars(select(RoleAssignment)))
    by_role = Counter(r for r, _ in roles.elements())
    assert by_role == {"teacher": 3, "secretary": 8, "org_admin": 1, "reviewer": 1, "sysadmin": 1, "auditor": 1}
    assert roles[("org_admin", root.id)] == 1
    branch_ids = {u.id for u in units if u.kind == "branch"}
    secretaries = db.session.scalars(select(RoleAssignment).where(RoleAssignment.role == "secretary")).all()
    assert {s.org_unit_id for s in secretaries} == branch_ids
    assert all(s.user.org_unit_id == s.org_unit_id for s in secretaries)

    # one password for all; only the first-login account must change it
    assert [p.login_id for p in people if p.must_change_password] == ["newmember"]
    member = db.session.scalar(select(User).where(User.login_id == "member"))
    assert verify_password(member, DEMO_PASSWORD)
    assert len({p.password_hash for p in people}) == len(people)  # salted one by one
    assert all(p.password_hash.startswith("pbkdf2:sha256:1000$") for p in people)  # through hash_password

    courses = db.session.scalars(select(Course)).all()
    assert {"theory", "policy", "history"} <= {c.category for c in courses}
    published = [c for c in courses if c.is_published]
    assert len(published) >= 3
    assert all(c.chapters and c.teachers and c.summary for c in courses)


def test_demo_twice_changes_nothing(app, runner, db, fast_hash):
    assert runner.invoke(args=["lms", "demo"]).exit_code == 0
    before = snapshot(db)
    result = runner.invoke(args=["lms", "demo"])
    assert result.exit_code == 0, result.output
    assert "未作改动" in result.output
    assert snapshot(db) == before


def test_demo_refuses_in_production(app_factory, db):
    from lms.accounts.models import User

    app = app_factory(ENV="production")
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["lms", "demo"])
        assert result.exit_code != 0
        assert "production" in result.output
        assert db.session.scalar(select(func.count(User.id))) == 0


def test_demo_content_comes_from_plugins_once(app_factory, db, fast_hash):
    from lms.courses.models import Course, Lesson

    tp.DemoLessonsPlugin.calls.clear()
    app = app_factory(LMS_INSTALLED_PLUGINS={"demolessons": tp.DemoLessonsPlugin})
    with app.app_context():
        runner = app.test_cli_runner()
        for _ in range(2):
            assert runner.invoke(args=["lms", "demo"]).exit_code == 0
        lessons = db.session.scalars(select(Lesson)).all()
        assert [ls.title for ls in lessons] == ["学习笔记示范课"]
        theory = db.session.scalar(select(Course).where(Course.category == "theory"))
        assert lessons[0].course_id == theory.id and lessons[0].chapter_id == theory.chapters[0].id
        assert tp.DemoLessonsPlugin.calls == [1, 0]


def test_a_failing_plugin_leaves_no_half_seeded_demo(app_factory, db, fast_hash):
    from lms.accounts.models import User
    from lms.org.models import OrgUnit

    app = app_factory(LMS_INSTALLED_PLUGINS={"faildemo": tp.FailingDemoPlugin})
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["lms", "demo"])
        assert result.exit_code != 0
        assert db.session.scalar(select(func.count(User.id))) == 0
        assert db.session.scalar(select(func.count(OrgUnit.id))) == 0


def test_demo_logins_lists_accounts_password_and_totp_note(app, runner, fast_hash):
    from lms.demo import DEMO_PASSWORD

    empty = runner.invoke(args=["lms", "demo", "--logins"])
    assert "尚未加载演示数据" in empty.output
    runner.invoke(args=["lms", "demo"])
    out = runner.invoke(args=["lms", "demo", "--logins"]).output
    assert DEMO_PASSWORD in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("  ") and len(line.split()) > 2}
    for login_id in ("sysadmin", "auditor", "orgadmin", "reviewer", "teacher1", "member", "newmember"):
        assert login_id in lines, login_id
    for login_id in ("sysadmin", "auditor", "orgadmin"):
        assert "动态口令" in lines[login_id]
    assert "动态口令" not in lines["member"]
    assert "修改密码" in lines["newmember"]


def test_demo_if_empty_leaves_a_database_with_people_alone(app, runner, db, users):
    from lms.accounts.models import User

    before = db.session.scalar(select(func.count(User.id)))
    result = runner.invoke(args=["lms", "demo", "--if-empty"])
    assert result.exit_code == 0
    assert "跳过" in result.output
    assert db.session.scalar(select(func.count(User.id))) == before


def test_serve_command_documents_port_and_worker(runner):
    out = runner.invoke(args=["lms", "serve", "--help"]).output
    assert "LMS_PORT" in out and "--no-worker" in out
    assert "demo" in runner.invoke(args=["lms", "--help"]).output


@pytest.mark.slow
def test_serve_runs_gunicorn_and_the_worker_until_stopped(tmp_path):
    """What `make run` ends with: migrate a fresh instance, then `flask lms serve` answers and stops cleanly."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    flask = str(Path(sys.executable).with_name("flask"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    env.update(LMS_INSTANCE_PATH=str(tmp_path / "instance"), LMS_ENV="development")
    subprocess.run([flask, "--app", "wsgi", "db", "upgrade", "heads"], cwd=root, env=env, check=True,
                   capture_output=True, timeout=180)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([flask, "--app", "wsgi", "lms", "serve", "--port", str(port), "--web-workers", "1"],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        body = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as resp:  # noqa: S310
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert "登录" in body
        assert (tmp_path / "instance" / "secret_key").is_file()
        time.sleep(2)  # let the worker finish starting before it is told to stop
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=40)
        assert "running at" in out
        assert f"Listening at: http://127.0.0.1:{port}" in out  # gunicorn
        assert "task worker started" in out  # flask lms worker
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=3)  # noqa: S310
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
