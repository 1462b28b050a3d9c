"""Phone numbers and TOTP secrets are encrypted at rest (PI-03): a raw dump of the database holds none of them,
the key lives outside the database, existing rows are encrypted by the migration, keys can be rotated.
"""
from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lms import create_app
from lms.accounts.crypto import DataKeyError, Keyring, key_id, parse_key
from lms.testing import _base_config, migrate_to_heads, pg_url

PHONES = ["13812345678", "15900001111", "18622223333"]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PENDING = "KRSXG5DSNFXGOIDBNZSCA33UNBSXEMTZ"


def _raw_dump(db) -> str:
    """Everything the database stores, as an attacker with a copy of the files or a pg_dump would see it."""
    if db.engine.dialect.name == "sqlite":
        path = db.engine.url.database
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            raw = conn.connection.dbapi_connection
            dumped = "\n".join(raw.iterdump())
        files = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
        return dumped + files.decode("latin-1")
    url = make_url(pg_url())
    exe = shutil.which("pg_dump")
    if exe:
        out = subprocess.run([exe, "--data-only", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                              "-U", url.username or "postgres", url.database], capture_output=True, timeout=120)
        if out.returncode == 0:
            return out.stdout.decode("utf-8", "replace")
    rows = []  # pg_dump missing or of another major version: every row of every table as JSON
    with db.engine.connect() as conn:
        for (name,) in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")):
            rows += [r[0] for r in conn.execute(text(f'SELECT row_to_json(t)::text FROM "{name}" t'))]
    return "\n".join(rows)


@pytest.fixture
def people_with_secrets(app, db, make_user, org, users):
    from lms.auth.models import UserSession

    made = [make_user(f"号码{i}", org.a1, phone=p) for i, p in enumerate(PHONES)]
    users.sysadmin.totp_secret = SECRET
    db.session.add(UserSession(token_hash="0" * 64, user_id=users.member.id, totp_pending_secret=PENDING))
    db.session.commit()
    return made


def test_a_raw_dump_holds_no_phone_number_totp_secret_or_key(app, db, people_with_secrets, users):
    dump = _raw_dump(db)
    assert "李党员" in dump  # the dump is real: clear-text columns are in it
    for needle in PHONES + [SECRET, PENDING, app.config["DATA_KEY"]]:
        assert needle not in dump
    # Not even split by the storage format: no run of 7+ digits of any phone number.
    for phone in PHONES:
        assert phone[3:10] not in dump
    assert len(re.findall(r"enc1:[0-9a-f]{8}:", dump)) >= len(PHONES) + 2
    # The application reads them back.
    db.session.expire_all()
    assert [p.phone for p in people_with_secrets] == PHONES
    assert db.session.get(type(users.sysadmin), users.sysadmin.id).totp_secret == SECRET


def test_two_writes_of_the_same_number_differ_and_each_is_bound_to_its_column(app, db, people_with_secrets, users):
    from lms.accounts.models import User

    a, b = people_with_secrets[0], people_with_secrets[1]
    b.phone = a.phone
    db.session.commit()
    stored = dict(db.session.execute(text('SELECT id, phone FROM "user" WHERE id IN (:a, :b)'),
                                     {"a": a.id, "b": b.id}).all())
    assert stored[a.id] != stored[b.id]  # a fresh nonce each time: equal numbers cannot be matched in SQL
    # A TOTP secret copied into someone's phone column (or the reverse) does not decrypt.
    secret_ct = db.session.execute(text('SELECT totp_secret FROM "user" WHERE id = :i'),
                                   {"i": users.sysadmin.id}).scalar()
    db.session.execute(text('UPDATE "user" SET phone = :v WHERE id = :i'), {"v": secret_ct, "i": a.id})
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(DataKeyError, match="user.phone"):
        db.session.get(User, a.id).phone  # noqa: B018
    db.session.rollback()


def test_a_clear_text_value_slipped_into_the_column_is_refused(app, db, people_with_secrets, users):
    from lms.accounts.models import User

    db.session.execute(text('UPDATE "user" SET totp_secret = :v WHERE id = :i'), {"v": SECRET, "i": users.member.id})
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(DataKeyError, match="not encrypted"):
        db.session.get(User, users.member.id)
    db.session.rollback()


def test_totp_login_still_works_with_the_encrypted_secret(app, db, client, users, totp_code, post_login):
    users.sysadmin.totp_secret = SECRET
    db.session.commit()
    r = post_login(client, users.sysadmin.login_id)
    assert r.status_code == 302 and "/login/totp" in r.headers["Location"]
    r = client.post("/login/totp", data={"code": totp_code(SECRET)})
    assert r.status_code == 302 and "/login" not in r.headers["Location"]


# --- the key ----------------------------------------------------------------------------------------------
def _make(instance, **extra):
    cfg = {"INSTANCE_PATH": str(instance), "ENV": "development", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    cfg.update(extra)
    return create_app(cfg)


@pytest.fixture
def no_lms_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("LMS_"):
            monkeypatch.delenv(key)


def test_embedded_default_generates_the_key_once_into_the_instance_folder(tmp_path, no_lms_env):
    first = _make(tmp_path)
    key_file = tmp_path / "data_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.config["DATA_KEY"] == key_file.read_text().strip() and len(parse_key(first.config["DATA_KEY"])) == 32
    assert _make(tmp_path).config["DATA_KEY"] == first.config["DATA_KEY"]


def test_production_refuses_to_start_without_a_configured_key(tmp_path, no_lms_env, monkeypatch):
    _make(tmp_path)  # an embedded key file exists: production still wants the key from outside the instance
    with pytest.raises(RuntimeError, match="LMS_DATA_KEY"):
        _make(tmp_path, ENV="production")
    monkeypatch.setenv("LMS_DATA_KEY", "too-short")
    with pytest.raises(DataKeyError, match="32 random bytes"):
        _make(tmp_path, ENV="production")
    monkeypatch.setenv("LMS_DATA_KEY", "ab" * 32)
    assert _make(tmp_path, ENV="production").config["ENV"] == "production"


def test_rotation_rewrites_every_value_with_the_new_key(app_factory, db, people_with_secrets, users):
    from flask import current_app

    from lms.accounts.models import User

    old = current_app.config["DATA_KEY"]
    new = "cd" * 32
    rotated = app_factory(DATA_KEY=new, DATA_KEYS_OLD=[old])
    with rotated.app_context():
        result = rotated.test_cli_runner().invoke(args=["lms", "data-key-rotate"])
        assert result.exit_code == 0, result.output
        assert "user.phone: 3 value(s)" in result.output and "user.totp_secret: 1 value(s)" in result.output
        db.session.remove()
    only_new = app_factory(DATA_KEY=new)
    with only_new.app_context():
        stored = [v for (v,) in db.session.execute(text('SELECT phone FROM "user" WHERE phone IS NOT NULL'))]
        assert stored and all(v.startswith(f"enc1:{key_id(parse_key(new))}:") for v in stored)
        assert sorted(u.phone for u in db.session.query(User).filter(User.phone.is_not(None))) == sorted(PHONES)
        assert db.session.get(User, users.sysadmin.id).totp_secret == SECRET
        db.session.remove()


def test_keyring_round_trip_and_wrong_key():
    ring = Keyring("ef" * 32)
    token = ring.encrypt("13812345678", "user.phone")
    assert ring.decrypt(token, "user.phone") == "13812345678"
    with pytest.raises(DataKeyError):
        ring.decrypt(token, "user.totp_secret")
    with pytest.raises(DataKeyError, match="not configured"):
        Keyring("12" * 32).decrypt(token, "user.phone")
    assert Keyring("12" * 32, old=["ef" * 32]).decrypt(token, "user.phone") == "13812345678"


# --- the migration encrypts what was stored before -------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'enc.sqlite3'}"
        return
    base = pg_url()
    if not base:
        pytest.skip("LMS_TEST_DATABASE_URL is not set: the PostgreSQL migration run is skipped")
    import os

    name = f"lms_enc_test_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migration_encrypts_existing_rows_and_downgrade_restores_them(tmp_path, empty_db_url):
    from flask_migrate import downgrade, upgrade

    from lms.accounts.models import User
    from lms.extensions import db

    app = create_app(_base_config(tmp_path, empty_db_url))
    with app.app_context():
        upgrade(revision="core_0002")
        with db.engine.begin() as conn:
            conn.execute(text(
                'INSERT INTO "user" (id, login_id, name, category, phone, must_change_password, is_active_account, '
                "failed_logins, totp_secret, totp_failures, created_at, updated_at) VALUES "
                "(1, 'A1', '甲', 'full', :p, false, true, 0, :s, 0, '2026-01-01', '2026-01-01'), "
                "(2, 'A2', '乙', 'full', NULL, false, true, 0, NULL, 0, '2026-01-01', '2026-01-01')"),
                {"p": PHONES[0], "s": SECRET})
            conn.execute(text("INSERT INTO user_session (id, token_hash, user_id, created_at, last_seen_at, mfa_passed, "
                              "totp_pending_secret) VALUES (1, :h, 1, '2026-01-01', '2026-01-01', false, :s)"),
                         {"h": "1" * 64, "s": PENDING})
    migrate_to_heads(app)
    with app.app_context():
        with db.engine.connect() as conn:
            phone, secret = conn.execute(text('SELECT phone, totp_secret FROM "user" WHERE id = 1')).one()
            pending = conn.execute(text("SELECT totp_pending_secret FROM user_session")).scalar()
            assert conn.execute(text('SELECT phone FROM "user" WHERE id = 2')).scalar() is None
        assert all(v.startswith("enc1:") for v in (phone, secret, pending))
        assert PHONES[0] not in phone and SECRET not in secret
        person = db.session.get(User, 1)
        assert (person.phone, person.totp_secret) == (PHONES[0], SECRET)
        db.session.remove()
        downgrade(revision="core_0002")
        with db.engine.connect() as conn:
            assert conn.execute(text('SELECT phone, totp_secret FROM "user" WHERE id = 1')).one() == (PHONES[0], SECRET)
            assert conn.execute(text("SELECT totp_pending_secret FROM user_session")).scalar() == PENDING
        db.engine.dispose()
