"""The `flask lms …` command group; core feature modules add their commands to `lms_group`."""
from __future__ import annotations

import importlib
import logging
import os
import signal
import subprocess
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

log = logging.getLogger(__name__)

CORE_CLI_MODULES = [
    "lms.accounts.cli",
    "lms.audit.cli",
    "lms.backup.cli",
    "lms.credits.cli",
    "lms.demo",
]


@click.group("lms", help="党员教育学习平台的管理命令 / LMS administration commands.")
def lms_group():
    pass


@lms_group.command("worker")
@click.option("--workers", default=2, show_default=True, help="Threads that run tasks.")
@with_appcontext
def worker_command(workers: int):
    """Run the task worker (transcoding, forwarding, reminders)."""
    from lms.tasks import run_worker

    run_worker(workers)


@lms_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=lambda: int(os.environ.get("LMS_PORT", "5000")), show_default="5000 or LMS_PORT")
@click.option("--web-workers", default=2, show_default=True)
@click.option("--no-worker", is_flag=True, help="Start only the web server.")
@with_appcontext
def serve_command(host: str, port: int, web_workers: int, no_worker: bool):
    """Start the web server (gunicorn) and the task worker together; Ctrl-C stops both."""
    env = dict(os.environ, LMS_INSTANCE_PATH=current_app.instance_path)
    procs: list[subprocess.Popen] = []
    bindir = os.path.dirname(sys.executable)
    # fixed argument lists, no shell; host and port come from the operator's command line
    procs.append(
        subprocess.Popen(  # noqa: S603
            [os.path.join(bindir, "gunicorn"), "--bind", f"{host}:{port}", "--workers", str(web_workers),
             "--threads", "4", "--worker-class", "gthread", "--timeout", "120", "--access-logfile", "-",
             "wsgi:app"],
            env=env,
        )
    )
    if not no_worker:
        procs.append(subprocess.Popen([os.path.join(bindir, "flask"), "--app", "wsgi", "lms", "worker"],  # noqa: S603
                                      env=env))
    click.echo(f"\n  党员教育学习平台 is running at http://{host}:{port}/  (Ctrl-C to stop)\n")

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def init_app(app: Flask) -> None:
    for name in CORE_CLI_MODULES:
        importlib.import_module(name)
    app.cli.add_command(lms_group)
