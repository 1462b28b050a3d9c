"""The task queue: Huey on SQLite in the instance folder by default, on Redis with LMS_QUEUE_URL=redis://….

Tasks are declared with `@app_task()`; they run inside an application context (the worker's app, or
the caller's when tests run the queue in immediate mode).
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from flask import Flask, current_app, has_app_context
from huey import RedisHuey, SqliteHuey

log = logging.getLogger(__name__)


def default_instance_path() -> Path:
    env = os.environ.get("LMS_INSTANCE_PATH")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "instance"


def _make_huey():
    url = os.environ.get("LMS_QUEUE_URL", "")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("lms", url=url)
    path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if path is None:
        inst = default_instance_path()
        inst.mkdir(parents=True, exist_ok=True)
        path = inst / "queue.sqlite3"
    return SqliteHuey("lms", filename=str(path))


huey = _make_huey()
_worker_app: Flask | None = None


def app_task(**task_kwargs):
    """Like `huey.task()`, but the function runs inside a Flask application context."""

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            if has_app_context():
                return fn(*args, **kwargs)
            app = _worker_app
            if app is None:
                from lms import create_app

                app = _set_worker_app(create_app())
            with app.app_context():
                return fn(*args, **kwargs)

        return huey.task(**task_kwargs)(run)

    return decorate


def app_periodic_task(validate_datetime, **task_kwargs):
    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            if has_app_context():
                return fn(*args, **kwargs)
            app = _worker_app or _set_worker_app(__import__("lms").create_app())
            with app.app_context():
                return fn(*args, **kwargs)

        return huey.periodic_task(validate_datetime, **task_kwargs)(run)

    return decorate


def _set_worker_app(app: Flask) -> Flask:
    global _worker_app
    _worker_app = app
    return app


def init_app(app: Flask) -> None:
    from lms.backup import tasks as _backup_tasks  # noqa: F401  (daily backup)

    huey.immediate = bool(app.config.get("TASKS_IMMEDIATE", False))
    app.extensions["huey"] = huey


def run_worker(workers: int = 2) -> None:
    """Run a Huey consumer in this process with the current app (used by `flask lms worker`)."""
    from huey.consumer import Consumer

    _set_worker_app(current_app._get_current_object())
    log.info("task worker started: %s", type(huey).__name__)
    consumer = Consumer(huey, workers=workers, worker_type="thread", periodic=True, check_worker_health=True)
    consumer.run()
