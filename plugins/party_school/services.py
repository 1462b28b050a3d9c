"""党员e家 logic without request objects: assignments, materials and reading, sessions and check-in,
certificates. Functions write in the caller's transaction and never commit."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import nh3
from flask import current_app, has_request_context, render_template, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import func, select

from lms import audit, events, reading
from lms.accounts.models import MEMBER_CATEGORIES, User
from lms.authz import MANAGE_MEMBERS, can, scope_unit_ids
from lms.courses import services as course_services
from lms.courses.models import Course, Enrollment
from lms.credits import services as credits
from lms.credits.models import CreditEntry
from lms.extensions import db
from lms.notifications.services import message, notify, register
from lms.org.models import OrgUnit, OrgUnitClosure
from lms.org.services import is_within, subtree_ids_query
from lms.quarantine import services as quarantine
from lms.timeutil import utcnow
from plugins.party_school.models import (
    BRANCH_LIFE_TYPES,
    DURATION_KINDS,
    TRAINING_TYPES,
    Assignment,
    AssignmentTarget,
    Attendance,
    Certificate,
    MailAddress,
    Material,
    MaterialReceipt,
    Session,
)

log = logging.getLogger(__name__)
SCAN_KIND = "party_school.material"  # lms.quarantine's name for these uploads
TZ = ZoneInfo("Asia/Shanghai")
# Notification texts: stored in Chinese, shown in the reader's language (lms.notifications.services.shown).
N_ASSIGNMENT = register("新的学习任务：%(title)s")
N_ASSIGNMENT_BODY = register("请在 %(date)s 前完成 %(n)s 门必修课程。")
N_MATERIAL = register("学习资料：%(title)s")
N_MATERIAL_BODY = register("组织推送了新的学习资料，请及时阅读。")
N_SESSION = register("%(kind)s：%(title)s")
N_SESSION_BODY = register("时间：%(time)s；地点：%(place)s。")
N_PLACE_LATER = register("另行通知")


class PartySchoolError(ValueError):
    """Input or an action 党员e家 cannot accept; the message is a sentence for the user."""

    verdict = None  # a document the malware scan did not pass (lms.quarantine.Verdict): its rows are kept


def path_for(endpoint: str, **values) -> str:
    """A site path for an endpoint, also outside a request (CLI, tasks, transfer hooks)."""
    if has_request_context():
        return url_for(endpoint, **values)
    return current_app.url_map.bind("localhost").build(endpoint, values)


def today() -> date:
    return datetime.now(UTC).astimezone(TZ).date()


def local_to_utc(value: datetime) -> datetime:
    """A naive Beijing-time datetime (what a form gives) as naive UTC (what the database holds)."""
    return value.replace(tzinfo=TZ).astimezone(UTC).replace(tzinfo=None)


# --- who manages --------------------------------------------------------------------------------------
def is_manager(user) -> bool:
    """Organization admins, branch secretaries and sysadmins run assignments, pushes and sessions."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_sysadmin or bool(user.role_units("org_admin") or user.role_units("secretary"))


def managed_units(user) -> list[OrgUnit]:
    """The units `user` may target (their people scope), tree-ordered by id."""
    if not is_manager(user):
        return []
    ids = scope_unit_ids(user, MANAGE_MEMBERS)
    q = select(OrgUnit)
    if ids is not None:
        q = q.where(OrgUnit.id.in_(ids))
    return list(db.session.scalars(q.order_by(OrgUnit.parent_id.is_not(None), OrgUnit.sort_order, OrgUnit.id)))


def in_scope_filter(user, column):
    ids = scope_unit_ids(user, MANAGE_MEMBERS)
    return None if ids is None else column.in_(ids)


def people_query(unit_id: int, categories: list[str] | None = None):
    q = select(User).where(User.org_unit_id.in_(subtree_ids_query(unit_id)), User.is_active_account.is_(True))
    if categories:
        q = q.where(User.category.in_(categories))
    return q


# --- assignments (必修) --------------------------------------------------------------------------------
def create_assignment(actor, *, title: str, unit: OrgUnit, courses: list[Course], starts_on: date, due_on: date,
                      categories: list[str] | None = None, description: str = "") -> Assignment:
    title = (title or "").strip()
    if not title:
        raise PartySchoolError(_("请填写学习任务的名称。"))
    if not courses:
        raise PartySchoolError(_("请至少选择一门必修课程。"))
    if any(not c.is_published for c in courses):
        raise PartySchoolError(_("只能布置已发布的课程。"))
    if due_on < starts_on:
        raise PartySchoolError(_("截止日期不能早于开始日期。"))
    cats = [c for c in (categories or []) if c in MEMBER_CATEGORIES]
    row = Assignment(title=title[:200], description=(description or "").strip()[:4000], org_unit_id=unit.id,
                     categories=cats, starts_on=starts_on, due_on=due_on, created_by_id=getattr(actor, "id", None))
    row.courses = list(courses)
    db.session.add(row)
    db.session.flush()
    reached = 0
    for person in db.session.scalars(people_query(unit.id, cats)):
        if _apply(row, person, "initial"):
            reached += 1
    audit.log("party_school.assignment_create", row, actor=actor,
              details={"unit": unit.id, "courses": [c.id for c in courses], "categories": cats,
                       "starts_on": starts_on.isoformat(), "due_on": due_on.isoformat(), "people": reached})
    return row


def _apply(assignment: Assignment, person: User, reason: str) -> bool:
    """Give `person` the assignment's courses (enrolled as assigned) and tell them, once."""
    exists = db.session.scalar(select(AssignmentTarget.id).where(AssignmentTarget.assignment_id == assignment.id,
                                                                 AssignmentTarget.user_id == person.id))
    if exists is not None:
        return False
    db.session.add(AssignmentTarget(assignment_id=assignment.id, user_id=person.id, reason=reason))
    for course in assignment.courses:
        enr = course_services.enroll(person, course, source="assigned")
        if enr.source == "self":  # a course already chosen freely becomes required
            enr.source = "assigned"
    db.session.flush()
    notify(person, title=message(N_ASSIGNMENT, title=assignment.title)[:200],
           body=message(N_ASSIGNMENT_BODY, date=assignment.due_on.isoformat(), n=len(assignment.courses)),
           url=path_for("party_school.my"), kind="info")
    return True


def _matches(assignment: Assignment, person: User) -> bool:
    if assignment.categories and person.category not in assignment.categories:
        return False
    return is_within(person.org_unit_id, assignment.org_unit_id)


def resolve_assignments(person: User, reason: str = "joined") -> int:
    """Running assignments that now cover `person` (joined, transferred, category changed) reach them."""
    if person.org_unit_id is None or not person.is_active_account:
        return 0
    ancestors = select(OrgUnitClosure.ancestor_id).where(OrgUnitClosure.descendant_id == person.org_unit_id)
    have = select(AssignmentTarget.assignment_id).where(AssignmentTarget.user_id == person.id)
    candidates = db.session.scalars(
        select(Assignment).where(Assignment.status == "active", Assignment.org_unit_id.in_(ancestors),
                                 Assignment.due_on >= today(), Assignment.id.not_in(have)))
    n = 0
    for a in candidates:
        if _matches(a, person) and _apply(a, person, reason):
            n += 1
    return n


@dataclass
class CourseTask:
    course: Course
    enrollment: Enrollment | None
    assignment: Assignment

    @property
    def progress(self) -> float:
        return self.enrollment.progress if self.enrollment else 0.0

    @property
    def completed_at(self):
        return self.enrollment.completed_at if self.enrollment else None

    @property
    def status(self) -> str:
        if self.completed_at is not None:
            return "done"
        t = today()
        if t > self.assignment.due_on:
            return "overdue"
        if t < self.assignment.starts_on:
            return "upcoming"
        return "open"

    @property
    def days_left(self) -> int:
        return (self.assignment.due_on - today()).days


def my_tasks(person: User) -> tuple[list[CourseTask], list[Enrollment]]:
    """(required course tasks by deadline, elective enrolments) of `person`."""
    assignments = list(db.session.scalars(
        select(Assignment).join(AssignmentTarget, AssignmentTarget.assignment_id == Assignment.id)
        .where(AssignmentTarget.user_id == person.id, Assignment.status == "active")
        .order_by(Assignment.due_on, Assignment.id)))
    enrollments = {e.course_id: e for e in db.session.scalars(
        select(Enrollment).where(Enrollment.user_id == person.id))}
    tasks, required_ids = [], set()
    for a in assignments:
        for c in a.courses:
            if c.id in required_ids:
                continue
            required_ids.add(c.id)
            tasks.append(CourseTask(course=c, enrollment=enrollments.get(c.id), assignment=a))
    order = {"overdue": 0, "open": 1, "upcoming": 2, "done": 3}
    tasks.sort(key=lambda t: (order[t.status], t.assignment.due_on))
    elective = sorted((e for cid, e in enrollments.items() if cid not in required_ids),
                      key=lambda e: (e.completed_at is not None, -e.id))
    return tasks, elective


def assignment_stats(assignment: Assignment) -> dict:
    """People reached and, per course, how many completed (one grouped query)."""
    people = db.session.scalar(select(func.count(AssignmentTarget.id))
                               .where(AssignmentTarget.assignment_id == assignment.id)) or 0
    done = dict(db.session.execute(
        select(Enrollment.course_id, func.count(Enrollment.id))
        .join(AssignmentTarget, (AssignmentTarget.user_id == Enrollment.user_id)
              & (AssignmentTarget.assignment_id == assignment.id))
        .where(Enrollment.course_id.in_([c.id for c in assignment.courses]), Enrollment.completed_at.is_not(None))
        .group_by(Enrollment.course_id)).all())
    return {"people": people, "done": {c.id: done.get(c.id, 0) for c in assignment.courses}}


def withdraw_assignment(actor, assignment: Assignment) -> None:
    assignment.status = "withdrawn"
    audit.log("party_school.assignment_withdraw", assignment, actor=actor, details={"title": assignment.title})


# --- study materials ------------------------------------------------------------------------------------
ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s",
    "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "td": {"colspan", "rowspan"},
                      "th": {"colspan", "rowspan", "scope"}, "ol": {"start"}}


def sanitize(html: str) -> str:
    return nh3.clean(html or "", tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer", strip_comments=True)


def text_to_html(text: str) -> str:
    """Plain text typed into the form: paragraphs by blank line, kept safe."""
    from markupsafe import escape

    paras = [p.strip() for p in re.split(r"\n\s*\n", (text or "").replace("\r\n", "\n")) if p.strip()]
    return "".join(f"<p>{escape(p).replace(chr(10), Markup('<br>'))}</p>" for p in paras)


def visible_length(html: str) -> int:
    text = nh3.clean(html or "", tags=set())
    text = re.sub(r"&[a-zA-Z#0-9]+;", " ", text)
    return len(re.sub(r"\s+", "", text))


def _media_root() -> Path:
    return Path(current_app.config["MEDIA_ROOT"]).resolve()


def _clean_name(name: str | None) -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable() and ch not in '"<>').strip()[:200]


def read_upload(stream, filename: str, uploader=None) -> dict:
    """Check an uploaded document by its bytes: a PDF is kept as it is, a Word .docx becomes HTML.

    Returns {"kind", "data" | "html", "name", "pages"}; raises PartySchoolError with the reason otherwise.
    """
    limit = int(current_app.config["PARTY_SCHOOL_FILE_MAX_BYTES"])
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PartySchoolError(_("文件不能超过 %(n)s MB。", n=limit // (1024 * 1024)))
    if not data:
        raise PartySchoolError(_("上传的文件是空的。"))
    name = _clean_name(filename)
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise PartySchoolError(_("这是旧版 Word（.doc）文件，无法在浏览器中显示，请另存为 .docx 或 PDF 后再上传。"))
    if not data.startswith(b"%PDF-") and data[:4] != b"PK\x03\x04":
        raise PartySchoolError(_("只能上传 PDF 或 Word（.docx）文件。"))
    # UP-09: scanned before the document is converted, stored or pushed to anyone.
    verdict = quarantine.check(SCAN_KIND, data=data, filename=name or "document", uploader=uploader)
    if not verdict.ok:
        err = PartySchoolError(verdict.message)
        err.verdict = verdict
        raise err
    if data.startswith(b"%PDF-"):
        pages = max(1, len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data)))
        return {"kind": "pdf", "data": data, "name": name or "document.pdf", "pages": pages, "scan": verdict.scan}
    return {"kind": "docx", "html": _docx_html(data), "name": name or "document.docx", "pages": None,
            "scan": verdict.scan}


def _docx_html(data: bytes) -> str:
    import io
    import zipfile

    import mammoth

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if "word/document.xml" not in z.namelist():
                raise PartySchoolError(_("该文件不是 Word（.docx）文档，请上传 PDF 或 .docx 文件。"))
            if sum(i.file_size for i in z.infolist()) > 200 * 1024 * 1024:  # a zip bomb is not a document
                raise PartySchoolError(_("Word 文档解压后过大，请另存为 PDF 后再上传。"))
        result = mammoth.convert_to_html(io.BytesIO(data))
    except PartySchoolError:
        raise
    except Exception as exc:  # mammoth raises many kinds on broken files; the user only needs the outcome
        log.info("docx conversion failed: %s", exc)
        raise PartySchoolError(_("无法读取该 Word 文档，请检查文件或另存为 PDF 后再上传。")) from exc
    html = sanitize(result.value)
    if visible_length(html) == 0:
        raise PartySchoolError(_("该 Word 文档没有可显示的文字内容，请另存为 PDF 后再上传。"))
    return html


def estimated_seconds(material: Material) -> int:
    cfg = current_app.config
    seconds = (material.text_length or 0) * 60 / max(1, int(cfg["PARTY_SCHOOL_CHARS_PER_MINUTE"]))
    if material.kind == "pdf":
        seconds += (material.file_pages or 1) * int(cfg["PARTY_SCHOOL_PDF_SECONDS_PER_PAGE"])
    return int(round(seconds))


def create_material(actor, *, title: str, unit: OrgUnit, body: str = "", upload: dict | None = None,
                    required_minutes: float | None = None, send_email: bool = False) -> Material:
    """Store a material and push it to every active person of the subtree (notification per person)."""
    title = (title or "").strip()
    if not title:
        raise PartySchoolError(_("请填写资料标题。"))
    m = Material(title=title[:200], org_unit_id=unit.id, send_email=bool(send_email),
                 created_by_id=getattr(actor, "id", None))
    html = text_to_html(body) if body and body.strip() else ""
    if upload is not None and upload["kind"] == "docx":
        m.kind, html = "docx", upload["html"] + html
        m.file_name = upload["name"]
    elif upload is not None:
        m.kind, m.file_name, m.file_pages = "pdf", upload["name"], upload["pages"]
        rel = f"party_school/{secrets.token_hex(16)}.pdf"
        target = _media_root() / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        tmp.write_bytes(upload["data"])
        os.replace(tmp, target)
        m.file_path = rel
    else:
        m.kind = "article"
    m.html = html
    m.text_length = visible_length(html)
    if m.kind == "article" and m.text_length == 0:
        raise PartySchoolError(_("请填写正文或上传文档。"))
    minimum = int(current_app.config["PARTY_SCHOOL_MIN_READING_SECONDS"])
    if required_minutes:
        m.required_seconds = max(minimum, int(round(float(required_minutes) * 60)))
    else:
        m.required_seconds = max(minimum, estimated_seconds(m) // 2)
    db.session.add(m)
    db.session.flush()
    m.pushed_at = utcnow()
    url = path_for("party_school.material", material_id=m.id)
    n = 0
    for person in db.session.scalars(people_query(unit.id)):
        db.session.add(MaterialReceipt(material_id=m.id, user_id=person.id, delivered_at=m.pushed_at))
        notify(person, title=message(N_MATERIAL, title=m.title)[:200], body=message(N_MATERIAL_BODY), url=url,
               kind="info")
        n += 1
    db.session.flush()
    audit.log("party_school.material_push", m, actor=actor,
              details={"unit": unit.id, "kind": m.kind, "people": n, "email": m.send_email,
                       **({"scan": upload.get("scan")} if upload else {})})
    return m


def material_file(m: Material) -> Path | None:
    if not m.file_path:
        return None
    root = _media_root()
    path = (root / m.file_path).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def receipt_for(person, m: Material) -> MaterialReceipt | None:
    return db.session.scalar(select(MaterialReceipt).where(MaterialReceipt.material_id == m.id,
                                                           MaterialReceipt.user_id == person.id))


def can_manage_material(user, m: Material) -> bool:
    return can(user, MANAGE_MEMBERS, m.org_unit)


def heartbeat(person, m: Material, *, seconds: float = 0, reached_end: bool = False) -> dict:
    """Count reading time the page reports, never more than the wall-clock time since the last report.

    Each report is credited min(claimed, seconds since the previous report, the per-report cap); the first
    only starts the clock. Reading completes when the end was seen and the required time was spent; it
    then earns credit hours under the person's rule (effective reading time) and records a `read` event.
    """
    r = receipt_for(person, m)
    if r is None:
        raise PartySchoolError(_("这份资料没有推送给您。"))
    now = utcnow()
    credited = reading.credit(r, claimed=seconds, reached_end=reached_end, now=now,
                              cap=current_app.config["PARTY_SCHOOL_HEARTBEAT_MAX_SECONDS"])
    r.opened_at = r.opened_at or now
    if r.completed_at is None:
        r.effective_seconds = (r.effective_seconds or 0) + credited
    entry = None
    if r.completed_at is None and r.reached_end_at is not None and r.effective_seconds >= m.required_seconds:
        r.completed_at = now
        entry = credits.award(
            person, source_type="reading", source_id=f"material:{m.id}", title=m.title, earned_at=now,
            evidence={"material_id": m.id, "receipt_id": r.id, "effective_seconds": r.effective_seconds,
                      "duration_seconds": r.effective_seconds, "required_seconds": m.required_seconds,
                      "url": path_for("party_school.material", material_id=m.id), "label": "阅读记录"})
        events.record(events.LearningEvent(
            user=person, verb="read", object_id=events.activity_iri("material", m.id),
            object_type="http://activitystrea.ms/schema/1.0/article", object_name={"zh-CN": m.title},
            result={"completion": True, "duration": f"PT{int(r.effective_seconds)}S"}))
    db.session.flush()
    return {"credited": credited, "effective_seconds": r.effective_seconds, "required_seconds": m.required_seconds,
            "reached_end": r.reached_end_at is not None, "completed": r.completed_at is not None,
            "hours": str(entry.hours) if entry is not None else None}


def reading_overview(m: Material, limit: int = 200) -> dict:
    """For the pushing side: how many received, opened and finished, and who has not finished yet."""
    row = db.session.execute(select(func.count(MaterialReceipt.id), func.count(MaterialReceipt.opened_at),
                                    func.count(MaterialReceipt.completed_at))
                             .where(MaterialReceipt.material_id == m.id)).one()
    behind = db.session.execute(
        select(User, MaterialReceipt).join(MaterialReceipt, MaterialReceipt.user_id == User.id)
        .where(MaterialReceipt.material_id == m.id, MaterialReceipt.completed_at.is_(None))
        .order_by(User.org_unit_id, User.name, User.id).limit(limit)).all()
    return {"received": row[0], "opened": row[1], "completed": row[2], "behind": behind}


def my_materials(person) -> list[MaterialReceipt]:
    return list(db.session.scalars(
        select(MaterialReceipt).join(Material, Material.id == MaterialReceipt.material_id)
        .where(MaterialReceipt.user_id == person.id).order_by(MaterialReceipt.delivered_at.desc(),
                                                              MaterialReceipt.id.desc())))


def pending_count(person) -> int:
    """Unread materials plus open required courses due within a week (the 党员e家 badge)."""
    unread = db.session.scalar(select(func.count(MaterialReceipt.id)).where(
        MaterialReceipt.user_id == person.id, MaterialReceipt.completed_at.is_(None))) or 0
    soon = today() + timedelta(days=7)
    due = db.session.scalar(
        select(func.count(func.distinct(Enrollment.course_id)))
        .select_from(AssignmentTarget)
        .join(Assignment, Assignment.id == AssignmentTarget.assignment_id)
        .join(Assignment.courses)
        .join(Enrollment, (Enrollment.course_id == Course.id) & (Enrollment.user_id == person.id))
        .where(AssignmentTarget.user_id == person.id, Assignment.status == "active",
               Assignment.due_on <= soon, Enrollment.completed_at.is_(None))) or 0
    return unread + due


def mail_address(person) -> str | None:
    row = db.session.get(MailAddress, person.id)
    if row is not None and row.email:
        return row.email
    domain = (current_app.config.get("PARTY_SCHOOL_MAIL_DOMAIN") or "").strip().lstrip("@")
    if domain and re.fullmatch(r"[A-Za-z0-9._-]+", person.login_id or ""):
        return f"{person.login_id}@{domain}"
    return None


EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


def set_mail_address(person, email: str) -> None:
    email = (email or "").strip()
    row = db.session.get(MailAddress, person.id)
    if not email:
        if row is not None:
            db.session.delete(row)
        audit.log("party_school.mail_address_remove", person, actor=person)
        return
    if len(email) > 200 or not EMAIL_RE.match(email):
        raise PartySchoolError(_("请填写有效的电子邮箱地址。"))
    if row is None:
        row = MailAddress(user_id=person.id, email=email)
        db.session.add(row)
    row.email = email
    audit.log("party_school.mail_address_set", person, actor=person)


def smtp_configured() -> bool:
    return bool((current_app.config.get("PARTY_SCHOOL_SMTP_HOST") or "").strip())


# --- sessions: trainings and branch life -----------------------------------------------------------------
def _new_code() -> str:
    return f"{secrets.randbelow(10 ** 6):06d}"


def create_session(actor, *, kind: str, subtype: str, title: str, unit: OrgUnit, starts_at: datetime,
                   ends_at: datetime, duration_kind: str, hours, location: str = "", description: str = "",
                   capacity: int | None = None, signup_required: bool = False) -> Session:
    """A training (hours given by the organizer) or a branch-life meeting (priced by the in-person rule)."""
    if kind == "branch_life":
        if subtype not in BRANCH_LIFE_TYPES:
            raise PartySchoolError(_("请选择组织生活的类型。"))
        if not unit.is_branch:
            raise PartySchoolError(_("三会一课、主题党日由党支部组织，请选择一个党支部。"))
    elif kind == "training":
        if subtype not in TRAINING_TYPES:
            raise PartySchoolError(_("请选择培训的类型。"))
    else:
        raise PartySchoolError(_("未知的活动类型。"))
    if kind == "training":  # a training earns the hours its organizer set
        duration_kind = "hours"
    if duration_kind not in DURATION_KINDS:
        raise PartySchoolError(_("请选择学时的计算方式。"))
    if ends_at <= starts_at:
        raise PartySchoolError(_("结束时间须晚于开始时间。"))
    hours = Decimal(str(hours or 0))
    if duration_kind == "hours" and not (Decimal(0) < hours <= 24):
        raise PartySchoolError(_("学时须在 0 到 24 之间。"))
    title = (title or "").strip()
    if not title:
        raise PartySchoolError(_("请填写活动名称。"))
    s = Session(kind=kind, subtype=subtype, title=title[:200], description=(description or "").strip()[:4000],
                location=(location or "").strip()[:200], org_unit_id=unit.id, organizer_id=getattr(actor, "id", None),
                starts_at=starts_at, ends_at=ends_at, duration_kind=duration_kind, hours=hours,
                capacity=capacity or None, signup_required=bool(signup_required), checkin_code=_new_code(),
                checkin_token=secrets.token_urlsafe(24))
    db.session.add(s)
    db.session.flush()
    for person in db.session.scalars(people_query(unit.id)):
        notify(person, title=message(N_SESSION, kind=s.kind_label, title=s.title)[:200],
               body=message(N_SESSION_BODY, time=_local(starts_at), place=s.location or N_PLACE_LATER),
               url=path_for("party_school.session", session_id=s.id), kind="info")
    audit.log("party_school.session_create", s, actor=actor,
              details={"kind": kind, "subtype": subtype, "unit": unit.id, "hours": str(hours),
                       "duration": duration_kind})
    return s


def _local(dt: datetime) -> str:
    return dt.replace(tzinfo=UTC).astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def session_hours(s: Session, person: User | None = None) -> Decimal:
    """What attending earns: a training its own hours; branch life the in-person rule of the person's unit."""
    if s.kind == "training":
        return credits._q(s.hours)
    unit_id = person.org_unit_id if person is not None else s.org_unit_id
    rule = credits.rule_for(unit_id, credits.local_year(s.starts_at), "offline")
    return credits.price(rule, "branch_life", {"session": s.duration_kind, "hours_attended": float(s.hours or 0)})


def can_attend(person, s: Session) -> bool:
    return is_within(person.org_unit_id, s.org_unit_id)


def can_manage_session(user, s: Session) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return can(user, MANAGE_MEMBERS, s.org_unit)


def attendance_of(person, s: Session) -> Attendance | None:
    return db.session.scalar(select(Attendance).where(Attendance.session_id == s.id,
                                                      Attendance.user_id == person.id))


def signed_up_count(s: Session) -> int:
    return db.session.scalar(select(func.count(Attendance.id)).where(
        Attendance.session_id == s.id, Attendance.signed_up_at.is_not(None))) or 0


def sign_up(person, s: Session) -> Attendance:
    if not can_attend(person, s):
        raise PartySchoolError(_("该活动面向其他党组织，您不能报名。"))
    if utcnow() >= s.ends_at:
        raise PartySchoolError(_("活动已经结束，不能再报名。"))
    a = attendance_of(person, s)
    if a is not None and a.signed_up_at is not None:
        return a
    if s.capacity and signed_up_count(s) >= s.capacity:
        raise PartySchoolError(_("报名人数已满。"))
    if a is None:
        a = Attendance(session_id=s.id, user_id=person.id)
        db.session.add(a)
    a.signed_up_at = utcnow()
    db.session.flush()
    return a


def checkin_window(s: Session) -> tuple[datetime, datetime]:
    cfg = current_app.config
    return (s.starts_at - timedelta(minutes=int(cfg["PARTY_SCHOOL_CHECKIN_EARLY_MINUTES"])),
            s.ends_at + timedelta(minutes=int(cfg["PARTY_SCHOOL_CHECKIN_LATE_MINUTES"])))


@dataclass
class CheckinResult:
    attendance: Attendance
    new: bool
    entry: CreditEntry | None


def check_in(person, s: Session, *, code: str | None = None, token: str | None = None,
             by=None) -> CheckinResult:
    """Check `person` in with the code shown at the session, the QR token, or by the organizer (`by`, a
    manager of the session recording someone without a phone); credit hours once.

    Wrong codes count against a small allowance per person and session (no guessing a 6-digit code).
    """
    if not can_attend(person, s):
        raise PartySchoolError(_("该活动面向其他党组织，不能签到。"))
    a = attendance_of(person, s)
    if a is not None and a.checked_in_at is not None:
        entry = db.session.get(CreditEntry, a.credit_entry_id) if a.credit_entry_id else None
        return CheckinResult(a, False, entry)
    opens, closes = checkin_window(s)
    now = utcnow()
    if now < opens:
        raise PartySchoolError(_("签到尚未开始，请在 %(t)s 之后签到。", t=_local(opens)))
    if now > closes:
        raise PartySchoolError(_("签到已结束，签到码已失效。"))
    if by is None and s.signup_required and (a is None or a.signed_up_at is None):
        raise PartySchoolError(_("本次活动需要报名，您尚未报名，请联系组织者。"))
    if by is not None:
        if not can_manage_session(by, s):
            raise PartySchoolError(_("只有活动的组织方可以代为签到。"))
        ok, method = True, "manual"
    elif token is not None:
        ok, method = hmac.compare_digest(str(token), s.checkin_token), "qr"
    else:
        ok, method = hmac.compare_digest(re.sub(r"\s", "", str(code or "")), s.checkin_code), "code"
    if not ok:
        raise PartySchoolError(_("签到码不正确，请核对现场公布的签到码。"))
    if a is None:
        a = Attendance(session_id=s.id, user_id=person.id)
        db.session.add(a)
        db.session.flush()
    a.checked_in_at, a.method = now, method
    evidence = {"session_id": s.id, "attendance_id": a.id, "organizer_id": s.organizer_id,
                "organizer": s.organizer.name if s.organizer else "", "method": method,
                "recorded_by_id": getattr(by, "id", None),
                "url": path_for("party_school.session", session_id=s.id), "label": "签到记录"}  # a msgid: shown with _()
    if s.kind == "training":
        entry = credits.award(person, source_type="training", source_id=f"session:{s.id}", hours=s.hours,
                              evidence=evidence, earned_at=now, title=s.title)
    else:
        entry = credits.record_in_person(person, source_type="branch_life", source_id=f"session:{s.id}",
                                         session=s.duration_kind, hours_attended=float(s.hours or 0),
                                         title=f"{s.subtype_label}：{s.title}", earned_at=now, evidence=evidence)
    a.credit_entry_id = entry.id if entry is not None else None
    events.record(events.LearningEvent(
        user=person, verb="attended", object_id=events.activity_iri("session", s.id),
        object_type="http://adlnet.gov/expapi/activities/meeting", object_name={"zh-CN": s.title}))
    audit.log("party_school.checkin", s, actor=by or person,
              details={"method": method, "person": person.id, "hours": str(entry.hours) if entry else "0"})
    db.session.flush()
    return CheckinResult(a, True, entry)


def failed_checkins(person, s: Session) -> int:
    from lms.audit.models import AuditLog

    return db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "party_school.checkin", AuditLog.outcome == "failure",
        AuditLog.actor_id == person.id, AuditLog.target_type == "party_school_session",
        AuditLog.target_id == str(s.id))) or 0


def qr_svg(data: str) -> Markup:
    """A QR code as inline SVG (no external image, no script; fits the CSP)."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    svg = img.to_string(encoding="unicode")
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    return Markup(svg)  # noqa: S704  (generated by qrcode from our own URL, no user markup)


# --- certificates -----------------------------------------------------------------------------------------
def ledger_hash(entries: list[CreditEntry]) -> str:
    """SHA-256 over the canonical JSON of the ledger rows behind a statement (sorted by id)."""
    rows = [{
        "id": e.id, "user_id": e.user_id, "year": e.year, "source_type": e.source_type, "source_id": e.source_id,
        "course_id": e.course_id, "hours": f"{Decimal(e.hours):.2f}", "earned_at": e.earned_at.isoformat(),
    } for e in sorted(entries, key=lambda e: e.id)]
    blob = json.dumps(rows, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def issuer_for(person) -> str:
    configured = (current_app.config.get("PARTY_SCHOOL_ISSUER") or "").strip()
    if configured:
        return configured
    if person.org_unit is None:
        return current_app.config.get("SITE_NAME", "")
    chain = person.org_unit.ancestors()
    return (chain[0] if chain else person.org_unit).name


def _year_entries(person, year: int) -> list[CreditEntry]:
    return list(db.session.scalars(select(CreditEntry).where(CreditEntry.user_id == person.id,
                                                             CreditEntry.year == year).order_by(CreditEntry.id)))


def _course_entries(person, course: Course) -> list[CreditEntry]:
    return list(db.session.scalars(select(CreditEntry).where(CreditEntry.user_id == person.id,
                                                             CreditEntry.course_id == course.id)
                                   .order_by(CreditEntry.id)))


def _issue(person, kind: str, *, year=None, course=None, figures: dict, entries: list[CreditEntry]) -> Certificate:
    digest = ledger_hash(entries)
    q = select(Certificate).where(Certificate.user_id == person.id, Certificate.kind == kind,
                                  Certificate.ledger_hash == digest)
    q = q.where(Certificate.year == year) if year is not None else q.where(Certificate.course_id == course.id)
    cert = db.session.scalar(q.order_by(Certificate.id.desc()).limit(1))
    if cert is not None and cert.figures == figures:
        return cert
    cert = Certificate(token=secrets.token_urlsafe(24), kind=kind, user_id=person.id, year=year,
                       course_id=course.id if course is not None else None, issuer=issuer_for(person)[:200],
                       figures=figures, entry_ids=[e.id for e in entries], ledger_hash=digest)
    db.session.add(cert)
    db.session.flush()
    audit.log("party_school.certificate_issue", cert, actor=person,
              details={"kind": kind, "year": year, "course": course.id if course is not None else None,
                       "hash": digest})
    return cert


def issue_annual(person, year: int) -> Certificate:
    s = credits.summary(person, year)
    figures = {
        "year": year, "total": str(s.total), "requirement": str(s.requirement.hours),
        "category": s.requirement.category_label, "met": s.met,
        "by_source": [{"label": g["label"], "hours": str(credits._q(g["hours"])), "count": g["count"]}
                      for g in s.by_source],
        "by_course": [{"title": c["title"] or "课程以外的学习", "hours": str(credits._q(c["hours"]))}
                      for c in s.by_course],
    }
    return _issue(person, "annual", year=year, figures=figures, entries=_year_entries(person, year))


def issue_course(person, course: Course) -> Certificate:
    enr = course_services.get_enrollment(person, course)
    if enr is None or enr.completed_at is None:
        raise PartySchoolError(_("完成课程后才能下载结业证书。"))
    entries = _course_entries(person, course)
    hours = credits._q(sum((Decimal(e.hours) for e in entries), Decimal(0)))
    figures = {"course": course.title, "hours": str(hours), "completed_on": _local(enr.completed_at)[:10]}
    return _issue(person, "course", course=course, figures=figures, entries=entries)


def verify(cert: Certificate) -> bool:
    """True when the ledger rows behind the certificate are still exactly as when it was issued."""
    rows = list(db.session.scalars(select(CreditEntry).where(CreditEntry.id.in_(cert.entry_ids or [-1]))))
    return len(rows) == len(cert.entry_ids or []) and ledger_hash(rows) == cert.ledger_hash


def verify_url(cert: Certificate) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    return base + path_for("party_school.verify", token=cert.token)


# --- the 我的学时 slot ----------------------------------------------------------------------------------------
def credits_slot(person, year: int, summary, own: bool) -> Markup | None:
    if not own:
        return None
    tasks, _elective = my_tasks(person)
    year_tasks = [t for t in tasks if t.assignment.due_on.year == year]
    return Markup(render_template(  # noqa: S704  (autoescaped template output)
        "party_school/_credits_slot.html", year=year, tasks=year_tasks, s=summary,
        done=sum(1 for t in year_tasks if t.status == "done")))
