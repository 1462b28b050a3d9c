"""Views of the courses area: catalog, course and lesson pages, 我的学习, and the teaching pages."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from lms import audit
from lms.accounts.models import RoleAssignment, User
from lms.authz import MANAGE, VIEW, can, require
from lms.courses import lesson_types, services
from lms.courses.forms import ChapterForm, ConfirmForm, CourseForm, LessonCreateForm, LessonEditForm
from lms.courses.models import CATEGORIES, Chapter, Course, Lesson
from lms.extensions import db
from lms.org.models import OrgUnit, OrgUnitClosure
from lms.plugins import hook

bp = Blueprint("courses", __name__, static_folder="static", static_url_path="/courses/static")

COVER_MAX_BYTES = 5 * 1024 * 1024


def _slot(name: str, **kwargs) -> Markup:
    """Join what plugins return for a template slot."""
    parts = [p for p in getattr(hook(), name)(**kwargs) if p]
    return Markup("\n").join(parts)  # plain strings are escaped; plugins return Markup for HTML


def _course_or_404(course_id: int) -> Course:
    return db.session.get(Course, course_id) or abort(404)


# --- learning ----------------------------------------------------------------------------------------
@bp.route("/courses")
@login_required
def catalog():
    q = request.args.get("q", "")[:100]
    category = request.args.get("category", "")
    page = request.args.get("page", 1, type=int) or 1
    per_page = current_app.config.get("COURSES_PER_PAGE", 12)
    pagination = db.paginate(services.catalog_query(q, category), page=max(1, page), per_page=per_page,
                             error_out=False)
    courses = list(pagination.items)
    counts = services.lesson_counts([c.id for c in courses])
    return render_template("courses/catalog.html", pagination=pagination, courses=courses, counts=counts,
                           q=q, category=category if category in CATEGORIES else "", categories=CATEGORIES)


@bp.route("/courses/<int:course_id>")
@login_required
def detail(course_id: int):
    course = _course_or_404(course_id)
    require(VIEW, course)
    manager = can(current_user, MANAGE, course)
    enrollment = services.get_enrollment(current_user, course)
    progress = services.progress_map(current_user, course)
    types = lesson_types.registry()
    return render_template(
        "courses/detail.html", course=course, manager=manager, enrollment=enrollment, progress=progress,
        sections=services.outline(course, include_drafts=manager), types=types,
        counted={ls.id for ls in services.counted_lessons(course)},
        next_lesson=services.next_to_study(current_user, course) if enrollment else None,
        sidebar=_slot("lms_tpl_course_sidebar", course=course, user=current_user),
        confirm=ConfirmForm(),
    )


@bp.route("/courses/<int:course_id>/enroll", methods=["POST"])
@login_required
def enroll(course_id: int):
    course = _course_or_404(course_id)
    require(VIEW, course)
    if not ConfirmForm().validate():
        abort(400)
    if not course.is_published or not course.open_enrolment:
        flash(_("本课程不开放自主选课，请联系所在党组织安排。"), "warning")
        return redirect(url_for(".detail", course_id=course.id))
    services.enroll(current_user, course, source="self")
    db.session.commit()
    flash(_("选课成功，开始学习吧。"), "success")
    first = services.next_to_study(current_user, course)
    if first is not None:
        return redirect(url_for(".lesson", course_id=course.id, lesson_id=first.id))
    return redirect(url_for(".detail", course_id=course.id))


@bp.route("/courses/<int:course_id>/cover")
@login_required
def cover(course_id: int):
    course = _course_or_404(course_id)
    require(VIEW, course)
    found = services.cover_file(course)
    if found is None:
        abort(404)
    path, mimetype = found
    resp = send_file(path, mimetype=mimetype, max_age=3600, conditional=True)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.route("/courses/<int:course_id>/lessons/<int:lesson_id>")
@login_required
def lesson(course_id: int, lesson_id: int):
    lesson = db.session.get(Lesson, lesson_id)
    if lesson is None or lesson.course_id != course_id:
        abort(404)
    require(VIEW, lesson)
    course = lesson.course
    manager = can(current_user, MANAGE, course)
    enrollment = services.get_enrollment(current_user, course)
    if enrollment is None and not manager:
        if not course.open_enrolment:
            flash(_("本课程不开放自主选课，请联系所在党组织安排。"), "warning")
            return redirect(url_for(".detail", course_id=course.id))
        enrollment = services.enroll(current_user, course, source="self")
        db.session.commit()
    lt = lesson_types.get(lesson.type)
    progress = services.get_progress(current_user, lesson)
    body = lt.render(lesson, current_user, progress) if lt is not None else None
    prev_lesson, next_lesson = services.neighbours(lesson, include_drafts=manager)
    return render_template(
        "courses/lesson.html", course=course, lesson=lesson, lt=lt, body=body, progress=progress,
        manager=manager, enrollment=enrollment, prev_lesson=prev_lesson, next_lesson=next_lesson,
        plugin_title=_plugin_title(lesson.type),
        after=_slot("lms_tpl_lesson_after", lesson=lesson, user=current_user),
    )


def _plugin_title(type_key: str) -> str:
    """The title of the installed (maybe disabled) plugin that provides a lesson type, for the notice."""
    registry = current_app.extensions["lms_plugins"]
    cls = registry.installed.get(type_key)
    return (cls.title if cls else "") or type_key


@bp.route("/my-learning")
@login_required
def my():
    enrollments = services.my_enrollments(current_user)
    required = [e for e in enrollments if e.completed_at is None and e.source in ("assigned", "admin")]
    elective = [e for e in enrollments if e.completed_at is None and e.source not in ("assigned", "admin")]
    completed = [e for e in enrollments if e.completed_at is not None]
    return render_template("courses/my.html", required=required, elective=elective, completed=completed)


# --- teaching ----------------------------------------------------------------------------------------
def _require_teach() -> None:
    if not can(current_user, VIEW, "teach"):
        abort(403)


def _manageable_units(user) -> list[OrgUnit]:
    if user.is_sysadmin:
        stmt = select(OrgUnit)
    else:
        roots = user.role_units("org_admin")
        ids = set(roots)
        if user.org_unit_id:
            ids.add(user.org_unit_id)
        sub = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id.in_(roots or [-1]))
        stmt = select(OrgUnit).where(OrgUnit.id.in_(sub) | OrgUnit.id.in_(ids))
    return list(db.session.scalars(stmt.order_by(OrgUnit.parent_id.is_not(None), OrgUnit.sort_order, OrgUnit.id)))


def _teacher_choices(course: Course | None) -> list[tuple[int, str]]:
    teachers = list(db.session.scalars(
        select(User).join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role == "teacher", User.is_active_account.is_(True)).order_by(User.name)
    ).unique())
    if course is not None:
        teachers += [t for t in course.teachers if t not in teachers]
    return [SelectChoice(t.id, f"{t.name}（{t.login_id}）") for t in teachers]


def _prepare_course_form(form: CourseForm, course: Course | None) -> None:
    units = _manageable_units(current_user)
    if course is not None and course.owner_unit is not None and course.owner_unit not in units:
        units.append(course.owner_unit)
    form.owner_unit_id.choices = [SelectChoice(0, _("（不指定）"))] + [SelectChoice(u.id, u.name) for u in units]
    form.teachers.choices = _teacher_choices(course)


def _validate_course_form(form: CourseForm, course: Course | None) -> bool:
    ok = form.validate()
    unit_id = form.owner_unit_id.data or None
    if not current_user.is_sysadmin and current_user.role_units("org_admin") and not current_user.has_role("teacher"):
        if unit_id is None:
            form.owner_unit_id.errors.append(_("请选择课程所属的组织。"))
            ok = False
    if unit_id is not None and unit_id not in {c.value for c in form.owner_unit_id.choices}:
        form.owner_unit_id.errors.append(_("不能把课程归到您管理范围以外的组织。"))
        ok = False
    return ok


def _apply_course_form(form: CourseForm, course: Course) -> None:
    course.title = form.title.data.strip()
    course.summary = (form.summary.data or "").strip()
    course.category = form.category.data
    course.audience = (form.audience.data or "").strip()
    course.credit_hours = form.credit_hours.data
    course.open_enrolment = bool(form.open_enrolment.data)
    course.owner_unit_id = form.owner_unit_id.data or None
    chosen = set(form.teachers.data or [])
    course.teachers = list(db.session.scalars(select(User).where(User.id.in_(chosen)))) if chosen else []


def _store_cover(form: CourseForm, course: Course) -> bool:
    upload = form.cover.data
    old = course.cover_path
    if form.remove_cover.data:
        course.cover_path = None
    if upload and getattr(upload, "filename", ""):
        try:
            course.cover_path = services.save_cover(upload.stream, COVER_MAX_BYTES, uploader=current_user)
        except services.CourseError as exc:
            form.cover.errors = list(form.cover.errors) + [str(exc)]
            if exc.verdict is not None:  # refused by the malware scan: only the refusal's rows are kept
                from lms.quarantine.services import keep_refusal

                keep_refusal(exc.verdict)
                return False
            course.cover_path = old
            return False
    if old and old != course.cover_path:
        services.remove_media(old)
    return True


@bp.route("/teach")
@login_required
def manage():
    _require_teach()
    page = request.args.get("page", 1, type=int) or 1
    pagination = db.paginate(services.managed_courses_query(current_user), page=max(page, 1), per_page=20,
                             error_out=False)
    return render_template("courses/manage.html", pagination=pagination,
                           counts=services.lesson_counts([c.id for c in pagination.items]))


@bp.route("/teach/courses/new", methods=["GET", "POST"])
@login_required
def create():
    _require_teach()
    form = CourseForm()
    _prepare_course_form(form, None)
    if request.method == "GET":
        form.owner_unit_id.data = current_user.org_unit_id or 0
        if current_user.has_role("teacher"):
            form.teachers.data = [current_user.id]
    if request.method == "POST" and _validate_course_form(form, None):
        course = Course(title="", created_by_id=current_user.id, status="draft", settings={})
        _apply_course_form(form, course)
        if current_user.has_role("teacher") and current_user not in course.teachers:
            course.teachers.append(current_user)
        if _store_cover(form, course):
            db.session.add(course)
            db.session.flush()
            audit.log("course.create", course, details={"title": course.title})
            db.session.commit()
            flash(_("课程已创建（草稿）。接下来添加章节和课时。"), "success")
            return redirect(url_for(".outline_page", course_id=course.id))
    return render_template("courses/course_form.html", form=form, course=None), 400 if request.method == "POST" else 200


@bp.route("/teach/courses/<int:course_id>/edit", methods=["GET", "POST"])
@login_required
def edit(course_id: int):
    course = _course_or_404(course_id)
    require(MANAGE, course)
    form = CourseForm(obj=course if request.method == "GET" else None)
    _prepare_course_form(form, course)
    if request.method == "GET":
        form.owner_unit_id.data = course.owner_unit_id or 0
        form.teachers.data = [t.id for t in course.teachers]
    if request.method == "POST" and _validate_course_form(form, course):
        _apply_course_form(form, course)
        if not can(current_user, MANAGE, course):
            db.session.rollback()
            course = _course_or_404(course_id)
            form.teachers.errors.append(_("保存后您将无法再管理此课程，请保留自己为授课教师或选择您管理的组织。"))
        elif _store_cover(form, course):
            audit.log("course.update", course, details={"title": course.title})
            db.session.commit()
            flash(_("课程信息已保存。"), "success")
            return redirect(url_for(".outline_page", course_id=course.id))
    return render_template("courses/course_form.html", form=form, course=course), 400 if request.method == "POST" else 200


@bp.route("/teach/courses/<int:course_id>")
@login_required
def outline_page(course_id: int):
    course = _course_or_404(course_id)
    require(MANAGE, course)
    lesson_form = LessonCreateForm(formdata=None)
    _prepare_lesson_create(lesson_form, course)
    return render_template("courses/outline.html", course=course, sections=services.outline(course, True),
                           chapter_form=ChapterForm(formdata=None), lesson_form=lesson_form,
                           confirm=ConfirmForm(), types=lesson_types.registry())


def _prepare_lesson_create(form: LessonCreateForm, course: Course) -> None:
    form.type.choices = [SelectChoice(k, _(str(t.label or k))) for k, t in sorted(lesson_types.registry().items())]
    form.chapter_id.choices = [SelectChoice(0, _("（不分章节）"))] + [SelectChoice(c.id, c.title) for c in course.chapters]
    if form.chapter_id.data is None and course.chapters:
        form.chapter_id.data = course.chapters[-1].id


def _outline_with_errors(course, chapter_form=None, lesson_form=None):
    if lesson_form is None:
        lesson_form = LessonCreateForm(formdata=None)
        _prepare_lesson_create(lesson_form, course)
    return render_template("courses/outline.html", course=course, sections=services.outline(course, True),
                           chapter_form=chapter_form or ChapterForm(formdata=None), lesson_form=lesson_form,
                           confirm=ConfirmForm(), types=lesson_types.registry()), 400


@bp.route("/teach/courses/<int:course_id>/publish", methods=["POST"])
@login_required
def publish(course_id: int):
    course = _course_or_404(course_id)
    require(MANAGE, course)
    if not ConfirmForm().validate():
        abort(400)
    try:
        services.publish(course, current_user)
    except services.CourseError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".outline_page", course_id=course.id))
    db.session.commit()
    flash(_("课程已发布，学员可以在课程中心看到它。"), "success")
    return redirect(url_for(".outline_page", course_id=course.id))


@bp.route("/teach/courses/<int:course_id>/unpublish", methods=["POST"])
@login_required
def unpublish(course_id: int):
    course = _course_or_404(course_id)
    require(MANAGE, course)
    if not ConfirmForm().validate():
        abort(400)
    services.unpublish(course, current_user)
    db.session.commit()
    flash(_("课程已撤回为草稿，学员暂时看不到它。"), "success")
    return redirect(url_for(".outline_page", course_id=course.id))


@bp.route("/teach/courses/<int:course_id>/chapters", methods=["POST"])
@login_required
def add_chapter(course_id: int):
    course = _course_or_404(course_id)
    require(MANAGE, course)
    form = ChapterForm()
    if not form.validate():
        return _outline_with_errors(course, chapter_form=form)
    ch = services.add_chapter(course, form.title.data)
    audit.log("chapter.create", ch, details={"course": course.id, "title": ch.title})
    db.session.commit()
    flash(_("已添加章节“%(t)s”。", t=ch.title), "success")
    return redirect(url_for(".outline_page", course_id=course.id))


def _chapter_or_403(chapter_id: int) -> Chapter:
    ch = db.session.get(Chapter, chapter_id) or abort(404)
    require(MANAGE, ch.course)
    return ch


@bp.route("/teach/chapters/<int:chapter_id>/rename", methods=["POST"])
@login_required
def rename_chapter(chapter_id: int):
    ch = _chapter_or_403(chapter_id)
    form = ChapterForm()
    if not form.validate():
        return _outline_with_errors(ch.course, chapter_form=form)
    ch.title = form.title.data.strip()
    audit.log("chapter.update", ch, details={"title": ch.title})
    db.session.commit()
    flash(_("章节已重命名。"), "success")
    return redirect(url_for(".outline_page", course_id=ch.course_id))


@bp.route("/teach/chapters/<int:chapter_id>/move", methods=["POST"])
@login_required
def move_chapter(chapter_id: int):
    ch = _chapter_or_403(chapter_id)
    if not ConfirmForm().validate():
        abort(400)
    services.move_chapter(ch, 1 if request.form.get("direction") == "down" else -1)
    db.session.commit()
    return redirect(url_for(".outline_page", course_id=ch.course_id))


@bp.route("/teach/chapters/<int:chapter_id>/delete", methods=["POST"])
@login_required
def delete_chapter(chapter_id: int):
    ch = _chapter_or_403(chapter_id)
    if not ConfirmForm().validate():
        abort(400)
    course_id = ch.course_id
    audit.log("chapter.delete", ch, details={"course": course_id, "title": ch.title})
    services.delete_chapter(ch)
    db.session.commit()
    flash(_("章节已删除，其中的课时已移到“未分章节”。"), "success")
    return redirect(url_for(".outline_page", course_id=course_id))


@bp.route("/teach/courses/<int:course_id>/lessons", methods=["POST"])
@login_required
def add_lesson(course_id: int):
    course = _course_or_404(course_id)
    require(MANAGE, course)
    form = LessonCreateForm()
    _prepare_lesson_create(form, course)
    if not form.validate():
        return _outline_with_errors(course, lesson_form=form)
    chapter = next((c for c in course.chapters if c.id == form.chapter_id.data), None)
    try:
        lesson = services.add_lesson(course, title=form.title.data, type_key=form.type.data, chapter=chapter,
                                     required=bool(form.required.data))
    except services.CourseError as exc:
        db.session.rollback()
        form.type.errors.append(str(exc))
        return _outline_with_errors(course, lesson_form=form)
    services.refresh_all_enrollments(course)
    audit.log("lesson.create", lesson, details={"course": course.id, "type": lesson.type, "title": lesson.title})
    db.session.commit()
    flash(_("已添加课时“%(t)s”。", t=lesson.title), "success")
    editor = lesson_types.get(lesson.type).editor_url(lesson)
    return redirect(editor or url_for(".outline_page", course_id=course.id))


def _lesson_or_403(lesson_id: int) -> Lesson:
    lesson = db.session.get(Lesson, lesson_id) or abort(404)
    require(MANAGE, lesson.course)
    return lesson


@bp.route("/teach/lessons/<int:lesson_id>/edit", methods=["GET", "POST"])
@login_required
def edit_lesson(lesson_id: int):
    lesson = _lesson_or_403(lesson_id)
    course = lesson.course
    form = LessonEditForm()
    form.chapter_id.choices = [SelectChoice(0, _("（不分章节）"))] + [SelectChoice(c.id, c.title) for c in course.chapters]
    if request.method == "GET":
        form.title.data = lesson.title
        form.chapter_id.data = lesson.chapter_id or 0
        form.position.data = lesson.position
        form.required.data = lesson.required
        form.published.data = lesson.status == "published"
    elif form.validate():
        lesson.title = form.title.data.strip()
        lesson.required = bool(form.required.data)
        lesson.status = "published" if form.published.data else "draft"
        services.place_lesson(lesson, form.chapter_id.data or None, form.position.data)
        services.refresh_all_enrollments(course)
        audit.log("lesson.update", lesson, details={"title": lesson.title, "status": lesson.status,
                                                    "required": lesson.required})
        db.session.commit()
        flash(_("课时已保存。"), "success")
        return redirect(url_for(".outline_page", course_id=course.id))
    lt = lesson_types.get(lesson.type)
    return render_template("courses/lesson_form.html", form=form, lesson=lesson, course=course, lt=lt,
                           editor_url=lt.editor_url(lesson) if lt else None), 400 if request.method == "POST" else 200


@bp.route("/teach/lessons/<int:lesson_id>/move", methods=["POST"])
@login_required
def move_lesson(lesson_id: int):
    lesson = _lesson_or_403(lesson_id)
    if not ConfirmForm().validate():
        abort(400)
    services.move_lesson(lesson, 1 if request.form.get("direction") == "down" else -1)
    db.session.commit()
    return redirect(url_for(".outline_page", course_id=lesson.course_id))


@bp.route("/teach/lessons/<int:lesson_id>/delete", methods=["GET", "POST"])
@login_required
def delete_lesson(lesson_id: int):
    lesson = _lesson_or_403(lesson_id)
    form = ConfirmForm()
    course = lesson.course
    if request.method == "POST" and form.validate():
        audit.log("lesson.delete", lesson, details={"course": course.id, "title": lesson.title, "type": lesson.type})
        lt = lesson_types.get(lesson.type)
        if lt is not None:
            lt.on_delete(lesson)
        course.lessons.remove(lesson)
        db.session.delete(lesson)
        db.session.flush()
        services.refresh_all_enrollments(course)
        if course.is_published and not any(ls.status == "published" for ls in course.lessons):
            services.unpublish(course, current_user)
            flash(_("课程已没有已发布的课时，已自动撤回为草稿。"), "warning")
        db.session.commit()
        flash(_("课时已删除。"), "success")
        return redirect(url_for(".outline_page", course_id=course.id))
    return render_template("courses/lesson_delete.html", lesson=lesson, course=course, form=form)
