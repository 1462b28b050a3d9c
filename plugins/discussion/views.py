"""Views of the discussion plugin: thread lists, threads, posting, moderation, images, word list."""
from __future__ import annotations

from flask import (
    Blueprint,
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
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import BuildError

from lms.authz import VIEW, can, require
from lms.courses.models import Course, Lesson
from lms.extensions import db
from lms.quarantine import services as quarantine
from plugins.discussion import services
from plugins.discussion.forms import (
    ActionForm,
    CheckForm,
    EditForm,
    ImportForm,
    ModerateForm,
    ReplyForm,
    ReportForm,
    ThreadForm,
    WordsForm,
)
from plugins.discussion.models import (
    DiscussionImage,
    DiscussionPost,
    DiscussionRevision,
    DiscussionThread,
    DiscussionWord,
)
from plugins.discussion.permissions import can_moderate
from plugins.discussion.render import as_markup, excerpt

bp = Blueprint("discussion", __name__, url_prefix="/discussion", template_folder="templates")


@bp.app_template_filter("discussion_reason")
def reason_label(key: str) -> str:
    """A report reason (stored as its key) in the reader's language."""
    return _(services.REPORT_REASONS[key]) if key in services.REPORT_REASONS else key


@bp.app_template_global("discussion_course_url")
def course_url(course) -> str | None:
    """The course page of the courses area (None if that area is not there)."""
    return _url("courses.detail", course_id=course.id)


@bp.app_template_global("discussion_lesson_url")
def lesson_url(lesson) -> str | None:
    return _url("courses.lesson", course_id=lesson.course_id, lesson_id=lesson.id)


def _url(endpoint: str, **values) -> str | None:
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _get_or_404(model, ident):
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.is_json


def _error(err: services.DiscussionError):
    if _wants_json():
        resp = jsonify({"error": err.message, "status": err.status})
        resp.status_code = err.status
        if isinstance(err, services.RateLimited):
            resp.headers["Retry-After"] = str(err.retry_after)
        return resp
    flash(err.message, "error")
    return None


def _attach_image(form, course: Course) -> DiscussionImage | None:
    """An image chosen in the form (no-JS path) is stored and appended to the Markdown body."""
    f = form.image.data
    if not f or not getattr(f, "filename", ""):
        return None
    image = services.save_image(current_user, course, f.stream, f.filename)
    form.body.data = (form.body.data or "").rstrip() + f"\n\n![{_('图片')}]({url_for('.image', image_id=image.id)})"
    return image


def _rollback(err: services.DiscussionError) -> None:
    """Undo the refused change; an image the malware scan did not pass keeps its audit and quarantine rows."""
    if err.verdict is not None:
        quarantine.keep_refusal(err.verdict)
    else:
        db.session.rollback()


def _discard_image(image: DiscussionImage | None) -> None:
    if image is not None:
        try:
            services.image_file(image).unlink(missing_ok=True)
        except OSError:
            pass


def _field_error(form, err: services.DiscussionError) -> None:
    field = getattr(form, err.field, None) if err.field else None
    if field is not None:
        field.errors = list(field.errors) + [err.message]
    else:
        flash(err.message, "error")


# --- lists -------------------------------------------------------------------------------------------
@bp.route("/courses/<int:course_id>")
@login_required
def course_threads(course_id: int):
    course = _get_or_404(Course, course_id)
    require(VIEW, course)
    lesson = None
    lesson_id = request.args.get("lesson", type=int)
    if lesson_id:
        lesson = _get_or_404(Lesson, lesson_id)
        if lesson.course_id != course.id:
            abort(404)
        require(VIEW, lesson)
    scope = request.args.get("scope", "all")
    q = request.args.get("q", "")
    stmt = services.thread_list_query(current_user, course, lesson=lesson, course_only=scope == "course",
                                      q=q, mine=scope == "mine")
    page = max(request.args.get("page", 1, type=int), 1)
    pagination = db.paginate(stmt, page=page, per_page=current_app.config["DISCUSSION_THREADS_PER_PAGE"],
                             error_out=False)
    lessons = [ls for ls in course.lessons if can(current_user, VIEW, ls)]
    return render_template(
        "discussion/course.html", course=course, lesson=lesson, lessons=lessons, pagination=pagination,
        q=q, scope=scope, unread=services.unread_own_thread_ids(current_user, pagination.items),
        moderator=can_moderate(current_user, course),
        counts=services.moderation_counts(current_user, course.id) if can_moderate(current_user, course) else None,
    )


@bp.route("/lessons/<int:lesson_id>")
@login_required
def lesson_threads(lesson_id: int):
    lesson = _get_or_404(Lesson, lesson_id)
    require(VIEW, lesson)
    return redirect(url_for(".course_threads", course_id=lesson.course_id, lesson=lesson.id))


@bp.route("/courses/<int:course_id>/new", methods=["GET", "POST"])
@login_required
def new_thread(course_id: int):
    course = _get_or_404(Course, course_id)
    require(VIEW, course)
    lesson = None
    lesson_id = request.args.get("lesson", type=int)
    if lesson_id:
        lesson = _get_or_404(Lesson, lesson_id)
        if lesson.course_id != course.id:
            abort(404)
        require(VIEW, lesson)
    form = ThreadForm()
    status = 200
    if form.validate_on_submit():
        image = None
        try:
            image = _attach_image(form, course)
            thread = services.create_thread(current_user, lesson or course, title=form.title.data, body=form.body.data)
            db.session.commit()
        except services.DiscussionError as err:
            _rollback(err)
            _discard_image(image)
            _field_error(form, err)
            status = err.status
        else:
            if thread.status == "pending":
                flash(_("您的话题含有需要审核的内容，已提交管理员审核，通过后将公开显示。"), "warning")
            else:
                flash(_("话题已发布。"), "success")
            return redirect(url_for(".thread", thread_id=thread.id))
    elif request.method == "POST":
        status = 400
    return render_template("discussion/new_thread.html", course=course, lesson=lesson, form=form), status


# --- a thread ----------------------------------------------------------------------------------------
def _thread_context(thread: DiscussionThread, reply_form: ReplyForm):
    user = current_user
    per_page = current_app.config["DISCUSSION_POSTS_PER_PAGE"]
    page = max(request.args.get("page", 1, type=int), 1)
    pagination = db.paginate(services.replies_query(user, thread), page=page, per_page=per_page, error_out=False)
    first = services.first_post(thread)
    posts = ([first] if first is not None else []) + list(pagination.items)
    official = None
    if thread.official_post_id:
        official = db.session.get(DiscussionPost, thread.official_post_id)
        if official is not None and not can(user, VIEW, official):
            official = None
    moderator = can_moderate(user, thread.course)
    ids = [p.id for p in posts]
    return dict(
        thread=thread, course=thread.course, lesson=thread.lesson, first=first, replies=pagination.items,
        pagination=pagination, liked=services.liked_ids(user, ids), official=official,
        teacher_ids={t.id for t in thread.course.teachers}, moderator=moderator, reply_form=reply_form,
        action_form=ActionForm(), moderate_form=ModerateForm(),
        reports=services.open_reports(ids) if moderator else {},
        can_reply=can(user, "reply", thread), as_markup=as_markup, excerpt=excerpt,
        revisions=_revision_counts(ids),
    )


def _revision_counts(ids) -> dict[int, int]:
    from sqlalchemy import func

    if not ids:
        return {}
    return dict(db.session.execute(select(DiscussionRevision.post_id, func.count(DiscussionRevision.id))
                                   .where(DiscussionRevision.post_id.in_(ids))
                                   .group_by(DiscussionRevision.post_id)).all())


@bp.route("/threads/<int:thread_id>")
@login_required
def thread(thread_id: int):
    t = _get_or_404(DiscussionThread, thread_id)
    require(VIEW, t)
    form = ReplyForm()
    quote_id = request.args.get("quote", type=int)
    if quote_id:
        q = db.session.get(DiscussionPost, quote_id)
        if q is not None and q.thread_id == t.id and can(current_user, VIEW, q):
            form.quote_post_id.data = str(q.id)
    ctx = _thread_context(t, form)
    if t.author_id == current_user.id:
        services.mark_read(current_user, t)
        try:
            db.session.commit()
        except IntegrityError:  # the same person's other tab wrote the marker first
            db.session.rollback()
            return redirect(request.full_path)
    return render_template("discussion/thread.html", **ctx)


@bp.route("/threads/<int:thread_id>/reply", methods=["POST"])
@login_required
def reply(thread_id: int):
    t = _get_or_404(DiscussionThread, thread_id)
    require(VIEW, t)
    form = ReplyForm()
    status = 400
    if form.validate_on_submit():
        quote = None
        if form.quote_post_id.data and form.quote_post_id.data.isdigit():
            quote = db.session.get(DiscussionPost, int(form.quote_post_id.data))
        image = None
        try:
            image = _attach_image(form, t.course)
            post = services.create_reply(current_user, t, body=form.body.data, quote=quote)
            db.session.commit()
        except services.DiscussionError as err:
            _rollback(err)
            _discard_image(image)
            _field_error(form, err)
            status = err.status
        else:
            if post.status == "pending":
                flash(_("您的回复含有需要审核的内容，已提交管理员审核，通过后将公开显示。"), "warning")
            else:
                flash(_("回复已发布。"), "success")
            return redirect(url_for(".post", post_id=post.id))
    # Re-show the thread with the text and the errors beside the field: nothing typed is lost.
    t = db.session.get(DiscussionThread, thread_id)
    return render_template("discussion/thread.html", **_thread_context(t, form)), status


@bp.route("/posts/<int:post_id>")
@login_required
def post(post_id: int):
    p = _get_or_404(DiscussionPost, post_id)
    require(VIEW, p)
    page = services.page_of_post(current_user, p, current_app.config["DISCUSSION_POSTS_PER_PAGE"])
    args = {"thread_id": p.thread_id}
    if page > 1:
        args["page"] = page
    return redirect(url_for(".thread", **args) + f"#p{p.id}")


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit(post_id: int):
    p = _get_or_404(DiscussionPost, post_id)
    require("edit", p)
    form = EditForm()
    if request.method == "GET":
        form.body.data = p.body
        form.title.data = p.thread.title if p.is_first else None
    status = 200
    if form.validate_on_submit():
        try:
            services.edit_post(current_user, p, body=form.body.data, title=form.title.data if p.is_first else None)
            db.session.commit()
        except services.DiscussionError as err:
            db.session.rollback()
            _field_error(form, err)
            status = err.status
        else:
            if p.status == "pending":
                flash(_("修改后的内容需要审核，通过后将公开显示。"), "warning")
            else:
                flash(_("已保存修改。"), "success")
            return redirect(url_for(".post", post_id=p.id))
    elif request.method == "POST":
        status = 400
    return render_template("discussion/edit.html", post=p, thread=p.thread, course=p.thread.course, form=form), status


@bp.route("/posts/<int:post_id>/history")
@login_required
def history(post_id: int):
    p = _get_or_404(DiscussionPost, post_id)
    # Earlier versions may hold what a moderator took down: only the author and moderators see them.
    if not (can(current_user, "moderate", p) or (p.author_id == current_user.id and can(current_user, VIEW, p))):
        abort(403)
    revisions = db.session.scalars(select(DiscussionRevision).where(DiscussionRevision.post_id == p.id)
                                   .order_by(DiscussionRevision.id.desc())).all()
    return render_template("discussion/history.html", post=p, thread=p.thread, course=p.thread.course,
                           revisions=revisions, as_markup=as_markup)


@bp.route("/posts/<int:post_id>/delete", methods=["POST"])
@login_required
def delete(post_id: int):
    p = _get_or_404(DiscussionPost, post_id)
    require("delete", p)
    if not ActionForm().validate_on_submit():
        abort(400)
    thread_id, course_id, was_first = p.thread_id, p.thread.course_id, p.is_first
    services.delete_post(current_user, p)
    db.session.commit()
    flash(_("已删除。"), "success")
    if was_first and not can_moderate(current_user, p.thread.course):
        return redirect(url_for(".course_threads", course_id=course_id))
    return redirect(url_for(".thread", thread_id=thread_id))


@bp.route("/posts/<int:post_id>/like", methods=["POST"])
@login_required
def like(post_id: int):
    p = _get_or_404(DiscussionPost, post_id)
    require(VIEW, p)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        liked, count = services.toggle_like(current_user, p)
        db.session.commit()
    except services.DiscussionError as err:
        db.session.rollback()
        return _error(err) or redirect(url_for(".post", post_id=p.id))
    except IntegrityError:  # a double click raced itself: the like is there, report the state
        db.session.rollback()
        p = db.session.get(DiscussionPost, post_id)
        liked, count = post_id in services.liked_ids(current_user, [post_id]), p.like_count
    if _wants_json():
        return jsonify({"liked": liked, "count": count})
    return redirect(url_for(".post", post_id=p.id))


@bp.route("/posts/<int:post_id>/report", methods=["GET", "POST"])
@login_required
def report(post_id: int):
    p = _get_or_404(DiscussionPost, post_id)
    require("report", p)
    form = ReportForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.report_post(current_user, p, reason=form.reason.data, detail=form.detail.data)
            db.session.commit()
        except services.DiscussionError as err:
            db.session.rollback()
            _field_error(form, err)
            status = err.status
        except IntegrityError:  # the same report submitted twice at once
            db.session.rollback()
            flash(_("您已经举报过这条发言，管理员会尽快处理。"), "info")
            return redirect(url_for(".post", post_id=post_id))
        else:
            flash(_("举报已提交，感谢您的监督，管理员会尽快处理。"), "success")
            return redirect(url_for(".post", post_id=p.id))
    elif request.method == "POST":
        status = 400
    return render_template("discussion/report.html", post=p, thread=p.thread, course=p.thread.course, form=form,
                           excerpt=excerpt), status


# --- moderation --------------------------------------------------------------------------------------
_ACTIONS = {"approve", "reject", "hide", "restore", "official", "unofficial"}


@bp.route("/posts/<int:post_id>/moderate", methods=["POST"])
@login_required
def moderate(post_id: int):
    p = _get_or_404(DiscussionPost, post_id)
    require("moderate", p)
    form = ModerateForm()
    if not form.validate_on_submit() or form.action.data not in _ACTIONS:
        flash(_("操作无效，请重试。"), "error")
        return redirect(_back(p))
    action = form.action.data
    try:
        if action == "approve":
            services.approve(current_user, p)
        elif action == "reject":
            services.reject(current_user, p, form.reason.data)
        elif action == "hide":
            services.hide(current_user, p, form.reason.data)
        elif action == "restore":
            services.restore(current_user, p)
        else:
            services.set_official(current_user, p, action == "official")
        db.session.commit()
    except services.DiscussionError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(_back(p))
    flash({"approve": _("已通过。"), "reject": _("已驳回，作者会收到理由。"), "hide": _("已隐藏。"),
           "restore": _("已恢复。"), "official": _("已设为官方解答。"), "unofficial": _("已取消官方解答。")}[action],
          "success")
    return redirect(_back(p))


def _back(p: DiscussionPost) -> str:
    nxt = request.form.get("next", "")
    if nxt.startswith("/discussion/") and not nxt.startswith("//"):
        return nxt
    return url_for(".thread", thread_id=p.thread_id) + f"#p{p.id}"


@bp.route("/threads/<int:thread_id>/flag", methods=["POST"])
@login_required
def flag(thread_id: int):
    t = _get_or_404(DiscussionThread, thread_id)
    require("moderate", t)
    if not ActionForm().validate_on_submit():
        abort(400)
    name = request.form.get("flag", "")
    try:
        services.set_thread_flag(current_user, t, name, request.form.get("value") == "1")
        db.session.commit()
    except services.DiscussionError as err:
        db.session.rollback()
        flash(err.message, "error")
    return redirect(url_for(".thread", thread_id=t.id))


@bp.route("/moderation")
@login_required
def moderation():
    if not can(current_user, VIEW, "teach"):
        abort(403)
    tab = request.args.get("tab", "pending")
    if tab not in ("pending", "reports", "hidden"):
        tab = "pending"
    course_id = request.args.get("course", type=int)
    page = max(request.args.get("page", 1, type=int), 1)
    pagination = db.paginate(services.moderation_query(current_user, tab, course_id), page=page, per_page=20,
                             error_out=False)
    # The query is already scoped; the per-row check is the second lock on the door.
    items = [p for p in pagination.items if can_moderate(current_user, p.thread.course)]
    return render_template("discussion/moderation.html", tab=tab, pagination=pagination, items=items,
                           counts=services.moderation_counts(current_user), moderate_form=ModerateForm(),
                           reports=services.open_reports([p.id for p in items]), as_markup=as_markup,
                           course_arg=course_id)


# --- images ------------------------------------------------------------------------------------------
@bp.route("/courses/<int:course_id>/images", methods=["POST"])
@login_required
def upload_image(course_id: int):
    course = _get_or_404(Course, course_id)
    require(VIEW, course)
    if not ActionForm().validate_on_submit():
        return jsonify({"error": _("页面已过期，请刷新后重试。"), "status": 400}), 400
    f = request.files.get("image")
    if f is None or not f.filename:
        return jsonify({"error": _("请选择图片文件。"), "status": 400}), 400
    try:
        image = services.save_image(current_user, course, f.stream, f.filename)
        db.session.commit()
    except services.DiscussionError as err:
        _rollback(err)
        return jsonify({"error": err.message, "status": err.status}), err.status
    url = url_for(".image", image_id=image.id)
    return jsonify({"id": image.id, "url": url, "markdown": f"![{_('图片')}]({url})"}), 201


@bp.route("/images/<int:image_id>")
@login_required
def image(image_id: int):
    img = _get_or_404(DiscussionImage, image_id)
    require(VIEW, img.course)
    path = services.image_file(img)
    if not path.is_file():
        abort(404)
    resp = send_file(path, mimetype=img.mimetype, max_age=3600, conditional=True)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.headers["Content-Disposition"] = "inline"
    return resp


# --- sensitive words (system administrators) ----------------------------------------------------------
@bp.route("/admin/words", methods=["GET", "POST"])
@login_required
def words():
    require("manage", "admin:system")
    words_form, import_form, check_form = WordsForm(prefix="add"), ImportForm(prefix="imp"), CheckForm(prefix="chk")
    matches = None
    status = 200
    which = request.form.get("which")
    if request.method == "POST":
        if which == "add" and words_form.validate_on_submit():
            res = services.add_words(current_user, words_form.words.data.splitlines())
            db.session.commit()
            flash(_("新增 %(a)s 个，重复 %(d)s 个，无效 %(i)s 个。", a=res.added, d=res.duplicates, i=res.invalid),
                  "success")
            return redirect(url_for(".words"))
        if which == "import" and import_form.validate_on_submit():
            lines = _read_word_file(import_form)
            if lines is not None:
                res = services.add_words(current_user, lines, source="file")
                db.session.commit()
                flash(_("导入完成：新增 %(a)s 个，重复 %(d)s 个，无效 %(i)s 个。", a=res.added, d=res.duplicates,
                        i=res.invalid), "success")
                return redirect(url_for(".words"))
        if which == "check" and check_form.validate_on_submit():
            text = check_form.text.data
            matches = services.matcher().find(text)
        if matches is None:
            status = 400
    q = (request.args.get("q") or "").strip()[:50]
    stmt = select(DiscussionWord).order_by(DiscussionWord.id.desc())
    if q:
        from plugins.discussion.matcher import normalise_word

        stmt = stmt.where(DiscussionWord.word.contains(normalise_word(q), autoescape=True))
    page = max(request.args.get("page", 1, type=int), 1)
    pagination = db.paginate(stmt, page=page, per_page=50, error_out=False)
    total = db.session.scalar(select(db.func.count(DiscussionWord.id)))
    return render_template("discussion/words.html", words_form=words_form, import_form=import_form,
                           check_form=check_form, matches=matches, pagination=pagination, q=q, total=total,
                           action_form=ActionForm()), status


def _read_word_file(form) -> list[str] | None:
    f = form.file.data
    if not f or not getattr(f, "filename", ""):
        form.file.errors = list(form.file.errors) + [_("请选择文本文件。")]
        return None
    data = f.stream.read(2 * 1024 * 1024 + 1)
    if len(data) > 2 * 1024 * 1024:
        form.file.errors = list(form.file.errors) + [_("文件不能超过 2 MB。")]
        return None
    if b"\x00" in data:
        form.file.errors = list(form.file.errors) + [_("这不是文本文件。")]
        return None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc).splitlines()
        except UnicodeDecodeError:
            continue
    form.file.errors = list(form.file.errors) + [_("无法识别文件编码，请保存为 UTF-8 后重试。")]
    return None


@bp.route("/admin/words/<int:word_id>/delete", methods=["POST"])
@login_required
def delete_word(word_id: int):
    require("manage", "admin:system")
    if not ActionForm().validate_on_submit():
        abort(400)
    w = _get_or_404(DiscussionWord, word_id)
    services.delete_word(current_user, w)
    db.session.commit()
    flash(_("已删除。"), "success")
    return redirect(url_for(".words"))
