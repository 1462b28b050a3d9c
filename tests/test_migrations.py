"""Migrations are the schema: they build an empty database, match the models, and keep one head per branch.

Runs on SQLite always and, when LMS_TEST_DATABASE_URL is set, also on PostgreSQL in a database of its
own (created and dropped here), so it never fights the shared test database.
"""
from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from lms import create_app
from lms.admin.services import applied_revisions
from lms.testing import _base_config, migrate_to_heads, pg_url


def _sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'migr.sqlite3'}"


@pytest.fixture
def pg_database():
    """A PostgreSQL database of this test's own, dropped afterwards."""
    base = pg_url()
    if not base:
        pytest.skip("LMS_TEST_DATABASE_URL is not set: the PostgreSQL migration run is skipped")
    name = f"lms_migr_test_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, tmp_path):
    if request.param == "sqlite":
        return _sqlite(tmp_path)
    return request.getfixturevalue("pg_database")


def _app(tmp_path, url):
    return create_app(_base_config(tmp_path, url))


def _script(app) -> ScriptDirectory:
    with app.app_context():
        return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def _diff(app) -> list:
    """What autogenerate would write: the difference between the migrated database and the models."""
    from lms.extensions import db

    with app.app_context():
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, db.metadata)


def test_upgrade_from_empty_creates_every_table_and_matches_the_models(tmp_path, empty_db_url):
    from lms.extensions import db

    app = _app(tmp_path, empty_db_url)
    migrate_to_heads(app)
    try:
        with app.app_context():
            tables = set(inspect(db.engine).get_table_names())
            assert set(db.metadata.tables) <= tables
            assert tables - set(db.metadata.tables) == {"alembic_version"}
            with db.engine.connect() as conn:
                applied = set(MigrationContext.configure(conn).get_current_heads())
            script = _script(app)
            assert set(script.get_heads()) <= applied_revisions(script, applied)
            assert applied <= set(script.get_heads())
        assert _diff(app) == []
    finally:
        with app.app_context():
            db.engine.dispose()


def test_upgrade_is_repeatable_and_downgrade_to_base_empties_the_database(tmp_path):
    from flask_migrate import downgrade

    from lms.extensions import db

    app = _app(tmp_path, _sqlite(tmp_path))
    migrate_to_heads(app)
    migrate_to_heads(app)  # a second `flask db upgrade heads` does nothing
    with app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
    migrate_to_heads(app)
    assert _diff(app) == []
    with app.app_context():
        db.engine.dispose()


def test_each_branch_has_exactly_one_head(app):
    script = _script(app)
    installed = app.extensions["lms_plugins"].installed
    # a plugin without tables may keep an empty versions folder: only folders with revisions are branches
    branches = {"core"} | {n for n, cls in installed.items() if any((cls(n).migrations_dir / "versions").glob("*.py"))}
    for label in sorted(branches):
        heads = script.revision_map.get_revisions(f"{label}@heads")
        assert len(heads) == 1, f"branch {label!r} has heads {[h.revision for h in heads]}"
    # and nothing outside the known branches
    for head in script.get_heads():
        rev = script.get_revision(head)
        assert rev.branch_labels & branches, f"head {head} belongs to no known branch"


def test_every_plugin_branch_depends_on_the_core(app):
    script = _script(app)
    core = {r.revision for r in script.revision_map.iterate_revisions("core@heads", "base")}
    plugin_bases = [r for r in script.walk_revisions() if r.down_revision is None and "core" not in r.branch_labels]
    for base in plugin_bases:
        # `depends_on` ids as the revision map resolved them (branch labels become revisions)
        deps = set(base._resolved_dependencies)
        assert deps & core, f"plugin branch {sorted(base.branch_labels)} does not depend on a core revision"


def test_plugin_tables_carry_the_plugin_prefix(app):
    """One name per plugin: a table defined in plugins/<name>/ starts with `<name>_` (so its branch is known)."""
    from lms.extensions import db

    installed = set(app.extensions["lms_plugins"].installed)
    for mapper in db.Model.registry.mappers:
        module = mapper.class_.__module__
        for table in mapper.tables:
            if module.startswith("plugins."):
                plugin = module.split(".")[1]
                assert table.name.startswith(plugin + "_"), f"{table.name} ({module}) lacks prefix {plugin}_"
            elif module.startswith("lms."):
                owner = [p for p in installed if table.name.startswith(p + "_")]
                assert not owner, f"core table {table.name} looks like a table of plugin {owner[0]}"


def test_every_plugin_with_tables_has_its_own_branch(app):
    from lms.extensions import db

    script = _script(app)
    labels = set().union(*(r.branch_labels for r in script.walk_revisions()))
    with_tables = {
        m.class_.__module__.split(".")[1] for m in db.Model.registry.mappers if m.class_.__module__.startswith("plugins.")
    }
    for plugin in sorted(with_tables):
        assert plugin in labels, f"plugin {plugin} defines tables but has no Alembic branch labelled {plugin!r}"


def test_migration_state_seen_by_the_system_page_follows_the_database(tmp_path):
    from lms.admin.services import migration_status
    from lms.extensions import db

    app = _app(tmp_path, _sqlite(tmp_path))
    with app.app_context():
        before = migration_status(app)
        assert before["known"] and not before["up_to_date"]
        assert before["branches"] and not any(b["applied"] for b in before["branches"])
        assert "core" in {b["branch"] for b in before["branches"]}
    migrate_to_heads(app)
    with app.app_context():
        after = migration_status(app)
        assert after["up_to_date"] and all(b["applied"] for b in after["branches"])
        db.engine.dispose()
