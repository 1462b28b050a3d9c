"""The quarantine's hooks: the administration menu entry, and a person's data (PI-06)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from lms.accounts.dsar import Section, clear_reference, delete_rows, model_rows
from lms.authz import VIEW, can
from lms.extensions import db
from lms.plugins import hookimpl
from lms.quarantine import cli  # noqa: F401  (adds `flask lms quarantine` to the lms command group)
from lms.quarantine.models import QuarantinedFile
from lms.ui import NavItem


@hookimpl
def lms_gather_admin_items(user):
    if can(user, VIEW, "admin:system"):
        return [NavItem(label=str(_l("隔离文件")), endpoint="quarantine.index", order=96)]
    return []


@hookimpl
def lms_gather_personal_data(user):
    uid = user.id
    return [Section(
        "quarantined_file", _l("未通过安全检查的上传文件"),
        model_rows(QuarantinedFile, QuarantinedFile.uploader_id == uid,
                   exclude=("stored_name", "detail", "decided_by_id", "decision_note"))
        + model_rows(QuarantinedFile, QuarantinedFile.decided_by_id == uid, QuarantinedFile.uploader_id != uid,
                     only=("id", "decided_at")),
        ("filename", "reason", "status", "created_at"), _l("含您处理过的他人文件（只有编号和时间）"))]


@hookimpl
def lms_event_person_erase(user, erasure):
    from lms.quarantine.services import file_path

    uid = user.id
    for row in db.session.scalars(select(QuarantinedFile).where(QuarantinedFile.uploader_id == uid)):
        path = file_path(row)
        if path is not None:
            erasure.remove_file(path)
    delete_rows(erasure, QuarantinedFile, QuarantinedFile.uploader_id == uid)
    clear_reference(erasure, QuarantinedFile.decided_by_id)
