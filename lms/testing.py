"""Shared pytest fixtures (loaded as a pytest plugin with `-p lms.testing`; plugin tests reuse them).

The database is built by running the migrations, never by `create_all`: once per test session into
a template file (SQLite) that every test copies, or once into the PostgreSQL database named by
LMS_TEST_DATABASE_URL, which is then emptied after each test.
"""
from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

TEST_PASSWORD = "Dangxiao#2026"  # noqa: S105  (the test accounts' password)
PG_URL_ENV = "LMS_TEST_DATABASE_URL"


def pg_url() -> str | None:
    return os.environ.get(PG_URL_ENV) or None


_RUN_DATA_KEY = secrets.token_urlsafe(32)


def _base_config(instance: Path, db_uri: str) -> dict:
    return {
        "ENV": "testing",
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-" + secrets.token_hex(8),
        # field encryption (lms.accounts.crypto): one key per test run, so that every app a test builds on the
        # same database (the live server's and the test's own) reads what the other wrote
        "DATA_KEY": _RUN_DATA_KEY,
        "PRIVACY_NOTICE_REQUIRED": False,  # the privacy notice step has its own tests (tests/people/test_privacy.py)
        "SQLALCHEMY_DATABASE_URI": db_uri,
        "WTF_CSRF_ENABLED": False,
        "TASKS_IMMEDIATE": True,
        "BASE_URL": "http://lms.test",
        "MEDIA_ROOT": str(instance / "media"),
        "LOGIN_IP_LIMIT": 1000,
    }


def migrate_to_heads(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(revision="heads")


def _pg_reset_schema(url: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture(scope="session")
def _db_template(tmp_path_factory) -> str:
    """Migrate once per session; returns the SQLite template path or the PostgreSQL URL."""
    from lms import create_app

    url = pg_url()
    inst = tmp_path_factory.mktemp("template-instance")
    if url:
        _pg_reset_schema(url)
        app = create_app(_base_config(inst, url))
        migrate_to_heads(app)
        with app.app_context():
            from lms.extensions import db

            db.engine.dispose()
        return url
    path = inst / "template.sqlite3"
    app = create_app(_base_config(inst, f"sqlite:///{path}"))
    migrate_to_heads(app)
    with app.app_context():
        from lms.extensions import db

        db.engine.dispose()
    return str(path)


def _truncate_all(app) -> None:
    from sqlalchemy import text

    from lms.extensions import db

    with app.app_context():
        db.session.remove()
        names = [t.name for t in db.metadata.sorted_tables]
        if names:
            quoted = ", ".join(f'"{n}"' for n in names)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app_factory(_db_template, tmp_path) -> Iterator:
    """Build an app on a fresh migrated database with extra config (e.g. a set of PLUGINS)."""
    from lms import create_app

    made = []

    def make(**overrides):
        if pg_url():
            uri = _db_template
        else:
            target = tmp_path / "lms.sqlite3"
            if not target.exists():
                shutil.copyfile(_db_template, target)
            uri = f"sqlite:///{target}"
        cfg = _base_config(tmp_path, uri)
        cfg.update(overrides)
        a = create_app(cfg)
        made.append(a)
        return a

    yield make
    for a in made:
        from lms.extensions import db

        with a.app_context():
            db.session.remove()
            if pg_url():
                _truncate_all(a)
            db.engine.dispose()


@pytest.fixture
def app(app_factory):
    a = app_factory()
    with a.app_context():
        yield a


@pytest.fixture
def db(app):
    from lms.extensions import db as _db

    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(TEST_PASSWORD, method="scrypt")


@pytest.fixture
def org(app):
    """A small tree: 校党委 → 计算机学院党委 (A) → 教工支部 A1, 学生支部 A2; 文学院党委 (B) → B1."""
    from lms.extensions import db
    from lms.org.services import create_unit

    root = create_unit("某大学党委", "committee")
    a = create_unit("计算机学院党委", "college_committee", root)
    b = create_unit("文学院党委", "college_committee", root)
    a1 = create_unit("计算机学院教工党支部", "branch", a)
    a2 = create_unit("计算机学院学生第一党支部", "branch", a)
    b1 = create_unit("文学院学生党支部", "branch", b)
    db.session.commit()
    return type("Org", (), {"root": root, "a": a, "b": b, "a1": a1, "a2": a2, "b1": b1})


@pytest.fixture
def make_user(app, password_hash):
    from lms.accounts.models import RoleAssignment, User
    from lms.extensions import db

    counter = {"n": 0}

    def make(name="张三", unit=None, roles=(), category="full", login_id=None, must_change=False, **kw):
        counter["n"] += 1
        u = User(
            login_id=login_id or f"T{counter['n']:05d}",
            name=name,
            org_unit_id=unit.id if unit is not None else None,
            category=category,
            joined_on=kw.pop("joined_on", date(2015, 7, 1)),
            password_hash=password_hash,
            must_change_password=must_change,
            **kw,
        )
        db.session.add(u)
        db.session.flush()
        for role in roles:
            r_name, r_unit = (role, None) if isinstance(role, str) else role
            db.session.add(RoleAssignment(user_id=u.id, role=r_name, org_unit_id=r_unit.id if r_unit else None))
        db.session.commit()
        return u

    return make


@pytest.fixture
def users(org, make_user):
    """One user of each role, placed in the `org` tree."""
    ns = {
        "member": make_user("李党员", org.a1),
        "member_b": make_user("王同学", org.b1),
        "member_a2": make_user("赵同学", org.a2),
        "teacher": make_user("陈老师", org.a1, roles=["teacher"]),
        "secretary": make_user("刘书记", org.a1, roles=[("secretary", org.a1)]),
        "secretary_b": make_user("周书记", org.b1, roles=[("secretary", org.b1)]),
        "org_admin": make_user("孙组织员", org.a, roles=[("org_admin", org.a)]),
        "root_admin": make_user("吴部长", org.root, roles=[("org_admin", org.root)]),
        "sysadmin": make_user("系统管理员", org.root, roles=["sysadmin"]),
        "auditor": make_user("审计员", org.root, roles=["auditor"]),
        "reviewer": make_user("审核老师", org.a, roles=[("reviewer", org.a)]),
    }
    return type("Users", (), ns)


@pytest.fixture
def login_as(app):
    """Open a server-side session for `user` in `client` without the login form (mfa passed)."""
    import hashlib

    from lms.auth.models import UserSession
    from lms.extensions import db

    def do(client, user):
        token = secrets.token_urlsafe(32)
        db.session.add(
            UserSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=user.id, mfa_passed=True)
        )
        db.session.commit()
        with client.session_transaction() as sess:
            sess.clear()
            sess["sid"] = token
        return client

    return do


# --- INP-06: every response the suite sees carries the security headers ---------------------------------
def security_header_problems(response) -> list[str]:
    """What a response lacks of the headers every response must carry (lms.security, checklist INP-06)."""
    h = response.headers
    problems = []
    if h.get("X-Content-Type-Options") != "nosniff":
        problems.append("X-Content-Type-Options: nosniff missing")
    csp = h.get("Content-Security-Policy", "")
    if not csp:
        problems.append("Content-Security-Policy missing")
    framing_denied = "frame-ancestors 'none'" in csp or h.get("X-Frame-Options") == "DENY"
    # the one exception: a PDF the site's own reader page shows in a frame (study materials, article
    # attachments) may be framed by the same origin only
    own_reader_pdf = (response.mimetype == "application/pdf" and "frame-ancestors 'self'" in csp
                      and h.get("X-Frame-Options") == "SAMEORIGIN")
    if not (framing_denied or own_reader_pdf):
        problems.append("neither frame-ancestors 'none' nor X-Frame-Options: DENY")
    if not h.get("Referrer-Policy"):
        problems.append("Referrer-Policy missing")
    if response.mimetype == "text/html" and "charset=utf-8" not in (response.content_type or "").lower():
        problems.append("HTML without charset=utf-8")
    return problems


@pytest.fixture(autouse=True)
def security_header_log():
    """Checks every response of every test (Flask's request_finished signal, sent after the after_request
    hooks); a response without the security headers fails the test that caused it, naming the URL.
    Apps built with SECURITY_HEADERS = False (a test of that switch) are not checked."""
    from flask import request, request_finished

    problems: list[str] = []

    def check(sender, response, **extra):
        if sender.config.get("SECURITY_HEADERS", True):
            problems.extend(f"{request.method} {request.path} ({response.status_code}): {p}"
                            for p in security_header_problems(response))

    request_finished.connect(check, weak=False)
    try:
        yield problems
    finally:
        request_finished.disconnect(check)
    if problems:
        pytest.fail("responses without the security headers (INP-06):\n" + "\n".join(problems[:20]),
                    pytrace=False)


def pytest_report_header(config):
    url = pg_url()
    if url:
        return f"lms database: PostgreSQL from {PG_URL_ENV}"
    return f"lms database: SQLite (set {PG_URL_ENV} to run the suite against PostgreSQL)"


# --- browser tests: the app behind a real threaded server, and a Playwright page ----------------------
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "test-artifacts"


class LiveServer:
    """`url` is the base URL (no trailing slash); `app` is the served app, for creating data in tests."""

    def __init__(self, url: str, app):
        self.url = url
        self.app = app

    def __call__(self, path: str = "/") -> str:
        return self.url + path


@pytest.fixture
def live_server(app_factory) -> Iterator[LiveServer]:
    """The app on this test's migrated database, served by werkzeug's threaded server on 127.0.0.1.

    It shares the database with the `app` fixture, so `make_user`, `users`, `org` … create data it serves.
    CSRF protection is on, as in production.
    """
    import socket
    import threading

    from werkzeug.serving import make_server

    with socket.socket() as s:  # a free port, known before the app is built so BASE_URL can name it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    app = app_factory(WTF_CSRF_ENABLED=True, BASE_URL=url, LOGIN_IP_LIMIT=10000)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def chromium_path() -> str | None:
    path = os.environ.get("LMS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).is_file() else None


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (no browser download); skips with the reason when unavailable."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser test skipped: the playwright package is not installed (pip install playwright)")
    exe = chromium_path()
    if exe is None:
        pytest.skip("browser test skipped: chromium not found at /usr/bin/chromium (apt-get install chromium, "
                    "or make browser-deps as root)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"lms_rep_{report.when}", report)


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser tab (Chinese locale, 1280×900) on the live server; parametrize `page` indirectly with a
    viewport dict for a phone, e.g. `@pytest.mark.parametrize("page", [{"width": 390, "height": 844}], indirect=True)`.

    Relative URLs resolve against the live server: `page.goto("/login")`. A Content-Security-Policy violation
    or an uncaught script error fails the test; a failing test leaves a screenshot in test-artifacts/.
    """
    viewport = getattr(request, "param", None) or {"width": 1280, "height": 900}
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=viewport)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    tab.on("console", lambda msg: problems.append(f"console: {msg.text}")
           if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield tab
    failed = getattr(request.node, "lms_rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        try:
            tab.screenshot(path=str(ARTIFACTS_DIR / f"{request.node.name}.png"), full_page=True)
        except Exception as exc:  # the page may already be gone; the test failure is what matters
            import logging

            logging.getLogger(__name__).warning("no screenshot of %s: %s", request.node.name, exc)
    context.close()
    assert not problems, "the browser reported: " + "; ".join(problems)


# --- parallel runs (pytest-xdist): one PostgreSQL database per worker --------------------------------
def _worker_pg_url(config) -> tuple[str, str] | None:
    workerinput = getattr(config, "workerinput", {})
    worker = workerinput.get("workerid")
    url = pg_url()
    if not worker or not url:
        return None
    from sqlalchemy.engine import make_url

    base = make_url(url)
    # The run id keeps two runs on one server (a developer's and CI's) out of each other's databases.
    run = str(workerinput.get("testrunuid", ""))[:8]
    name = f"{base.database}_{run}_{worker}" if run else f"{base.database}_{worker}"
    return base.render_as_string(hide_password=False), name


def pytest_configure(config):
    """Each xdist worker runs on `<database>_<worker>` (created here), since tests empty the database."""
    found = _worker_pg_url(config)
    if found is None:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url, name = found
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    config._lms_pg_admin_url = url
    os.environ[PG_URL_ENV] = make_url(url).set(database=name).render_as_string(hide_password=False)


def pytest_unconfigure(config):
    url = getattr(config, "_lms_pg_admin_url", None)
    if url is None:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(os.environ[PG_URL_ENV]).database
    os.environ[PG_URL_ENV] = url
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


# --- translations: tests render pages in English, which needs the compiled catalog (.mo, not in git) --
def compile_catalogs(root: Path | None = None) -> list[Path]:
    """Compile each lms/translations/<lang>/LC_MESSAGES/messages.po whose .mo is missing or older.

    `make` does this before the suite; a bare `pytest` run gets it here. The .mo is written to a
    temporary file and renamed, so parallel workers never read half a catalog.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    root = root or Path(__file__).resolve().parent / "translations"
    done = []
    for po in sorted(root.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        tmp = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        os.replace(tmp, mo)
        done.append(mo)
    return done


def pytest_sessionstart(session):
    compile_catalogs()
