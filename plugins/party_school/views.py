"""Views of 党员e家: my tasks, materials, sessions and check-in, statements, the public verification page,
and the managers' pages for assignments, pushes and sessions."""
from __future__ import annotations

import logging
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from wtforms.fields.choices import SelectChoice

from lms import audit, reading
from lms.accounts.models import MEMBER_CATEGORIES
from lms.authz import MANAGE_MEMBERS, VIEW, can
from lms.courses.models import Course
from lms.credits import services as credits
from lms.extensions import db
from lms.org.models import OrgUnit
from lms.org.services import paths_for
from lms.quarantine import services as quarantine
from plugins.party_school import pdf, services
from plugins.party_school.forms import (
    AssignmentForm,
    CheckinForm,
    ConfirmForm,
    MailForm,
    ManualCheckinForm,
    MaterialForm,
    SessionForm,
)
from plugins.party_school.models import (
    Assignment,
    Attendance,
    Certificate,
    Material,
    MaterialReceipt,
    Session,
)

log = logging.getLogger(__name__)
bp = Blueprint("party_school", __name__, url_prefix="/party-school", template_folder="templates")


def _require_manager() -> None:
    if not services.is_manager(current_user):
        abort(403)


def _unit_or_403(unit_id) -> OrgUnit:
    """A unit the current user may target; another (or a tampered id) is refused outright."""
    unit = db.session.get(OrgUnit, unit_id) if unit_id else None
    if unit is None or not can(current_user, MANAGE_MEMBERS, unit):
        audit.log("party_school.scope_denied", unit, outcome="failure",
                  details={"endpoint": request.endpoint, "unit": unit_id})
        db.session.commit()
        abort(403)
    return unit


def _unit_choices() -> list[SelectChoice]:
    units = services.managed_units(current_user)
    paths = paths_for([u.id for u in units])
    return [SelectChoice(u.id, paths.get(u.id, u.name)) for u in units]


def _json_error(code: int, message: str):
    return jsonify({"error": message, "status": code}), code


# --- my 党员e家 ---------------------------------------------------------------------------------------------
@bp.route("/")
@login_required
def my():
    if services.resolve_assignments(current_user, reason="joined"):
        db.session.commit()
    tasks, elective = services.my_tasks(current_user)
    receipts = services.my_materials(current_user)[:5]
    upcoming = _sessions_for(current_user, upcoming=True)[:5]
    return render_template("party_school/my.html", tasks=tasks, elective=elective, receipts=receipts,
                           upcoming=upcoming, today=services.today())


def _sessions_for(person, upcoming: bool) -> list[Session]:
    from lms.org.models import OrgUnitClosure
    from lms.timeutil import utcnow

    ancestors = select(OrgUnitClosure.ancestor_id).where(OrgUnitClosure.descendant_id == person.org_unit_id)
    q = select(Session).where(Session.org_unit_id.in_(ancestors))
    if upcoming:
        q = q.where(Session.ends_at >= utcnow()).order_by(Session.starts_at)
    else:
        q = q.order_by(Session.starts_at.desc())
    return list(db.session.scalars(q.limit(100)))


@bp.route("/materials")
@login_required
def materials():
    row = db.session.get(services.MailAddress, current_user.id)
    form = MailForm(formdata=None)
    form.email.data = row.email if row else ""
    return render_template("party_school/materials.html", receipts=services.my_materials(current_user),
                           form=form, smtp=services.smtp_configured(),
                           fallback=services.mail_address(current_user) if row is None else None)


@bp.route("/mail-address", methods=["POST"])
@login_required
def mail_address():
    form = MailForm()
    if form.validate():
        try:
            services.set_mail_address(current_user, form.email.data or "")
            db.session.commit()
            flash(_("已保存接收提醒的电子邮箱。") if form.email.data else _("已取消邮件提醒。"), "success")
            return redirect(url_for(".materials"))
        except services.PartySchoolError as exc:
            db.session.rollback()
            form.email.errors = list(form.email.errors) + [str(exc)]
    return render_template("party_school/materials.html", receipts=services.my_materials(current_user), form=form,
                           smtp=services.smtp_configured(), fallback=None), 400


def _material_for_reader(material_id: int) -> tuple[Material, MaterialReceipt | None, bool]:
    m = db.session.get(Material, material_id) or abort(404)
    receipt = services.receipt_for(current_user, m)
    manager = services.can_manage_material(current_user, m)
    if receipt is None and not manager:
        abort(404)  # not pushed to this person: as if it did not exist
    return m, receipt, manager


@bp.route("/materials/<int:material_id>")
@login_required
def material(material_id: int):
    m, receipt, manager = _material_for_reader(material_id)
    if receipt is not None and receipt.opened_at is None:
        from lms.timeutil import utcnow

        receipt.opened_at = utcnow()
        db.session.commit()
    overview = None
    if manager:
        overview = services.reading_overview(m)
        audit.log("party_school.view_readers", m, details={"rows": len(overview["behind"])})
        db.session.commit()
    return render_template("party_school/material.html", m=m, receipt=receipt, manager=manager, overview=overview,
                           paths=paths_for([p.org_unit_id for p, _r in overview["behind"]]) if overview else {},
                           has_file=services.material_file(m) is not None,
                           beat_seconds=current_app.config["PARTY_SCHOOL_HEARTBEAT_SECONDS"])


@bp.route("/materials/<int:material_id>/heartbeat", methods=["POST"])
@login_required
def heartbeat(material_id: int):
    m = db.session.get(Material, material_id)
    if m is None or services.receipt_for(current_user, m) is None:
        return _json_error(404, _("资料不存在或没有推送给您。"))
    try:
        seconds, reached_end = reading.parse_report(request.get_json(silent=True))
    except reading.ReportError as exc:
        return _json_error(400, str(exc))
    try:
        result = services.heartbeat(current_user, m, seconds=seconds, reached_end=reached_end)
        db.session.commit()
    except IntegrityError:  # a report from another tab credited the same reading first
        db.session.rollback()
        return _json_error(409, _("请稍后重试。"))
    return jsonify(result)


@bp.route("/materials/<int:material_id>/document.pdf")
@login_required
def material_document(material_id: int):
    m, _receipt, _manager = _material_for_reader(material_id)
    path = services.material_file(m)
    if path is None:
        abort(404)
    resp = send_file(path, mimetype="application/pdf", conditional=True, max_age=0)
    resp.headers["Content-Disposition"] = ("inline; filename=\"document.pdf\"; "
                                           f"filename*=UTF-8''{quote(m.file_name or 'document.pdf')}")
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    resp.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
    return resp


# --- sessions: sign-up and check-in ------------------------------------------------------------------------
@bp.route("/sessions")
@login_required
def sessions():
    mine = {a.session_id: a for a in db.session.scalars(select(Attendance).where(
        Attendance.user_id == current_user.id))}
    return render_template("party_school/sessions.html", upcoming=_sessions_for(current_user, True),
                           past=[s for s in _sessions_for(current_user, False) if s.id in mine],
                           mine=mine, confirm=ConfirmForm())


def _session_or_404(session_id: int) -> tuple[Session, bool]:
    s = db.session.get(Session, session_id) or abort(404)
    manager = services.can_manage_session(current_user, s)
    if not manager and not services.can_attend(current_user, s):
        abort(404)
    return s, manager


@bp.route("/sessions/<int:session_id>")
@login_required
def session(session_id: int, form: CheckinForm | None = None, code: int = 200):
    s, manager = _session_or_404(session_id)
    opens, closes = services.checkin_window(s)
    return render_template("party_school/session.html", s=s, manager=manager,
                           attendance=services.attendance_of(current_user, s), form=form or CheckinForm(formdata=None),
                           confirm=ConfirmForm(), opens=opens, closes=closes,
                           signed_up=services.signed_up_count(s),
                           hours=services.session_hours(s, current_user),
                           eligible=services.can_attend(current_user, s)), code


@bp.route("/sessions/<int:session_id>/signup", methods=["POST"])
@login_required
def signup(session_id: int):
    s, _manager = _session_or_404(session_id)
    if not ConfirmForm().validate():
        abort(400)
    try:
        services.sign_up(current_user, s)
        db.session.commit()
        flash(_("报名成功。"), "success")
    except (services.PartySchoolError, IntegrityError) as exc:
        db.session.rollback()
        flash(str(exc) if isinstance(exc, services.PartySchoolError) else _("请稍后重试。"), "warning")
    return redirect(url_for(".session", session_id=s.id))


def _do_checkin(s: Session, *, code=None, token=None):
    """Shared by the code form and the QR page: returns (ok, message)."""
    limit = int(current_app.config["PARTY_SCHOOL_CHECKIN_MAX_FAILURES"])
    a = services.attendance_of(current_user, s)
    if (a is None or a.checked_in_at is None) and services.failed_checkins(current_user, s) >= limit:
        return False, _("签到码输错次数过多，请联系活动组织者现场签到。")
    try:
        result = services.check_in(current_user, s, code=code, token=token)
        db.session.commit()
    except services.PartySchoolError as exc:
        db.session.rollback()
        audit.log("party_school.checkin", s, outcome="failure", details={"reason": str(exc)[:100]})
        db.session.commit()
        return False, str(exc)
    except IntegrityError:  # a double tap raced the first check-in: it is already counted
        db.session.rollback()
        return True, _("您已签到，学时只计一次。")
    if not result.new:
        return True, _("您已签到，学时只计一次。")
    hours = result.entry.hours if result.entry is not None else 0
    return True, _("签到成功，计入 %(h)s 学时。", h=credits._q(hours).normalize())


@bp.route("/sessions/<int:session_id>/checkin", methods=["POST"])
@login_required
def checkin(session_id: int):
    s, _manager = _session_or_404(session_id)
    form = CheckinForm()
    if not form.validate():
        return session(session_id, form=form, code=400)
    ok, message = _do_checkin(s, code=form.code.data)
    if not ok:
        form.code.errors = list(form.code.errors) + [message]
        return session(session_id, form=form, code=400)
    flash(message, "success")
    return redirect(url_for(".session", session_id=s.id))


@bp.route("/checkin/<token>", methods=["GET", "POST"])
@login_required
def qr_checkin(token: str):
    s = db.session.scalar(select(Session).where(Session.checkin_token == token[:64])) if token else None
    if s is None:
        flash(_("签到二维码无效，请重新扫描现场的二维码。"), "warning")
        return redirect(url_for(".sessions"))
    if not services.can_attend(current_user, s):
        abort(403)
    if request.method == "GET":
        return render_template("party_school/qr_checkin.html", s=s, token=token, confirm=ConfirmForm(),
                               attendance=services.attendance_of(current_user, s))
    if not ConfirmForm().validate():
        abort(400)
    ok, message = _do_checkin(s, token=token)
    flash(message, "success" if ok else "warning")
    return redirect(url_for(".session", session_id=s.id))


@bp.route("/sessions/<int:session_id>/screen")
@login_required
def session_screen(session_id: int, form: ManualCheckinForm | None = None, code: int = 200):
    """What the organizer shows at the session: the code and the QR code to scan, and who checked in."""
    s = db.session.get(Session, session_id) or abort(404)
    if not services.can_manage_session(current_user, s):
        abort(403)
    url = current_app.config["BASE_URL"].rstrip("/") + url_for(".qr_checkin", token=s.checkin_token)
    rows = db.session.execute(
        select(Attendance, services.User).join(services.User, services.User.id == Attendance.user_id)
        .where(Attendance.session_id == s.id).order_by(Attendance.checked_in_at.is_(None), Attendance.checked_in_at,
                                                       services.User.name)).all()
    expected = db.session.scalar(select(func.count()).select_from(services.people_query(s.org_unit_id).subquery()))
    opens, closes = services.checkin_window(s)
    return render_template("party_school/screen.html", s=s, qr=services.qr_svg(url), url=url, rows=rows,
                           expected=expected, opens=opens, closes=closes, form=form or ManualCheckinForm(formdata=None),
                           checked=sum(1 for a, _p in rows if a.checked_in_at)), code


@bp.route("/sessions/<int:session_id>/manual-checkin", methods=["POST"])
@login_required
def manual_checkin(session_id: int):
    """The organizer checks in someone present without a phone (recorded as such, audited)."""
    s = db.session.get(Session, session_id) or abort(404)
    if not services.can_manage_session(current_user, s):
        abort(403)
    form = ManualCheckinForm()
    if not form.validate():
        return session_screen(session_id, form=form, code=400)
    person = db.session.scalar(select(services.User).where(services.User.login_id == form.login_id.data.strip()))
    if person is None or not services.can_attend(person, s) or not person.is_active_account:
        form.login_id.errors = list(form.login_id.errors) + [_("本活动面向的党组织中没有这个学号/工号。")]
        return session_screen(session_id, form=form, code=400)
    try:
        result = services.check_in(person, s, by=current_user)
        db.session.commit()
    except services.PartySchoolError as exc:
        db.session.rollback()
        form.login_id.errors = list(form.login_id.errors) + [str(exc)]
        return session_screen(session_id, form=form, code=400)
    flash(_("已为 %(name)s 签到。", name=person.name) if result.new else _("%(name)s 已签到过。", name=person.name),
          "success")
    return redirect(url_for(".session_screen", session_id=s.id))


# --- statements and certificates -----------------------------------------------------------------------------
def _pdf_response(data: bytes, filename: str) -> Response:
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f"inline; filename=\"statement.pdf\"; filename*=UTF-8''{quote(filename)}"
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.route("/statement.pdf")
@login_required
def statement():
    this = credits.local_year()
    year = request.args.get("year", type=int) or this
    if not 2000 <= year <= this:
        year = this
    cert = services.issue_annual(current_user, year)
    unit_path = paths_for([current_user.org_unit_id]).get(current_user.org_unit_id, "") \
        if current_user.org_unit_id else ""
    data = pdf.annual_statement(cert, current_user, unit_path, services.verify_url(cert))
    db.session.commit()
    return _pdf_response(data, f"{year}年度学时证明.pdf")


@bp.route("/courses/<int:course_id>/certificate.pdf")
@login_required
def course_certificate(course_id: int):
    course = db.session.get(Course, course_id) or abort(404)
    if not can(current_user, VIEW, course):
        abort(404)
    try:
        cert = services.issue_course(current_user, course)
    except services.PartySchoolError as exc:
        flash(str(exc), "warning")
        return redirect(url_for("courses.detail", course_id=course.id))
    data = pdf.course_certificate(cert, current_user, services.verify_url(cert))
    db.session.commit()
    return _pdf_response(data, f"结业证书-{course.title}.pdf")


@bp.route("/verify/<token>")
def verify(token: str):
    """Opened from a certificate's QR code: public (no login), shows no personal data."""
    cert = db.session.scalar(select(Certificate).where(Certificate.token == token[:64])) if token else None
    if cert is None:
        return render_template("party_school/verify.html", cert=None), 404
    resp = Response(render_template("party_school/verify.html", cert=cert, intact=services.verify(cert)))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


# --- managers: assignments ------------------------------------------------------------------------------------
@bp.route("/admin/assignments")
@login_required
def assignments():
    _require_manager()
    q = select(Assignment).order_by(Assignment.created_at.desc(), Assignment.id.desc())
    flt = services.in_scope_filter(current_user, Assignment.org_unit_id)
    if flt is not None:
        q = q.where(flt)
    pagination = db.paginate(q, page=max(1, request.args.get("page", 1, type=int) or 1), per_page=30,
                             error_out=False)
    rows = [(a, services.assignment_stats(a)) for a in pagination.items]
    return render_template("party_school/assignments.html", rows=rows, pagination=pagination,
                           paths=paths_for([a.org_unit_id for a in pagination.items]), today=services.today())


def _course_choices() -> list[SelectChoice]:
    courses = db.session.scalars(select(Course).where(Course.status == "published").order_by(Course.title))
    return [SelectChoice(c.id, _("%(title)s（%(hours)s 学时）", title=c.title, hours=credits._q(c.credit_hours).normalize()))
            for c in courses]


@bp.route("/admin/assignments/new", methods=["GET", "POST"])
@login_required
def assignment_new():
    _require_manager()
    form = AssignmentForm()
    form.org_unit_id.choices = _unit_choices()
    form.courses.choices = _course_choices()
    if request.method == "GET":
        year = services.today().year
        from datetime import date

        form.starts_on.data = services.today()
        form.due_on.data = date(year, 12, 31)
        return render_template("party_school/assignment_form.html", form=form)
    if form.validate():
        unit = _unit_or_403(form.org_unit_id.data)
        courses = list(db.session.scalars(select(Course).where(Course.id.in_(form.courses.data or []),
                                                               Course.status == "published")))
        if len(courses) != len(set(form.courses.data or [])):
            form.courses.errors = list(form.courses.errors) + [_("只能选择已发布的课程。")]
        else:
            try:
                a = services.create_assignment(current_user, title=form.title.data, unit=unit, courses=courses,
                                               starts_on=form.starts_on.data, due_on=form.due_on.data,
                                               categories=form.categories.data, description=form.description.data)
                db.session.commit()
                flash(_("学习任务已布置，已通知 %(n)s 人。", n=services.assignment_stats(a)["people"]), "success")
                return redirect(url_for(".assignment", assignment_id=a.id))
            except services.PartySchoolError as exc:
                db.session.rollback()
                form.title.errors = list(form.title.errors) + [str(exc)]
    return render_template("party_school/assignment_form.html", form=form), 400


def _assignment_or_403(assignment_id: int) -> Assignment:
    a = db.session.get(Assignment, assignment_id) or abort(404)
    if not can(current_user, MANAGE_MEMBERS, a.org_unit):
        abort(403)
    return a


@bp.route("/admin/assignments/<int:assignment_id>")
@login_required
def assignment(assignment_id: int):
    a = _assignment_or_403(assignment_id)
    return render_template("party_school/assignment.html", a=a, stats=services.assignment_stats(a),
                           path=paths_for([a.org_unit_id]).get(a.org_unit_id, a.org_unit.name),
                           confirm=ConfirmForm(), today=services.today(), category_labels=MEMBER_CATEGORIES)


@bp.route("/admin/assignments/<int:assignment_id>/withdraw", methods=["POST"])
@login_required
def assignment_withdraw(assignment_id: int):
    a = _assignment_or_403(assignment_id)
    if not ConfirmForm().validate():
        abort(400)
    services.withdraw_assignment(current_user, a)
    db.session.commit()
    flash(_("已撤回该学习任务；已完成的学习和学时不受影响。"), "success")
    return redirect(url_for(".assignments"))


# --- managers: materials ----------------------------------------------------------------------------------------
@bp.route("/admin/materials")
@login_required
def materials_admin():
    _require_manager()
    q = select(Material).order_by(Material.id.desc())
    flt = services.in_scope_filter(current_user, Material.org_unit_id)
    if flt is not None:
        q = q.where(flt)
    pagination = db.paginate(q, page=max(1, request.args.get("page", 1, type=int) or 1), per_page=30,
                             error_out=False)
    ids = [m.id for m in pagination.items]
    stats = {mid: (n, done) for mid, n, done in db.session.execute(
        select(MaterialReceipt.material_id, func.count(MaterialReceipt.id), func.count(MaterialReceipt.completed_at))
        .where(MaterialReceipt.material_id.in_(ids or [-1])).group_by(MaterialReceipt.material_id))}
    return render_template("party_school/materials_admin.html", pagination=pagination, stats=stats,
                           paths=paths_for([m.org_unit_id for m in pagination.items]))


@bp.route("/admin/materials/new", methods=["GET", "POST"])
@login_required
def material_new():
    _require_manager()
    form = MaterialForm()
    form.org_unit_id.choices = _unit_choices()
    if request.method == "GET":
        return render_template("party_school/material_form.html", form=form, smtp=services.smtp_configured())
    if form.validate():
        unit = _unit_or_403(form.org_unit_id.data)
        upload = None
        f = form.document.data
        ok = True
        if f and getattr(f, "filename", ""):
            try:
                upload = services.read_upload(f.stream, f.filename, uploader=current_user)
            except services.PartySchoolError as exc:
                if exc.verdict is not None:  # refused by the malware scan: keep its audit and quarantine rows
                    quarantine.keep_refusal(exc.verdict)
                form.document.errors = list(form.document.errors) + [str(exc)]
                ok = False
        if ok:
            try:
                m = services.create_material(current_user, title=form.title.data, unit=unit,
                                             body=form.body.data or "", upload=upload,
                                             required_minutes=form.required_minutes.data,
                                             send_email=bool(form.send_email.data) and services.smtp_configured())
                db.session.commit()
            except services.PartySchoolError as exc:
                db.session.rollback()
                form.body.errors = list(form.body.errors) + [str(exc)]
            else:
                if m.send_email:
                    from plugins.party_school.tasks import send_material_mail

                    try:
                        send_material_mail(m.id)
                    except Exception:  # the push stands; the queue (or the next push) retries the mail
                        log.exception("could not queue the e-mail notices of material %s", m.id)
                        flash(_("站内通知已发出，但邮件暂时未能发送，系统会稍后重试。"), "warning")
                flash(_("学习资料已推送。"), "success")
                return redirect(url_for(".material", material_id=m.id))
    return render_template("party_school/material_form.html", form=form, smtp=services.smtp_configured()), 400


# --- managers: sessions ------------------------------------------------------------------------------------------
@bp.route("/admin/sessions")
@login_required
def sessions_admin():
    _require_manager()
    q = select(Session).order_by(Session.starts_at.desc())
    flt = services.in_scope_filter(current_user, Session.org_unit_id)
    if flt is not None:
        q = q.where(flt)
    pagination = db.paginate(q, page=max(1, request.args.get("page", 1, type=int) or 1), per_page=30,
                             error_out=False)
    ids = [s.id for s in pagination.items]
    counts = dict(db.session.execute(
        select(Attendance.session_id, func.count(Attendance.checked_in_at))
        .where(Attendance.session_id.in_(ids or [-1])).group_by(Attendance.session_id)).all())
    return render_template("party_school/sessions_admin.html", pagination=pagination, counts=counts,
                           paths=paths_for([s.org_unit_id for s in pagination.items]))


@bp.route("/admin/sessions/new", methods=["GET", "POST"])
@login_required
def session_new():
    _require_manager()
    kind = request.args.get("kind", "training")
    if kind not in ("training", "branch_life"):
        abort(404)
    form = SessionForm()
    form.setup(kind)
    choices = _unit_choices()
    if kind == "branch_life":
        branches = {u.id for u in services.managed_units(current_user) if u.is_branch}
        choices = [c for c in choices if c.value in branches]
    form.org_unit_id.choices = choices
    if request.method == "GET":
        if kind == "branch_life":
            form.subtype.data = "theme_day"
            form.duration_kind.data = "half_day"
        return render_template("party_school/session_form.html", form=form, kind=kind)
    if form.validate():
        unit = _unit_or_403(form.org_unit_id.data)
        try:
            s = services.create_session(
                current_user, kind=kind, subtype=form.subtype.data, title=form.title.data, unit=unit,
                starts_at=services.local_to_utc(form.starts_at.data), ends_at=services.local_to_utc(form.ends_at.data),
                duration_kind=form.duration_kind.data, hours=form.hours.data or 0, location=form.location.data,
                description=form.description.data, capacity=form.capacity.data,
                signup_required=bool(form.signup_required.data))
            db.session.commit()
            flash(_("已创建，并已通知相关党员。"), "success")
            return redirect(url_for(".session_screen", session_id=s.id))
        except services.PartySchoolError as exc:
            db.session.rollback()
            form.title.errors = list(form.title.errors) + [str(exc)]
    return render_template("party_school/session_form.html", form=form, kind=kind), 400

