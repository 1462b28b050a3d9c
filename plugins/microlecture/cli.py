"""`flask microlecture …`: operate the transcode pipeline from the shell."""
from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("microlecture", help="思政微课堂：转码任务管理 / micro-lecture transcoding.")
def group():
    pass


@group.command("reap")
@with_appcontext
def reap_command():
    """Requeue jobs of dead workers and sweep their work directories (the worker also does this)."""
    from plugins.microlecture.services import reap

    click.echo(reap())


@group.command("retranscode")
@click.argument("video_id", type=int)
@with_appcontext
def retranscode_command(video_id: int):
    """Queue a new transcode of a lecture's newest original (e.g. after enabling 1080p)."""
    from lms.audit import services as audit
    from lms.extensions import db
    from plugins.microlecture import services
    from plugins.microlecture.models import Video

    video = db.session.get(Video, video_id)
    if video is None:
        raise click.ClickException(f"no micro-lecture with id {video_id}")
    try:
        job = services.queue_transcode(video, None)
    except services.MicrolectureError as exc:
        raise click.ClickException(str(exc)) from exc
    audit.log("microlecture.transcode.request", video, details={"job": job.id, "via": "cli"})
    db.session.commit()
    services.dispatch(job.id)
    click.echo(f"job {job.id} queued")


@group.command("jobs")
@click.option("--state", default=None, help="queued, running, done, failed or cancelled")
@with_appcontext
def jobs_command(state: str | None):
    """List transcode jobs with their state and progress."""
    from sqlalchemy import select

    from lms.extensions import db
    from plugins.microlecture.models import TranscodeJob

    q = select(TranscodeJob).order_by(TranscodeJob.id.desc()).limit(50)
    if state:
        q = q.where(TranscodeJob.state == state)
    for job in db.session.scalars(q):
        click.echo(f"{job.id:6d} video={job.video_id:<6d} {job.state:9s} {job.progress:5.1f}% "
                   f"attempt {job.attempt}/{job.max_attempts} {(job.error or '').splitlines()[0][:80] if job.error else ''}")
