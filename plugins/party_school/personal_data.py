"""The party-school plugin's answer to the data-subject hooks (PI-06): assignments, check-ins, materials,
certificates and the e-mail address; sessions, materials and assignments the person created keep no name."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.accounts.dsar import Section, clear_reference, delete_rows, model_rows
from plugins.party_school.models import (
    Assignment,
    AssignmentTarget,
    Attendance,
    Certificate,
    MailAddress,
    Material,
    MaterialReceipt,
    Session,
)


def gather(user) -> list[Section]:
    uid = user.id
    return [
        Section("party_school_assignment_target", _l("学习任务"),
                model_rows(AssignmentTarget, AssignmentTarget.user_id == uid), ("assignment_id", "assigned_at")),
        Section("party_school_attendance", _l("报名与签到"), model_rows(Attendance, Attendance.user_id == uid),
                ("session_id", "signed_up_at", "checked_in_at")),
        Section("party_school_material_receipt", _l("学习资料"),
                model_rows(MaterialReceipt, MaterialReceipt.user_id == uid), ("material_id", "delivered_at", "completed_at")),
        Section("party_school_mail_address", _l("电子邮箱"), model_rows(MailAddress, MailAddress.user_id == uid),
                ("email", "updated_at")),
        Section("party_school_certificate", _l("学习证明"), model_rows(Certificate, Certificate.user_id == uid),
                ("kind", "year", "issued_at")),
        Section("party_school_assignment", _l("您布置的学习任务"),
                model_rows(Assignment, Assignment.created_by_id == uid, only=("id", "title", "created_at")),
                ("title", "created_at")),
        Section("party_school_material", _l("您推送的学习资料"),
                model_rows(Material, Material.created_by_id == uid, only=("id", "title", "created_at")),
                ("title", "created_at")),
        Section("party_school_session", _l("您组织的培训与支部学习"),
                model_rows(Session, Session.organizer_id == uid, only=("id", "title", "starts_at")),
                ("title", "starts_at")),
    ]


def erase(user, erasure) -> None:
    uid = user.id
    delete_rows(erasure, AssignmentTarget, AssignmentTarget.user_id == uid)
    delete_rows(erasure, Attendance, Attendance.user_id == uid)
    delete_rows(erasure, MaterialReceipt, MaterialReceipt.user_id == uid)
    delete_rows(erasure, MailAddress, MailAddress.user_id == uid)
    delete_rows(erasure, Certificate, Certificate.user_id == uid)
    clear_reference(erasure, Assignment.created_by_id)
    clear_reference(erasure, Material.created_by_id)
    clear_reference(erasure, Session.organizer_id)
