"""Configuration layers: built-in defaults < instance/config.py < LMS_* environment < the test mapping."""
from __future__ import annotations

import os
import stat

import lms_test_plugins as tp
import pytest

from lms import create_app

# Only test plugins, so these tests do not depend on what the real plugins are doing.
INSTALLED = {"notes": tp.NotesPlugin, "baselib": tp.BaseLibPlugin}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No LMS_* variable from the outside world leaks into these tests."""
    for key in list(os.environ):
        if key.startswith("LMS_"):
            monkeypatch.delenv(key)


def make(instance, **extra):
    cfg = {"INSTANCE_PATH": str(instance), "LMS_INSTALLED_PLUGINS": INSTALLED}
    cfg.update(extra)
    return create_app(cfg)


def dispose(app):
    from lms.extensions import db

    with app.app_context():
        db.engine.dispose()


def write_instance_config(instance, text: str):
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "config.py").write_text(text, encoding="utf-8")


def test_defaults_put_database_and_media_in_the_instance_folder(tmp_path):
    app = make(tmp_path)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'lms.sqlite3'}"
    assert app.config["MEDIA_ROOT"] == str(tmp_path / "media")
    assert app.config["PAGE_SIZE"] == 20
    assert app.config["ENV"] == "development"
    assert app.config["PLUGINS"] is None
    assert set(app.extensions["lms_plugins"].enabled) == {"notes", "baselib"}
    assert app.config["SESSION_COOKIE_SECURE"] is False
    dispose(app)


def test_instance_config_file_overrides_defaults(tmp_path):
    write_instance_config(tmp_path, 'PAGE_SIZE = 50\nSITE_NAME = "某某大学党校"\nPLUGINS = ["baselib"]\n')
    app = make(tmp_path)
    assert app.config["PAGE_SIZE"] == 50
    assert app.config["SITE_NAME"] == "某某大学党校"
    assert list(app.extensions["lms_plugins"].enabled) == ["baselib"]
    dispose(app)


def test_environment_overrides_instance_config_with_the_default_type(tmp_path, monkeypatch):
    write_instance_config(tmp_path, "PAGE_SIZE = 50\nSECURITY_HEADERS = True\nSITE_NAME = '文件里的名字'\n")
    monkeypatch.setenv("LMS_PAGE_SIZE", "70")
    monkeypatch.setenv("LMS_SECURITY_HEADERS", "off")
    monkeypatch.setenv("LMS_SITE_NAME", "环境变量里的名字")
    monkeypatch.setenv("LMS_TOTP_REQUIRED_ROLES", "sysadmin, auditor")
    monkeypatch.setenv("LMS_DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    monkeypatch.setenv("LMS_MEDIA_ROOT", str(tmp_path / "shared-media"))
    app = make(tmp_path)
    assert app.config["PAGE_SIZE"] == 70
    assert app.config["SECURITY_HEADERS"] is False
    assert app.config["SITE_NAME"] == "环境变量里的名字"
    assert app.config["TOTP_REQUIRED_ROLES"] == ["sysadmin", "auditor"]
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("other.sqlite3")
    assert app.config["MEDIA_ROOT"] == str(tmp_path / "shared-media")
    dispose(app)


def test_lms_config_points_at_another_config_file(tmp_path, monkeypatch):
    other = tmp_path / "etc" / "lms.py"
    other.parent.mkdir()
    other.write_text("PAGE_SIZE = 33\n")
    monkeypatch.setenv("LMS_CONFIG", str(other))
    app = make(tmp_path / "inst")
    assert app.config["PAGE_SIZE"] == 33
    assert "CONFIG" not in app.config
    dispose(app)


def test_the_mapping_given_to_create_app_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("LMS_PAGE_SIZE", "70")
    app = make(tmp_path, PAGE_SIZE=10)
    assert app.config["PAGE_SIZE"] == 10
    dispose(app)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("notes", ["notes"]),
        ("notes,baselib", ["notes", "baselib"]),
        (" notes , baselib ,", ["notes", "baselib"]),
        ('["baselib"]', ["baselib"]),
        ("", []),
    ],
)
def test_lms_plugins_parsing(tmp_path, monkeypatch, raw, expected):
    monkeypatch.setenv("LMS_PLUGINS", raw)
    app = make(tmp_path)
    assert app.config["PLUGINS"] == expected
    assert set(app.extensions["lms_plugins"].enabled) == set(expected)
    dispose(app)


def test_lms_plugins_naming_an_unknown_plugin_stops_startup(tmp_path, monkeypatch):
    from lms.plugins import PluginError

    monkeypatch.setenv("LMS_PLUGINS", "notes,vidoe")
    with pytest.raises(PluginError, match="vidoe"):
        make(tmp_path)


def test_production_env_hardens_cookies_and_hsts(tmp_path, monkeypatch):
    monkeypatch.setenv("LMS_ENV", "production")
    monkeypatch.setenv("LMS_DATA_KEY", "k" * 43)
    app = make(tmp_path)
    assert app.config["ENV"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert app.config["HSTS_SECONDS"] >= 31536000
    dispose(app)


def test_default_sqlite_database_runs_in_wal_mode_with_foreign_keys(tmp_path):
    from lms.extensions import db

    app = make(tmp_path)
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        db.engine.dispose()
    assert (tmp_path / "lms.sqlite3").exists()


def test_secret_key_is_generated_once_into_the_instance_folder_mode_0600(tmp_path):
    first = make(tmp_path)
    key_file = tmp_path / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = first.config["SECRET_KEY"]
    assert len(key) >= 64 and key_file.read_text().strip() == key
    second = make(tmp_path)
    assert second.config["SECRET_KEY"] == key
    other = make(tmp_path / "elsewhere")
    assert other.config["SECRET_KEY"] != key
    for a in (first, second, other):
        dispose(a)


def test_secret_key_from_environment_is_used_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("LMS_SECRET_KEY", "k" * 64)
    app = make(tmp_path)
    assert app.config["SECRET_KEY"] == "k" * 64
    assert not (tmp_path / "secret_key").exists()
    dispose(app)


def test_audit_retention_below_six_months_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LMS_AUDIT_RETENTION_DAYS", "90")
    with pytest.raises(RuntimeError, match="180"):
        make(tmp_path)
