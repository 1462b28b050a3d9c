"""Quiz pages: banks and imports, the paper editor, taking an attempt, results, grading, practice and boards."""
from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

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
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, inspect, select
from wtforms.fields.choices import SelectChoice

from lms import audit
from lms.authz import MANAGE, VIEW, can, require
from lms.courses.models import Course, Lesson
from lms.extensions import db
from lms.timeutil import utcnow
from plugins.quiz import importers, services
from plugins.quiz.forms import (
    ActionForm,
    GradeForm,
    ImportForm,
    PaperForm,
    QuestionForm,
    RuleForm,
    ShareForm,
)
from plugins.quiz.grading import LETTERS, TYPES
from plugins.quiz.models import QuizAnswer, QuizAttempt, QuizDrawRule, QuizPaperItem, QuizQuestion, QuizRun
from plugins.quiz.services import QuizError

bp = Blueprint("quiz", __name__, url_prefix="/quiz", template_folder="templates")
_TZ = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.before_request
@login_required
def _login_first():
    return None


# --- helpers -----------------------------------------------------------------------------------------------
def _course_managed(course_id: int) -> Course:
    course = db.session.get(Course, course_id) or abort(404)
    require(MANAGE, course)
    return course


def _lesson(lesson_id: int) -> Lesson:
    lesson = db.session.get(Lesson, lesson_id)
    if lesson is None or lesson.type != "quiz":
        abort(404)
    return lesson


def _own_attempt(attempt_id: int) -> QuizAttempt:
    attempt = db.session.get(QuizAttempt, attempt_id)
    if attempt is None or attempt.user_id != current_user.id:
        abort(404)
    return attempt


def _json_error(message: str, code: int = 400, **extra):
    return jsonify({"error": message, "status": code, **extra}), code


def _to_utc(local: datetime | None) -> datetime | None:
    if local is None:
        return None
    return local.replace(tzinfo=_TZ).astimezone(UTC).replace(tzinfo=None)


def _to_local(utc: datetime | None) -> datetime | None:
    if utc is None:
        return None
    return utc.replace(tzinfo=UTC).astimezone(_TZ).replace(tzinfo=None)


def _ms(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.replace(tzinfo=UTC).timestamp() * 1000)


def _xlsx(data: bytes, filename: str) -> Response:
    from urllib.parse import quote

    resp = Response(data, mimetype=XLSX)
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- teachers: overview, bank ------------------------------------------------------------------------------
@bp.route("/teach")
def teach():
    require(VIEW, "teach")
    courses = services.managed_courses(current_user)
    ids = [c.id for c in courses]
    counts = dict(db.session.execute(
        select(services.QuizBank.course_id, func.count(QuizQuestion.id))
        .join(QuizQuestion, QuizQuestion.bank_id == services.QuizBank.id)
        .where(services.QuizBank.course_id.in_(ids or [-1]), QuizQuestion.archived.is_(False))
        .group_by(services.QuizBank.course_id)).all())
    quizzes = list(db.session.scalars(select(Lesson).where(Lesson.course_id.in_(ids or [-1]), Lesson.type == "quiz")
                                      .order_by(Lesson.course_id, Lesson.position)))
    pending = db.session.scalar(select(func.count()).select_from(services.grading_queue(ids).subquery())) or 0
    return render_template("quiz/teach.html", courses=courses, counts=counts, quizzes=quizzes, pending=pending)


@bp.route("/course/<int:course_id>/bank")
def bank(course_id: int):
    course = _course_managed(course_id)
    bank_ = services.bank_for(course)
    bank_ids = services.usable_bank_ids(course)
    args = request.args
    qtype = args.get("type") if args.get("type") in TYPES else None
    difficulty = args.get("difficulty") if args.get("difficulty") in ("1", "2", "3") else None
    tag = (args.get("tag") or "").strip()[:64] or None
    text = (args.get("q") or "").strip()[:100] or None
    scope = args.get("scope", "own")
    ids = bank_ids if scope == "all" else [bank_.id]
    query = services.question_query(ids, qtype=qtype, tag=tag, difficulty=difficulty, text=text)
    page = db.paginate(query, page=request.args.get("page", 1, type=int), per_page=30, error_out=False)
    share_form = ShareForm()
    targets = [c for c in services.managed_courses(current_user) if c.id != course.id]
    share_form.course_id.choices = [SelectChoice(c.id, c.title) for c in targets]
    db.session.commit()  # the bank row, when it was just created
    return render_template("quiz/bank.html", course=course, bank=bank_, page=page, types=TYPES,
                           tags=services.bank_tags(bank_ids), share_form=share_form, action=ActionForm(),
                           filters={"type": qtype or "", "difficulty": difficulty or "", "tag": tag or "",
                                    "q": text or "", "scope": scope}, letters=LETTERS)


def _question_data(form: QuestionForm) -> tuple[dict, list[str]]:
    return importers.build_question({
        "type": form.qtype.data, "stem": form.stem.data, "options": [f.data for f in form.option_fields()],
        "answer": form.answer.data, "explanation": form.explanation.data, "score": form.score.data,
        "difficulty": form.difficulty.data, "tags": form.tags.data,
        "partial": "是" if form.partial_credit.data else "否", "loose": "是" if form.loose_match.data else "否",
    })


def _attach_errors(form: QuestionForm, errors: list[str]) -> None:
    """Each problem beside the field it is about (grading.Problem.field), in any language."""
    beside = {"stem": form.stem, "options": form.option_a, "answer": form.answer, "score": form.score,
              "difficulty": form.difficulty}
    for e in errors:
        beside.get(getattr(e, "field", ""), form.qtype).errors.append(e)


@bp.route("/course/<int:course_id>/bank/new", methods=["GET", "POST"])
def question_new(course_id: int):
    course = _course_managed(course_id)
    form = QuestionForm()
    if form.validate_on_submit():
        data, errors = _question_data(form)
        if errors:
            _attach_errors(form, errors)
        else:
            q = services.save_question(services.bank_for(course), data, current_user)
            audit.log("quiz.question_create", q)
            db.session.commit()
            flash(_("题目已保存。"), "success")
            return redirect(url_for("quiz.bank", course_id=course.id))
    return render_template("quiz/question_form.html", course=course, form=form, question=None)


@bp.route("/question/<int:question_id>/edit", methods=["GET", "POST"])
def question_edit(question_id: int):
    q = db.session.get(QuizQuestion, question_id) or abort(404)
    course = _course_managed(q.bank.course_id)
    form = QuestionForm()
    if request.method == "GET":
        f = importers.question_fields(q)
        form.qtype.data = q.type
        form.stem.data = q.stem
        for field, text in zip(form.option_fields(), f["options"] + [""] * 8, strict=False):
            field.data = text
        form.answer.data = f["answer"]
        form.explanation.data = q.explanation
        form.score.data = services.fmt_points(q.score)
        form.difficulty.data = str(q.difficulty)
        form.tags.data = f["tags"]
        form.partial_credit.data = q.partial_credit
        form.loose_match.data = q.loose_match
    elif form.validate_on_submit():
        data, errors = _question_data(form)
        if errors:
            _attach_errors(form, errors)
        else:
            services.save_question(q.bank, data, current_user, question=q)
            audit.log("quiz.question_update", q)
            db.session.commit()
            flash(_("题目已保存。"), "success")
            return redirect(url_for("quiz.bank", course_id=course.id))
    return render_template("quiz/question_form.html", course=course, form=form, question=q)


@bp.route("/question/<int:question_id>/archive", methods=["POST"])
def question_archive(question_id: int):
    q = db.session.get(QuizQuestion, question_id) or abort(404)
    course = _course_managed(q.bank.course_id)
    if ActionForm().validate_on_submit():
        q.archived = not q.archived
        audit.log("quiz.question_archive" if q.archived else "quiz.question_restore", q)
        db.session.commit()
        flash(_("题目已移出题库。") if q.archived else _("题目已恢复。"), "success")
    return redirect(url_for("quiz.bank", course_id=course.id))


def _import_dir() -> Path:
    d = Path(current_app.instance_path) / "quiz-imports"
    d.mkdir(parents=True, exist_ok=True)
    return d


@bp.route("/course/<int:course_id>/bank/import", methods=["GET", "POST"])
def bank_import(course_id: int):
    course = _course_managed(course_id)
    form = ImportForm()
    result = None
    token = None
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read(current_app.config["QUIZ_IMPORT_MAX_BYTES"] + 1)
        fmt = importers.detect_format(upload.filename, form.fmt.data)
        if len(data) > current_app.config["QUIZ_IMPORT_MAX_BYTES"]:
            form.file.errors.append(_("文件不能超过 10 MB"))
        elif fmt is None:
            form.fmt.errors.append(_("无法从文件名判断格式，请选择文件格式"))
        else:
            result = importers.READERS[fmt](data)
            if result.ok:
                # Keep the checked file until the teacher confirms; the name is ours, never the upload's.
                token = secrets.token_hex(16)
                (_import_dir() / token).write_bytes(data)
                session["quiz_import"] = {"token": token, "course_id": course.id, "fmt": fmt}
    return render_template("quiz/import.html", course=course, form=form, result=result, token=token,
                           confirm=ActionForm(), types=TYPES)


@bp.route("/course/<int:course_id>/bank/import/confirm", methods=["POST"])
def bank_import_confirm(course_id: int):
    course = _course_managed(course_id)
    pending = session.get("quiz_import") or {}
    if not ActionForm().validate_on_submit() or pending.get("course_id") != course.id or \
            request.form.get("token") != pending.get("token"):
        flash(_("导入已过期，请重新上传文件。"), "error")
        return redirect(url_for("quiz.bank_import", course_id=course.id))
    path = _import_dir() / pending["token"]
    if not path.is_file():
        flash(_("导入已过期，请重新上传文件。"), "error")
        return redirect(url_for("quiz.bank_import", course_id=course.id))
    result = importers.READERS[pending["fmt"]](path.read_bytes())
    try:
        n = services.import_questions(services.bank_for(course), result, current_user, pending["fmt"])
    except QuizError as exc:
        flash(str(exc), "error")
        return redirect(url_for("quiz.bank_import", course_id=course.id))
    db.session.commit()
    path.unlink(missing_ok=True)
    session.pop("quiz_import", None)
    flash(_("已导入 %(n)s 道题。", n=n), "success")
    return redirect(url_for("quiz.bank", course_id=course.id))


@bp.route("/course/<int:course_id>/bank/export.xlsx")
def bank_export(course_id: int):
    course = _course_managed(course_id)
    bank_ = services.bank_for(course)
    questions = list(db.session.scalars(services.question_query([bank_.id]).order_by(None).order_by(QuizQuestion.id)))
    audit.log("quiz.bank_export", bank_, details={"count": len(questions)})
    db.session.commit()
    return _xlsx(importers.export_excel(questions), f"题库-{course.title}.xlsx")


@bp.route("/bank/template.xlsx")
def bank_template():
    require(VIEW, "teach")
    return _xlsx(importers.template_excel(), "题库导入模板.xlsx")


@bp.route("/course/<int:course_id>/bank/share", methods=["POST"])
def bank_share(course_id: int):
    course = _course_managed(course_id)
    form = ShareForm()
    form.course_id.choices = [SelectChoice(c.id, c.title) for c in services.managed_courses(current_user)
                             if c.id != course.id]
    if form.validate_on_submit():
        target = _course_managed(form.course_id.data)
        try:
            services.share_bank(services.bank_for(course), target, current_user)
            db.session.commit()
            flash(_("题库已共享给“%(c)s”。", c=target.title), "success")
        except QuizError as exc:
            flash(str(exc), "error")
    else:
        flash(_("请选择一门您能管理的课程。"), "error")
    return redirect(url_for("quiz.bank", course_id=course.id))


@bp.route("/course/<int:course_id>/bank/unshare/<int:target_id>", methods=["POST"])
def bank_unshare(course_id: int, target_id: int):
    course = _course_managed(course_id)
    if ActionForm().validate_on_submit():
        services.unshare_bank(services.bank_for(course), target_id)
        db.session.commit()
        flash(_("已取消共享。"), "success")
    return redirect(url_for("quiz.bank", course_id=course.id))


# --- teachers: the paper ---------------------------------------------------------------------------------------
def _paper_managed(lesson_id: int):
    lesson = _lesson(lesson_id)
    require(MANAGE, lesson.course)
    return lesson, services.paper_for(lesson)


@bp.route("/lesson/<int:lesson_id>/paper", methods=["GET", "POST"])
def paper_edit(lesson_id: int):
    lesson, paper = _paper_managed(lesson_id)
    form = PaperForm(obj=paper) if request.method == "GET" else PaperForm()
    if request.method == "GET":
        form.opens_at.data = _to_local(paper.opens_at)
        form.closes_at.data = _to_local(paper.closes_at)
    elif form.validate_on_submit():
        before = {k: getattr(paper, k) for k in ("mode", "selection", "time_limit_minutes", "max_attempts",
                                                 "pass_percent", "reveal", "opens_at", "closes_at")}
        form.populate_obj(paper)
        paper.instructions = form.instructions.data or ""
        paper.opens_at = _to_utc(form.opens_at.data)
        paper.closes_at = _to_utc(form.closes_at.data)
        problems = services.publish_problems(paper) if paper.is_published else []
        if paper.closes_at and paper.opens_at and paper.closes_at <= paper.opens_at:
            form.closes_at.errors.append(_("关闭时间必须晚于开放时间"))
        elif paper.reveal == "after_close" and paper.mode == "exam" and not paper.closes_at:
            form.reveal.errors.append(_("“关闭后公布答案”需要设置关闭时间"))
        elif problems:
            form.selection.errors.extend(problems)
        else:
            audit.log("quiz.paper_update", paper, details={k: str(v) for k, v in before.items()})
            db.session.commit()
            flash(_("测验设置已保存。"), "success")
            return redirect(url_for("quiz.paper_edit", lesson_id=lesson.id))
        db.session.rollback()
        lesson, paper = _paper_managed(lesson_id)
    course = lesson.course
    bank_ids = services.usable_bank_ids(course)
    in_paper = {it.question_id for it in paper.items}
    args = request.args
    qtype = args.get("type") if args.get("type") in TYPES else None
    tag = (args.get("tag") or "").strip()[:64] or None
    text = (args.get("q") or "").strip()[:100] or None
    available = [q for q in db.session.scalars(
        services.question_query(bank_ids, qtype=qtype, tag=tag, text=text).limit(200)) if q.id not in in_paper]
    rules = [(r, services.rule_label(r), len(c)) for r, c in zip(paper.rules, services.all_rule_candidates(paper),
                                                                 strict=True)]
    db.session.commit()
    return render_template("quiz/paper_edit.html", lesson=lesson, course=course, paper=paper, form=form,
                           rule_form=RuleForm(formdata=None), action=ActionForm(), available=available,
                           rules=rules, tags=services.bank_tags(bank_ids), types=TYPES,
                           max_score=services.paper_max_score(paper),
                           problems=services.publish_problems(paper) if not paper.is_published else [],
                           filters={"type": qtype or "", "tag": tag or "", "q": text or ""})


@bp.route("/lesson/<int:lesson_id>/paper/items", methods=["POST"])
def paper_add_items(lesson_id: int):
    lesson, paper = _paper_managed(lesson_id)
    if ActionForm().validate_on_submit():
        ids = {int(x) for x in request.form.getlist("question_id") if x.isdigit()}
        allowed = set(services.usable_bank_ids(lesson.course))
        questions = [q for q in db.session.scalars(select(QuizQuestion).where(QuizQuestion.id.in_(ids or [-1])))
                     if q.bank_id in allowed and not q.archived]
        have = {it.question_id for it in paper.items}
        pos = max([it.position for it in paper.items] or [0])
        added = 0
        for q in questions:
            if q.id not in have:
                pos += 1
                paper.items.append(QuizPaperItem(question_id=q.id, position=pos))
                added += 1
        if added:
            audit.log("quiz.paper_items_add", paper, details={"count": added})
        db.session.commit()
        flash(_("已加入 %(n)s 道题。", n=added) if added else _("请先勾选题目。"), "success" if added else "warning")
    return redirect(url_for("quiz.paper_edit", lesson_id=lesson.id))


@bp.route("/lesson/<int:lesson_id>/paper/item/<int:item_id>/remove", methods=["POST"])
def paper_remove_item(lesson_id: int, item_id: int):
    lesson, paper = _paper_managed(lesson_id)
    item = db.session.get(QuizPaperItem, item_id)
    if item is None or item.paper_id != paper.id:
        abort(404)
    if ActionForm().validate_on_submit():
        if paper.is_published and len(paper.items) <= 1:
            flash(_("已发布的测验至少要保留一道题。"), "error")
        else:
            db.session.delete(item)
            audit.log("quiz.paper_item_remove", paper, details={"question_id": item.question_id})
            db.session.commit()
    return redirect(url_for("quiz.paper_edit", lesson_id=lesson.id))


@bp.route("/lesson/<int:lesson_id>/paper/rules", methods=["POST"])
def paper_add_rule(lesson_id: int):
    lesson, paper = _paper_managed(lesson_id)
    form = RuleForm()
    if form.validate_on_submit():
        paper.rules.append(QuizDrawRule(count=form.count.data, qtype=form.qtype.data or None,
                                        tag=(form.tag.data or "").strip() or None,
                                        difficulty=int(form.difficulty.data) if form.difficulty.data else None,
                                        score_each=form.score_each.data))
        db.session.flush()
        problems = services.publish_problems(paper) if paper.is_published else []
        if problems:
            db.session.rollback()
            flash(_("规则未保存：%(p)s", p=_("；").join(problems)), "error")
        else:
            audit.log("quiz.paper_rule_add", paper)
            db.session.commit()
            flash(_("抽题规则已添加。"), "success")
    else:
        flash(_("；").join(str(e) for errs in form.errors.values() for e in errs), "error")
    return redirect(url_for("quiz.paper_edit", lesson_id=lesson.id))


@bp.route("/lesson/<int:lesson_id>/paper/rule/<int:rule_id>/remove", methods=["POST"])
def paper_remove_rule(lesson_id: int, rule_id: int):
    lesson, paper = _paper_managed(lesson_id)
    rule = db.session.get(QuizDrawRule, rule_id)
    if rule is None or rule.paper_id != paper.id:
        abort(404)
    if ActionForm().validate_on_submit():
        if paper.is_published and len(paper.rules) <= 1:
            flash(_("已发布的测验至少要保留一条抽题规则。"), "error")
        else:
            db.session.delete(rule)
            audit.log("quiz.paper_rule_remove", paper)
            db.session.commit()
    return redirect(url_for("quiz.paper_edit", lesson_id=lesson.id))


@bp.route("/lesson/<int:lesson_id>/paper/publish", methods=["POST"])
def paper_publish(lesson_id: int):
    lesson, paper = _paper_managed(lesson_id)
    if ActionForm().validate_on_submit():
        try:
            services.publish_paper(paper)
            db.session.commit()
            flash(_("测验已发布，学员现在可以作答。"), "success")
        except QuizError as exc:
            db.session.rollback()
            flash(_("无法发布：%(p)s", p=str(exc)), "error")
    return redirect(url_for("quiz.paper_edit", lesson_id=lesson.id))


@bp.route("/lesson/<int:lesson_id>/paper/unpublish", methods=["POST"])
def paper_unpublish(lesson_id: int):
    lesson, paper = _paper_managed(lesson_id)
    if ActionForm().validate_on_submit():
        paper.status = "draft"
        audit.log("quiz.paper_unpublish", paper)
        db.session.commit()
        flash(_("测验已撤回为草稿，学员暂时不能开始新的作答。"), "success")
    return redirect(url_for("quiz.paper_edit", lesson_id=lesson.id))


# --- teachers: results, statistics, grading --------------------------------------------------------------------
@bp.route("/lesson/<int:lesson_id>/results")
def results(lesson_id: int):
    lesson, paper = _paper_managed(lesson_id)
    services.finalize_overdue(paper_id=paper.id)
    attempts = services.results(paper)
    open_count = db.session.scalar(select(func.count(QuizAttempt.id)).where(
        QuizAttempt.paper_id == paper.id, QuizAttempt.status == "open")) or 0
    return render_template("quiz/results.html", lesson=lesson, paper=paper, attempts=attempts,
                           open_count=open_count)


@bp.route("/lesson/<int:lesson_id>/results.xlsx")
def results_export(lesson_id: int):
    # Members' names and results: an export of personal data (lms.exports: masked login ids for teachers,
    # watermark, hourly limit, second approver above the row threshold, audit).
    from lms.exports.views import send_export

    lesson, _paper = _paper_managed(lesson_id)
    db.session.commit()  # a paper made on first sight (paper_for) is kept
    return send_export("quiz.results", {"lesson_id": lesson.id})


@bp.route("/lesson/<int:lesson_id>/stats")
def stats(lesson_id: int):
    lesson, paper = _paper_managed(lesson_id)
    return render_template("quiz/stats.html", lesson=lesson, paper=paper, stats=services.item_statistics(paper),
                           types=TYPES)


@bp.route("/attempt/<int:attempt_id>/review")
def attempt_review(attempt_id: int):
    attempt = db.session.get(QuizAttempt, attempt_id) or abort(404)
    require(MANAGE, attempt.paper.lesson.course)
    if attempt.status == "open":
        abort(404)
    audit.log("quiz.attempt_view", attempt, details={"user_id": attempt.user_id})
    db.session.commit()
    return render_template("quiz/result.html", attempt=attempt, paper=attempt.paper, lesson=attempt.paper.lesson,
                           review=_review_rows(attempt), reveal=True, teacher=True)


@bp.route("/grading")
def grading():
    require(VIEW, "teach")
    ids = [c.id for c in services.managed_courses(current_user)]
    page = db.paginate(services.grading_queue(ids), page=request.args.get("page", 1, type=int), per_page=20,
                       error_out=False)
    return render_template("quiz/grading.html", page=page)


@bp.route("/answer/<int:answer_id>/grade", methods=["GET", "POST"])
def grade_answer(answer_id: int):
    answer = db.session.get(QuizAnswer, answer_id) or abort(404)
    attempt = answer.attempt
    require(MANAGE, attempt.paper.lesson.course)
    if attempt.status == "open" or answer.question.type != "short":
        abort(404)
    entry = next(e for e in attempt.layout if e["q"] == answer.question_id)
    form = GradeForm(obj=answer if request.method == "GET" and not answer.needs_grading else None)
    if form.validate_on_submit():
        try:
            services.grade_short_answer(answer, float(form.points.data), form.comment.data or "", current_user)
            db.session.commit()
            flash(_("评分已保存。"), "success")
            return redirect(url_for("quiz.grading"))
        except QuizError as exc:
            db.session.rollback()
            form.points.errors.append(str(exc))
            answer = db.session.get(QuizAnswer, answer_id)
    return render_template("quiz/grade.html", answer=answer, attempt=answer.attempt, form=form, max_points=entry["s"])


# --- members: taking a quiz -------------------------------------------------------------------------------------
def _lesson_for_member(lesson_id: int):
    lesson = _lesson(lesson_id)
    require(VIEW, lesson)
    return lesson, services.paper_for(lesson)


@bp.route("/lesson/<int:lesson_id>")
def lesson_page(lesson_id: int):
    lesson, paper = _lesson_for_member(lesson_id)
    services.finalize_overdue(paper_id=paper.id, user_id=current_user.id)
    attempts = services.attempts_of(paper, current_user)
    html = render_template("quiz/lesson.html", lesson=lesson, paper=paper, attempts=attempts,
                           problem=services.start_problem(paper, current_user),
                           open_attempt=next((a for a in attempts if a.status == "open"), None),
                           can_manage=can(current_user, MANAGE, lesson.course))
    db.session.commit()  # the paper row, when it was just created (after rendering: nothing reloads)
    return html


@bp.route("/lesson/<int:lesson_id>/start", methods=["POST"])
def start(lesson_id: int):
    lesson, paper = _lesson_for_member(lesson_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        attempt = services.start_attempt(paper, current_user)
    except QuizError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("quiz.lesson_page", lesson_id=lesson_id))
    # The id from the identity key: the committed attempt is not reloaded just to redirect.
    return redirect(url_for("quiz.attempt", attempt_id=inspect(attempt).identity[0]))


@bp.route("/attempt/<int:attempt_id>")
def attempt(attempt_id: int):
    attempt = _own_attempt(attempt_id)
    if attempt.status == "open" and services.is_past_deadline(attempt):
        services.submit_attempt(attempt, auto=True)
        flash(_("考试时间已到，系统已按您已保存的答案自动交卷。"), "warning")
    if attempt.status != "open":
        return redirect(url_for("quiz.attempt_result", attempt_id=attempt.id))
    questions = services.layout_questions(attempt)
    items = services.public_view(attempt, questions, services.saved_answers(attempt.id))
    return render_template("quiz/attempt.html", attempt=attempt, paper=attempt.paper, lesson=attempt.paper.lesson,
                           items=items, form=ActionForm(), deadline_ms=_ms(attempt.deadline),
                           now_ms=_ms(utcnow()), autosave_ms=current_app.config["QUIZ_AUTOSAVE_SECONDS"] * 1000)


def _form_answers(attempt: QuizAttempt) -> dict:
    """Responses from the plain HTML form (works without JavaScript)."""
    questions = services.layout_questions(attempt)
    out: dict = {}
    f = request.form
    for e in attempt.layout:
        q = questions[e["q"]]
        name = f"q{q.id}"
        if q.type == "multiple":
            if f.get(name + "_present"):
                out[str(q.id)] = [int(x) for x in f.getlist(name) if x.isdigit()]
        elif q.type == "fill":
            if any(f"{name}_{i}" in f for i in range(len(q.answer))):
                out[str(q.id)] = [f.get(f"{name}_{i}", "") for i in range(len(q.answer))]
        elif name in f:
            out[str(q.id)] = f.get(name)
    return out


@bp.route("/attempt/<int:attempt_id>/save", methods=["POST"])
def attempt_save(attempt_id: int):
    attempt = _own_attempt(attempt_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("answers"), dict):
        return _json_error(_("请求格式不正确"))
    deadline = attempt.deadline  # read before the commit expires the object (no reload after the write)
    try:
        n = services.save_answers(attempt, body["answers"])
    except QuizError as exc:
        closed = attempt.status != "open"
        return _json_error(str(exc), 409 if closed else 400, submitted=closed,
                           result_url=url_for("quiz.attempt_result", attempt_id=attempt_id) if closed else None)
    return jsonify({"saved": n, "server_now": _ms(utcnow()), "deadline": _ms(deadline)})


@bp.route("/attempt/<int:attempt_id>/check", methods=["POST"])
def attempt_check(attempt_id: int):
    attempt = _own_attempt(attempt_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("question_id"), int):
        return _json_error(_("请求格式不正确"))
    try:
        fb = services.check_practice_answer(attempt, body["question_id"], body.get("response"))
    except QuizError as exc:
        return _json_error(str(exc), 409 if attempt.status != "open" else 400)
    return jsonify({"feedback": fb})


@bp.route("/attempt/<int:attempt_id>/submit", methods=["POST"])
def attempt_submit(attempt_id: int):
    attempt = _own_attempt(attempt_id)
    wants_json = request.is_json
    if not wants_json and not ActionForm().validate_on_submit():
        abort(400)
    raw = (request.get_json(silent=True) or {}).get("answers") if wants_json else _form_answers(attempt)
    message = services.submit_with_answers(attempt, raw)  # closed already, or too late: the saved answers count
    url = url_for("quiz.attempt_result", attempt_id=attempt_id)
    if wants_json:
        return jsonify({"submitted": True, "result_url": url, "message": message})
    if message:
        flash(message, "warning")
    return redirect(url)


def _review_rows(attempt: QuizAttempt) -> list[dict]:
    questions = services.layout_questions(attempt)
    answers = services.saved_answers(attempt.id)
    rows = []
    for n, e in enumerate(attempt.layout, start=1):
        q = questions[e["q"]]
        a = answers.get(q.id)
        fb = services.feedback(q, a, e)
        rows.append({"n": n, "q": q, "a": a, "max": e["s"], "fb": fb,
                     "options": [(LETTERS[pos], q.options[i], i) for pos, i in enumerate(e["o"])]})
    return rows


@bp.route("/attempt/<int:attempt_id>/result")
def attempt_result(attempt_id: int):
    attempt = _own_attempt(attempt_id)
    if attempt.status == "open":
        if services.is_past_deadline(attempt):
            services.submit_attempt(attempt, auto=True)
        else:
            return redirect(url_for("quiz.attempt", attempt_id=attempt.id))
    reveal = services.reveal_allowed(attempt)
    return render_template("quiz/result.html", attempt=attempt, paper=attempt.paper, lesson=attempt.paper.lesson,
                           review=_review_rows(attempt) if reveal else [], reveal=reveal, teacher=False)


# --- members: daily practice, challenge, leaderboards -----------------------------------------------------------
@bp.route("/practice")
def practice_home():
    daily = services.runs_today(current_user, "daily")
    challenges = services.runs_today(current_user, "challenge")
    pool = db.session.scalar(select(func.count()).select_from(services.practice_pool_query().subquery())) or 0
    return render_template("quiz/practice.html", daily=daily[0] if daily else None, challenges=challenges,
                           pool=pool, form=ActionForm(), month_points=services.my_points(current_user, "month"),
                           all_points=services.my_points(current_user, "all"),
                           scored_runs=current_app.config["QUIZ_CHALLENGE_SCORED_RUNS_PER_DAY"],
                           seconds=current_app.config["QUIZ_CHALLENGE_SECONDS"],
                           daily_count=current_app.config["QUIZ_DAILY_COUNT"])


@bp.route("/practice/<kind>/start", methods=["POST"])
def run_start(kind: str):
    if kind not in ("daily", "challenge"):
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        run = services.start_run(current_user, kind)
    except QuizError as exc:
        db.session.rollback()
        flash(str(exc), "warning")
        return redirect(url_for("quiz.practice_home"))
    return redirect(url_for("quiz.run", run_id=run.id))


def _own_run(run_id: int) -> QuizRun:
    run = db.session.get(QuizRun, run_id)
    if run is None or run.user_id != current_user.id:
        abort(404)
    return run


@bp.route("/run/<int:run_id>")
def run(run_id: int):
    run_ = _own_run(run_id)
    services.expire_challenge(run_, utcnow())
    q = services.current_question(run_)
    last = None
    if run_.log and request.args.get("fb"):
        entry = run_.log[-1]
        lq = db.session.get(QuizQuestion, entry["q"])
        if lq is not None:
            last = services.feedback(lq, QuizAnswer(response=entry.get("r"), correct=entry["ok"]), {})
            last["timeout"] = entry.get("timeout", False)
    item = None
    if q is not None:
        item = {"id": q.id, "type": q.type, "type_label": str(TYPES[q.type].label), "stem": q.stem,
                "options": [{"value": i, "label": LETTERS[i], "text": t} for i, t in enumerate(q.options or [])],
                "blanks": len(q.answer) if q.type == "fill" else 0, "response": None}
    return render_template("quiz/run.html", run=run_, item=item, last=last, form=ActionForm(),
                           deadline_ms=_ms(run_.question_deadline) if q is not None else None,
                           now_ms=_ms(utcnow()))


@bp.route("/run/<int:run_id>/answer", methods=["POST"])
def run_answer(run_id: int):
    run_ = _own_run(run_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    q = services.current_question(run_)
    if q is None:
        return redirect(url_for("quiz.run", run_id=run_.id))
    if str(q.id) != request.form.get("question_id"):
        flash(_("该题已作答，已为您显示当前题目。"), "warning")
        return redirect(url_for("quiz.run", run_id=run_.id))
    name = f"q{q.id}"
    if q.type == "multiple":
        raw = [int(x) for x in request.form.getlist(name) if x.isdigit()]
    elif q.type == "fill":
        raw = [request.form.get(f"{name}_{i}", "") for i in range(len(q.answer))]
    else:
        raw = request.form.get(name)
    try:
        services.answer_run(run_, raw)
    except QuizError as exc:
        flash(str(exc), "warning")
    return redirect(url_for("quiz.run", run_id=run_.id, fb=1))


@bp.route("/leaderboard")
def leaderboard():
    period = request.args.get("period", "month")
    if period not in ("week", "month", "all"):
        period = "month"
    return render_template("quiz/leaderboard.html", period=period,
                           people=services.person_board(period), branches=services.branch_board(period),
                           mine=services.my_points(current_user, period))


@bp.app_template_filter("quiz_json")
def _quiz_json(value) -> str:
    return json.dumps(value, ensure_ascii=False)
