"""思政微课堂: video lessons — chunked upload, HLS transcoding (media/), review, a tracked player."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.plugins import Plugin, hookimpl
from plugins.microlecture import models  # noqa: F401  (registers the tables)


class MicrolecturePlugin(Plugin):
    name = "microlecture"
    title = "思政微课堂"
    version = "0.1.0"
    description = "Video lessons: resumable upload, HLS ladder transcoding, review before publishing, tracked player."
    uses = ("discussion", "quiz")
    default_config = {
        "MICROLECTURE_MAX_UPLOAD_BYTES": 4 * 1024**3,  # 4 GB
        "MICROLECTURE_CHUNK_BYTES": 8 * 1024**2,  # one PUT of a resumable upload
        "MICROLECTURE_UPLOAD_EXPIRY_HOURS": 72,  # an unfinished upload can be resumed this long
        # Per-person quota on kept originals plus uploads in progress (0 = no limit)
        "MICROLECTURE_QUOTA_BYTES": 20 * 1024**3,  # 20 GB
        "MICROLECTURE_QUOTA_FILES": 100,
        "MICROLECTURE_MAX_DURATION_SECONDS": 3 * 3600,
        "MICROLECTURE_PROBE_TIMEOUT": 300,
        "MICROLECTURE_LADDER": [720, 480, 360],
        "MICROLECTURE_ENABLE_1080P": False,
        "MICROLECTURE_FFMPEG_MEMORY_BYTES": 3 * 1024**3,
        "MICROLECTURE_MAX_ATTEMPTS": 3,
        "MICROLECTURE_RETRY_DELAY_SECONDS": 30,
        "MICROLECTURE_HEARTBEAT_SECONDS": 5,
        "MICROLECTURE_STALE_SECONDS": 60,  # a running job silent this long belongs to a dead worker
        "MICROLECTURE_REAPER_SECONDS": 15,
        "MICROLECTURE_COMPLETION_THRESHOLD": 0.95,
        "MICROLECTURE_STORAGE_ROOT": None,  # None: <MEDIA_ROOT>/microlecture
        "MICROLECTURE_STATUS_POLL_SECONDS": 2,
    }

    def init_app(self, app) -> None:
        # Values from LMS_MICROLECTURE_* environment variables arrive as strings.
        for key, default in self.default_config.items():
            value = app.config.get(key)
            if isinstance(value, str) and isinstance(default, bool):
                app.config[key] = value.strip().lower() in {"1", "true", "yes", "on"}
            elif isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
                app.config[key] = type(default)(float(value)) if isinstance(default, int) else float(value)
            elif isinstance(value, str) and isinstance(default, list):
                app.config[key] = [int(v) for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
        from lms.quarantine.services import register_kind
        from plugins.microlecture import tasks  # noqa: F401  (registers the queue tasks)
        from plugins.microlecture.services import SCAN_KIND, release_quarantined

        register_kind(app, SCAN_KIND, _l("微课视频"), release=release_quarantined)

    @hookimpl
    def lms_gather_personal_data(self, user):
        from plugins.microlecture.personal_data import gather

        return gather(user)

    @hookimpl
    def lms_event_person_erase(self, user, erasure):
        from plugins.microlecture.personal_data import erase

        erase(user, erasure)

    @hookimpl
    def lms_load_blueprints(self, app):
        from plugins.microlecture.views import bp

        return bp

    @hookimpl
    def lms_load_cli_commands(self):
        from plugins.microlecture.cli import group

        return group

    @hookimpl
    def lms_load_demo_data(self, demo):
        from plugins.microlecture.demo import load

        load(demo)

    @hookimpl
    def lms_gather_lesson_types(self):
        from plugins.microlecture.lesson_type import VideoLessonType

        return [VideoLessonType]

    @hookimpl
    def lms_gather_nav_items(self, user):
        from lms.ui import NavItem

        if not user.is_authenticated:
            return []
        return [NavItem(label=str(_l("思政微课堂")), endpoint="microlecture.index", order=30)]

    @hookimpl
    def lms_gather_admin_items(self, user):
        from lms.authz import VIEW, can
        from lms.ui import NavItem

        items = []
        if can(user, VIEW, "teach"):
            items.append(NavItem(label=str(_l("我的微课")), endpoint="microlecture.mine", order=40))
        if can(user, VIEW, "review"):
            items.append(NavItem(label=str(_l("微课审核")), endpoint="microlecture.review_queue", order=41))
        return items
