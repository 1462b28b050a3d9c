"""The core's answer to the data-subject hooks (PI-06): the core tables that hold a person's data.

Rows the person is the subject of are exported whole and deleted at erasure; rows where the person acted
on someone else's record (granted a role, recorded an exemption, created a course) are exported as ids and
times only, and the reference is cleared at erasure. The audit log is exported (the person's own actions)
and kept (retention duty, see `lms.accounts.dsar`).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.accounts.dsar import Erasure, Section, clear_reference, delete_rows, jsonable, model_rows, table_rows
from lms.accounts.models import PersonTransfer, PrivacyRecord, PrivacyRequest, RoleAssignment, User
from lms.audit.models import AuditLog
from lms.auth.models import LoginAttempt, UserSession
from lms.courses.models import Course, Enrollment, LessonProgress, course_teacher
from lms.credits.models import CreditEntry, CreditExemption, CreditRequirement, CreditRule
from lms.extensions import db
from lms.notifications.models import Notification
from lms.plugins import hookimpl


def _profile(user: User) -> list[dict]:
    return [{
        "id": user.id, "login_id": user.login_id, "name": user.name,
        "org_unit": user.org_unit.path_names if user.org_unit else None, "category": user.category,
        "joined_on": jsonable(user.joined_on), "phone": user.phone,  # decrypted: it is the person's own copy
        "is_active_account": user.is_active_account, "must_change_password": user.must_change_password,
        "password_changed_at": jsonable(user.password_changed_at), "totp_enabled": bool(user.totp_secret),
        "failed_logins": user.failed_logins, "locked_until": jsonable(user.locked_until),
        "created_at": jsonable(user.created_at), "updated_at": jsonable(user.updated_at),
    }]


@hookimpl
def lms_gather_personal_data(user):
    uid = user.id
    return [
        Section("user", _l("基本信息"), _profile(user), ("name", "login_id", "org_unit", "category", "phone")),
        Section("role_assignment", _l("角色"),
                model_rows(RoleAssignment, RoleAssignment.user_id == uid)
                + model_rows(RoleAssignment, RoleAssignment.granted_by_id == uid, RoleAssignment.user_id != uid,
                             only=("id", "role", "granted_at")),
                ("role", "org_unit_id", "granted_at"), _l("含您授予他人的角色（只有编号、角色和时间）")),
        Section("person_transfer", _l("组织关系转接"),
                model_rows(PersonTransfer, PersonTransfer.user_id == uid)
                + model_rows(PersonTransfer, PersonTransfer.by_id == uid, PersonTransfer.user_id != uid,
                             only=("id", "at")),
                ("from_name", "to_name", "at")),
        Section("privacy_record", _l("个人信息告知同意与处理依据"),
                model_rows(PrivacyRecord, PrivacyRecord.user_id == uid)
                + model_rows(PrivacyRecord, PrivacyRecord.by_id == uid, PrivacyRecord.user_id != uid,
                             only=("id", "kind", "at")),
                ("kind", "notice_version", "basis", "at")),
        Section("privacy_request", _l("更正申请"),
                model_rows(PrivacyRequest, PrivacyRequest.user_id == uid)
                + model_rows(PrivacyRequest, PrivacyRequest.handled_by_id == uid, PrivacyRequest.user_id != uid,
                             only=("id", "handled_at")),
                ("field", "status", "created_at")),
        Section("user_session", _l("登录设备"),
                model_rows(UserSession, UserSession.user_id == uid, exclude=("token_hash", "totp_pending_secret")),
                ("ip", "user_agent", "created_at", "last_seen_at")),
        Section("login_attempt", _l("登录尝试"), model_rows(LoginAttempt, LoginAttempt.login_id == user.login_id),
                ("ip", "outcome", "at")),
        Section("audit_log", _l("您的操作日志"),
                model_rows(AuditLog, AuditLog.actor_id == uid,
                           only=("id", "at", "action", "target_type", "target_id", "outcome", "ip")),
                ("action", "at", "outcome")),
        Section("course", _l("您创建的课程"),
                model_rows(Course, Course.created_by_id == uid, only=("id", "title", "created_at")),
                ("title", "created_at")),
        Section("course_teacher", _l("您任教的课程"), table_rows(course_teacher, course_teacher.c.user_id == uid),
                ("course_id",)),
        Section("enrollment", _l("选课"), model_rows(Enrollment, Enrollment.user_id == uid),
                ("course_id", "enrolled_at", "progress", "completed_at")),
        Section("lesson_progress", _l("课时学习进度"), model_rows(LessonProgress, LessonProgress.user_id == uid),
                ("lesson_id", "status", "progress", "completed_at")),
        Section("credit_entry", _l("学时记录"), model_rows(CreditEntry, CreditEntry.user_id == uid),
                ("year", "title", "hours", "earned_at")),
        Section("credit_exemption", _l("学时减免"),
                model_rows(CreditExemption, CreditExemption.user_id == uid)
                + model_rows(CreditExemption, CreditExemption.recorded_by_id == uid, CreditExemption.user_id != uid,
                             only=("id", "created_at")),
                ("year", "reason", "reduced_hours")),
        Section("credit_rule", _l("您制定的学时规则"),
                model_rows(CreditRule, CreditRule.created_by_id == uid, only=("id", "org_unit_id", "year", "created_at")),
                ("year", "created_at")),
        Section("credit_requirement", _l("您设定的学时要求"),
                model_rows(CreditRequirement, CreditRequirement.updated_by_id == uid,
                           only=("id", "org_unit_id", "year", "updated_at")),
                ("year", "updated_at")),
        Section("notification", _l("通知"), model_rows(Notification, Notification.user_id == uid),
                ("title", "created_at", "read_at")),
    ] + _export_requests(uid)


def _export_request_table():
    """The export-approval table (PI-05, lms.exports) when that module is installed; read by name."""
    return db.metadata.tables.get("export_request")


def _export_requests(uid: int) -> list[Section]:
    t = _export_request_table()
    if t is None:
        return []
    rows = table_rows(t, t.c.requested_by_id == uid)
    rows += [{"id": r["id"], "decided_at": r["decided_at"]}
             for r in table_rows(t, t.c.decided_by_id == uid, t.c.requested_by_id != uid)]
    return [Section("export_request", _l("导出审批"), rows, ("kind", "rows", "status", "requested_at"))]


@hookimpl
def lms_event_person_erase(user, erasure: Erasure):
    uid = user.id
    delete_rows(erasure, UserSession, UserSession.user_id == uid)  # every session ends now
    delete_rows(erasure, LoginAttempt, LoginAttempt.login_id == user.login_id)
    for ra in list(user.roles):  # the relationship cascades; keep the session's view in step
        user.roles.remove(ra)
    db.session.flush()
    delete_rows(erasure, RoleAssignment, RoleAssignment.user_id == uid)
    clear_reference(erasure, RoleAssignment.granted_by_id)
    delete_rows(erasure, PersonTransfer, PersonTransfer.user_id == uid)
    clear_reference(erasure, PersonTransfer.by_id)
    delete_rows(erasure, PrivacyRecord, PrivacyRecord.user_id == uid)
    clear_reference(erasure, PrivacyRecord.by_id)
    delete_rows(erasure, PrivacyRequest, PrivacyRequest.user_id == uid)
    clear_reference(erasure, PrivacyRequest.handled_by_id)
    clear_reference(erasure, Course.created_by_id)
    delete_rows(erasure, course_teacher, course_teacher.c.user_id == uid)
    delete_rows(erasure, LessonProgress, LessonProgress.user_id == uid)
    delete_rows(erasure, Enrollment, Enrollment.user_id == uid)
    delete_rows(erasure, CreditEntry, CreditEntry.user_id == uid)
    delete_rows(erasure, CreditExemption, CreditExemption.user_id == uid)
    clear_reference(erasure, CreditExemption.recorded_by_id)
    clear_reference(erasure, CreditRule.created_by_id)
    clear_reference(erasure, CreditRequirement.updated_by_id)
    delete_rows(erasure, Notification, Notification.user_id == uid)
    t = _export_request_table()
    if t is not None:
        delete_rows(erasure, t, t.c.requested_by_id == uid)
        clear_reference(erasure, t.c.decided_by_id)



@hookimpl
def lms_gather_admin_items(user):
    from lms.authz import VIEW, can
    from lms.ui import NavItem

    if not can(user, VIEW, "people"):
        return []
    return [NavItem(label=str(_l("个人信息更正申请")), endpoint="dsar.requests", order=25)]
