"""The microlecture plugin's answer to the data-subject hooks (PI-06): watching records, uploads, videos."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from lms.accounts.dsar import Section, clear_reference, delete_rows, model_rows
from lms.extensions import db
from plugins.microlecture.models import TranscodeJob, Upload, Video, ViewSession, WatchState
from plugins.microlecture.services import storage


def gather(user) -> list[Section]:
    uid = user.id
    return [
        Section("microlecture_watch", _l("视频观看进度"), model_rows(WatchState, WatchState.user_id == uid),
                ("lesson_id", "furthest", "completed_at")),
        Section("microlecture_view_session", _l("视频观看记录"), model_rows(ViewSession, ViewSession.user_id == uid),
                ("lesson_id", "started_at", "counted_seconds")),
        Section("microlecture_upload", _l("视频上传"), model_rows(Upload, Upload.user_id == uid),
                ("filename", "state", "created_at")),
        Section("microlecture_video", _l("您主讲或审核的微党课"),
                model_rows(Video, Video.presenter_id == uid, only=("id", "lesson_id", "topic", "created_at"))
                + model_rows(Video, Video.reviewed_by_id == uid, Video.presenter_id.is_distinct_from(uid),
                             only=("id", "reviewed_at")),
                ("lesson_id", "created_at")),
        Section("microlecture_transcode_job", _l("您提交的转码任务"),
                model_rows(TranscodeJob, TranscodeJob.requested_by_id == uid, only=("id", "video_id", "queued_at")),
                ("video_id", "queued_at")),
    ]


def erase(user, erasure) -> None:
    uid = user.id
    delete_rows(erasure, ViewSession, ViewSession.user_id == uid)
    delete_rows(erasure, WatchState, WatchState.user_id == uid)
    # an upload still being received (or refused) leaves a partial file; an accepted one is the video's source
    for up in db.session.scalars(select(Upload).where(Upload.user_id == uid, Upload.state != "accepted")):
        erasure.remove_file(storage().path(up.part_key))
    delete_rows(erasure, Upload, Upload.user_id == uid)
    clear_reference(erasure, Video.presenter_id)
    clear_reference(erasure, Video.reviewed_by_id)
    clear_reference(erasure, TranscodeJob.requested_by_id)
