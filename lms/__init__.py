"""Application factory of the party-school LMS: config, extensions, core, plugins, helpers, errors."""
from __future__ import annotations

import importlib
import logging

from flask import Flask

__version__ = "0.1.0"

# Core feature modules that have a blueprint called `bp` in their views module.
CORE_BLUEPRINT_MODULES = [
    "lms.main.views",
    "lms.auth.views",
    "lms.accounts.views",
    "lms.accounts.dsar_views",
    "lms.org.views",
    "lms.courses.views",
    "lms.credits.views",
    "lms.audit.views",
    "lms.admin.views",
    "lms.notifications.views",
    "lms.exports.views",
    "lms.quarantine.views",
]
# Core modules registered with pluggy like plugins, so the hook API is proven by core code.
CORE_HOOK_MODULES = [
    "lms.main.hooks",
    "lms.courses.hooks",
    "lms.credits.hooks",
    "lms.notifications.hooks",
    "lms.admin.hooks",
    "lms.accounts.personal_data",
    "lms.exports.hooks",
    "lms.quarantine.hooks",
]
# Modules whose import registers models on the shared metadata (migrations need all of them).
CORE_MODEL_MODULES = [
    "lms.org.models",
    "lms.accounts.models",
    "lms.auth.models",
    "lms.audit.models",
    "lms.courses.models",
    "lms.credits.models",
    "lms.notifications.models",
    "lms.exports.models",
    "lms.quarantine.models",
]


def create_app(test_config: dict | None = None) -> Flask:
    from lms.tasks import default_instance_path

    instance = (test_config or {}).get("INSTANCE_PATH") or str(default_instance_path())
    app = Flask(__name__, instance_path=instance, instance_relative_config=True)

    # 1. config
    from lms.config import load_config

    load_config(app, test_config)
    _configure_logging(app)

    # 2. extensions
    from lms import database
    from lms.extensions import babel, csrf, db, login_manager, migrate

    for name in CORE_MODEL_MODULES:
        importlib.import_module(name)
    database.configure_engine_options(app)
    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(database.MIGRATIONS_DIR))
    login_manager.init_app(app)
    csrf.init_app(app)
    from lms.i18n import init_app as init_i18n

    init_i18n(app, babel)

    # 3. core blueprints and behaviour
    from lms.auth import init_app as init_auth

    init_auth(app)
    for name in CORE_BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(name).bp)

    # 4. plugins (the core never imports a plugin; it only calls hooks)
    from lms.plugins import init_plugins

    init_plugins(app, [importlib.import_module(m) for m in CORE_HOOK_MODULES])
    from lms.tasks import init_app as init_tasks

    init_tasks(app)

    # 5. template helpers, CLI, security headers, error pages
    from lms import cli, errors, security, templating

    templating.init_app(app)
    cli.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    return app


def _configure_logging(app: Flask) -> None:
    # Alembic announces its internal plugins at INFO on every start-up; that is noise for operators.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO if app.config["ENV"] != "testing" else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
