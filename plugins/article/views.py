"""Views of the article plugin: the editor, the reading heartbeat (JSON) and the PDF (inline, authorized)."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from lms import audit, reading
from lms.authz import MANAGE, VIEW, can, require
from lms.courses import services as course_services
from lms.courses.models import Lesson
from lms.extensions import db
from lms.quarantine import services as quarantine
from plugins.article import services
from plugins.article.forms import ArticleForm

bp = Blueprint("article", __name__, url_prefix="/article", template_folder="templates")


def _article_lesson(lesson_id: int) -> Lesson:
    lesson = db.session.get(Lesson, lesson_id)
    if lesson is None or lesson.type != "article":
        abort(404)
    return lesson


@bp.route("/lessons/<int:lesson_id>/edit", methods=["GET", "POST"])
@login_required
def edit(lesson_id: int):
    lesson = _article_lesson(lesson_id)
    require(MANAGE, lesson.course)
    content = services.ensure_content(lesson)
    form = ArticleForm()
    if request.method == "GET":
        form.source_format.data = content.source_format
        form.source.data = content.source
        if content.required_seconds is not None:
            form.required_minutes.data = round(content.required_seconds / 60, 1)
    elif form.validate():
        ok = True
        services.save_content(lesson, source_format=form.source_format.data, source=form.source.data or "",
                              required_minutes=form.required_minutes.data, user=current_user)
        if form.remove_pdf.data and content.pdf_path:
            services.remove_pdf(content, lesson)
        upload = form.pdf.data
        scan = None
        if upload and getattr(upload, "filename", ""):
            try:
                scan = services.store_pdf(content, lesson, upload.stream, upload.filename, uploader=current_user)
            except services.ArticleError as exc:
                if exc.verdict is not None:  # refused by the malware scan: nothing of this edit is saved but
                    quarantine.keep_refusal(exc.verdict)  # the refusal's audit and quarantine rows
                form.pdf.errors = list(form.pdf.errors) + [str(exc)]
                ok = False
        if ok and not content.html.strip() and not content.pdf_path:
            form.source.errors = list(form.source.errors) + [_("请填写正文或上传 PDF。")]
            ok = False
        if ok:
            audit.log("article.update", lesson, details={"course": lesson.course_id, "pdf": bool(content.pdf_path),
                                                          "length": content.text_length, "scan": scan})
            db.session.commit()
            flash(_("课时内容已保存。"), "success")
            return redirect(url_for("article.edit", lesson_id=lesson.id))
        db.session.rollback()
        content = services.ensure_content(lesson)
    return render_template(
        "article/edit.html", form=form, lesson=lesson, course=lesson.course, content=content,
        estimated=services.estimated_seconds(content), required=services.required_seconds(content),
        has_pdf=services.pdf_file(content) is not None,
    ), 400 if request.method == "POST" else 200


def _json_error(code: int, message: str):
    return jsonify({"error": message, "status": code}), code


@bp.route("/lessons/<int:lesson_id>/heartbeat", methods=["POST"])
@login_required
def heartbeat(lesson_id: int):
    lesson = db.session.get(Lesson, lesson_id)
    if lesson is None or lesson.type != "article":
        return _json_error(404, _("课时不存在。"))
    if not can(current_user, VIEW, lesson):
        return _json_error(403, _("您没有权限学习此课时。"))
    course = lesson.course
    if (course_services.get_enrollment(current_user, course) is None and not course.open_enrolment
            and not can(current_user, MANAGE, course)):
        return _json_error(403, _("本课程不开放自主选课。"))
    try:
        seconds, reached_end = reading.parse_report(request.get_json(silent=True))
    except reading.ReportError as exc:
        return _json_error(400, str(exc))
    try:
        result = services.heartbeat(current_user, lesson, seconds=seconds, reached_end=reached_end)
        db.session.commit()
    except IntegrityError:  # a simultaneous report from another tab created the same rows first
        db.session.rollback()
        return _json_error(409, _("请稍后重试。"))
    return jsonify(result)


@bp.route("/lessons/<int:lesson_id>/document.pdf")
@login_required
def document(lesson_id: int):
    lesson = _article_lesson(lesson_id)
    require(VIEW, lesson)
    course = lesson.course
    if (course_services.get_enrollment(current_user, course) is None and not course.open_enrolment
            and not can(current_user, MANAGE, course)):
        abort(403)
    content = services.content_for(lesson)
    path = services.pdf_file(content)
    if path is None:
        abort(404)
    resp = send_file(path, mimetype="application/pdf", conditional=True, max_age=0)
    name = content.pdf_name or "document.pdf"
    resp.headers["Content-Disposition"] = f"inline; filename=\"document.pdf\"; filename*=UTF-8''{quote(name)}"
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    # Shown in an <iframe> of our own lesson page only.
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    resp.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
    return resp
