"""Views of 思政微课堂: the area, the lecture page, the teacher's editor and upload API, review, media, player API."""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException
from wtforms.fields.choices import SelectChoice

from lms.authz import MANAGE, VIEW, can, require
from lms.courses.models import Course, Lesson
from lms.extensions import db
from lms.plugins import hook
from plugins.microlecture import services
from plugins.microlecture.forms import (
    ActionForm,
    DetailsForm,
    NewLectureForm,
    ReviewForm,
    RulesForm,
    SubtitlesForm,
)
from plugins.microlecture.lesson_type import services_context
from plugins.microlecture.models import STATUS_LABELS, TOPICS, Upload, Video
from plugins.microlecture.permissions import PREVIEW, REVIEW

bp = Blueprint("microlecture", __name__, url_prefix="/microlecture", template_folder="templates",
               static_folder=None)


def _api() -> bool:
    return "/api/" in request.path


@bp.errorhandler(services.MicrolectureError)
def _refused(exc: services.MicrolectureError):
    db.session.rollback()
    body = {"error": str(exc), "status": exc.code}
    body.update(exc.extra)
    return jsonify(body), exc.code


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    if not _api():
        return exc
    messages = {400: _("请求有误。"), 401: _("请先登录。"), 403: _("您没有权限进行此操作。"),
                404: _("内容不存在。"), 405: _("不支持该请求方式。"), 413: _("上传的内容太大。")}
    return jsonify({"error": messages.get(exc.code, exc.description), "status": exc.code}), exc.code


def _video(video_id: int) -> Video:
    video = db.session.get(Video, video_id)
    if video is None:
        abort(404)
    return video


def _lesson(lesson_id: int) -> Lesson:
    lesson = db.session.get(Lesson, lesson_id)
    if lesson is None or lesson.type != services.VIDEO_TYPE:
        abort(404)
    return lesson


# --- the 思政微课堂 area --------------------------------------------------------------------------
@bp.get("/")
@login_required
def index():
    topic = request.args.get("topic") if request.args.get("topic") in TOPICS else None
    sort = "popular" if request.args.get("sort") == "popular" else "new"
    page = db.paginate(services.public_lectures(topic, sort), page=request.args.get("page", 1, type=int),
                       per_page=12, error_out=False)
    lectures = [v for v in page.items if can(current_user, VIEW, v)]
    return render_template("microlecture/index.html", page=page, lectures=lectures, topics=TOPICS, topic=topic,
                           sort=sort, teachers=services.teachers_with_lectures()[:8],
                           can_teach=can(current_user, VIEW, "teach"))


@bp.get("/teachers/<int:user_id>")
@login_required
def teacher(user_id: int):
    from lms.accounts.models import User

    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    page = db.paginate(services.public_lectures(presenter_id=user_id), page=request.args.get("page", 1, type=int),
                       per_page=12, error_out=False)
    if page.total == 0:
        abort(404)  # only people who present approved lectures have a teacher page
    lectures = [v for v in page.items if can(current_user, VIEW, v)]
    return render_template("microlecture/teacher.html", person=person, page=page, lectures=lectures)


@bp.get("/<int:video_id>")
@login_required
def lecture(video_id: int):
    video = _video(video_id)
    require(VIEW, video)
    lesson = video.lesson
    slots = [s for s in hook().lms_tpl_lesson_after(lesson=lesson, user=current_user) if s]
    more = [v for v in db.session.scalars(services.public_lectures(video.topic).limit(7)) if v.id != video.id][:6]
    return render_template("microlecture/lecture.html", video=video, lesson=lesson, slots=slots, more=more,
                           **services_context(video, current_user))


# --- teachers: my lectures, new lecture, editor ---------------------------------------------------------
@bp.route("/mine", methods=["GET", "POST"])
@login_required
def mine():
    courses = services.managed_courses(current_user)
    if not courses and not can(current_user, VIEW, "teach"):
        abort(403)
    form = NewLectureForm()
    form.course_id.choices = [SelectChoice(str(c.id), c.title) for c in courses]
    if form.validate_on_submit():
        course = db.session.get(Course, int(form.course_id.data))
        if course is None or not can(current_user, MANAGE, course):
            form.course_id.errors.append(_("您不能在这门课程中添加微课。"))
        else:
            video = services.create_lecture(course, form.title.data, form.topic.data, form.description.data or "",
                                            current_user)
            db.session.commit()
            flash(_("微课已创建，请上传视频。"), "success")
            return redirect(url_for(".edit", lesson_id=video.lesson_id))
    lectures = services.managed_lectures(current_user)
    return render_template("microlecture/mine.html", form=form, lectures=lectures, courses=courses,
                           status_labels=STATUS_LABELS)


@bp.route("/lessons/<int:lesson_id>/edit", methods=["GET", "POST"])
@login_required
def edit(lesson_id: int):
    lesson = _lesson(lesson_id)
    require(MANAGE, lesson)
    video = services.video_for(lesson)
    form = DetailsForm(obj=video, prefix="details")
    presenters = {str(t.id): t for t in lesson.course.teachers}
    if video.presenter is not None:
        presenters.setdefault(str(video.presenter_id), video.presenter)
    form.presenter_id.choices = [SelectChoice(k, p.name) for k, p in presenters.items()]
    if request.method == "GET":
        form.presenter_id.data = str(video.presenter_id or "")
    if form.validate_on_submit():
        video.topic, video.description = form.topic.data, (form.description.data or "").strip()
        video.presenter_id = presenters[form.presenter_id.data].id
        from lms.audit import services as audit

        audit.log("microlecture.details", video, details={"topic": video.topic, "presenter": video.presenter_id})
        db.session.commit()
        flash(_("已保存。"), "success")
        return redirect(url_for(".edit", lesson_id=lesson.id))
    db.session.commit()  # video_for may have created the row
    return render_template(
        "microlecture/edit.html", lesson=lesson, video=video, form=form, subs_form=SubtitlesForm(prefix="subs"),
        action=ActionForm(), job=services.latest_job(video), max_bytes=services.cfg("MAX_UPLOAD_BYTES"),
        max_human=services.human_size(int(services.cfg("MAX_UPLOAD_BYTES"))),
        max_duration_h=int(services.cfg("MAX_DURATION_SECONDS")) // 3600,
        **services_context(video, current_user))


@bp.post("/videos/<int:video_id>/subtitles")
@login_required
def subtitles(video_id: int):
    video = _video(video_id)
    require(MANAGE, video)
    form = SubtitlesForm(prefix="subs")
    if form.validate_on_submit():
        try:
            services.attach_subtitles(video, form.file.data, form.label.data or "")
            db.session.commit()
            flash(_("字幕已上传。"), "success")
        except services.MicrolectureError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    else:
        for errs in form.errors.values():
            for e in errs:
                flash(str(e), "error")
    return redirect(url_for(".edit", lesson_id=video.lesson_id))


@bp.post("/videos/<int:video_id>/subtitles/remove")
@login_required
def subtitles_remove(video_id: int):
    video = _video(video_id)
    require(MANAGE, video)
    if ActionForm().validate_on_submit():
        services.remove_subtitles(video)
        db.session.commit()
        flash(_("字幕已删除。"), "success")
    return redirect(url_for(".edit", lesson_id=video.lesson_id))


@bp.post("/videos/<int:video_id>/cancel")
@login_required
def cancel(video_id: int):
    video = _video(video_id)
    require(MANAGE, video)
    if ActionForm().validate_on_submit():
        job = services.active_job(video)
        if job and services.cancel_job(job, current_user):
            db.session.commit()
            flash(_("已取消转码。原始视频仍然保留，可以随时重新转码。"), "success")
        else:
            flash(_("没有正在进行的转码。"), "error")
    return redirect(url_for(".edit", lesson_id=video.lesson_id))


@bp.post("/videos/<int:video_id>/retranscode")
@login_required
def retranscode(video_id: int):
    video = _video(video_id)
    require(MANAGE, video)
    if ActionForm().validate_on_submit():
        try:
            job = services.queue_transcode(video, current_user)
        except services.MicrolectureError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for(".edit", lesson_id=video.lesson_id))
        from lms.audit import services as audit

        audit.log("microlecture.transcode.request", video, details={"job": job.id})
        db.session.commit()
        services.dispatch(job.id)
        flash(_("已重新开始转码。"), "success")
    return redirect(url_for(".edit", lesson_id=video.lesson_id))


@bp.post("/videos/<int:video_id>/resubmit")
@login_required
def resubmit(video_id: int):
    video = _video(video_id)
    require(MANAGE, video)
    if ActionForm().validate_on_submit():
        try:
            services.resubmit(video)
            db.session.commit()
            flash(_("已重新提交审核。"), "success")
        except services.MicrolectureError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    return redirect(url_for(".edit", lesson_id=video.lesson_id))


@bp.route("/courses/<int:course_id>/rules", methods=["GET", "POST"])
@login_required
def rules(course_id: int):
    course = db.session.get(Course, course_id)
    if course is None:
        abort(404)
    require(MANAGE, course)
    current = services.rules_for(course)
    form = RulesForm()
    if request.method == "GET":
        form.no_seek.data, form.pause_hidden.data = current.no_seek, current.pause_hidden
        form.max_speed.data = f"{current.max_speed:.2f}".rstrip("0").rstrip(".") if current.max_speed not in (1.0, 2.0) \
            else f"{current.max_speed:.1f}"
        form.presence_minutes.data, form.threshold.data = current.presence_minutes, round(current.threshold * 100)
    if form.validate_on_submit():
        services.save_rules(course, services.Rules(
            no_seek=form.no_seek.data, max_speed=float(form.max_speed.data), pause_hidden=form.pause_hidden.data,
            presence_minutes=form.presence_minutes.data, threshold=form.threshold.data / 100))
        db.session.commit()
        flash(_("观看规则已保存。"), "success")
        return redirect(url_for(".rules", course_id=course.id))
    return render_template("microlecture/rules.html", course=course, form=form)


# --- upload API (JSON; session + CSRF header) ------------------------------------------------------------
@bp.post("/api/lessons/<int:lesson_id>/uploads")
@login_required
def upload_start(lesson_id: int):
    lesson = _lesson(lesson_id)
    require(MANAGE, lesson)
    data = request.get_json(silent=True) or {}
    try:
        size = int(data.get("size"))
    except (TypeError, ValueError):
        raise services.MicrolectureError(_("请求数据有误：缺少文件大小。"), 400) from None
    video = services.video_for(lesson)
    try:
        up = services.start_upload(video, current_user, str(data.get("filename") or ""), size)
    except services.MicrolectureError as exc:
        if "quota" in exc.extra:
            db.session.commit()  # keep the refusal's audit row; nothing else changed
        raise
    db.session.commit()
    return jsonify(_upload_json(up)), 201


def _upload_json(up: Upload) -> dict:
    return {"id": up.token, "received": up.received, "size": up.size, "state": up.state,
            "chunk_size": int(services.cfg("CHUNK_BYTES")), "url": url_for(".upload_chunk", token=up.token),
            "finish_url": url_for(".upload_finish", token=up.token), "error": up.error}


def _upload(token: str) -> Upload:
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        abort(404)
    up = db.session.query(Upload).filter_by(token=token).one_or_none()
    if up is None or up.user_id != current_user.id:
        abort(404)
    require(MANAGE, up.video)
    return up


@bp.get("/api/uploads/<token>")
@login_required
def upload_status(token: str):
    return jsonify(_upload_json(_upload(token)))


@bp.put("/api/uploads/<token>")
@login_required
def upload_chunk(token: str):
    up = _upload(token)
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        raise services.MicrolectureError(_("请求数据有误：缺少上传位置。"), 400, received=up.received) from None
    services.receive_chunk(up, request.stream, offset, request.content_length)
    db.session.commit()
    return jsonify(_upload_json(up))


@bp.post("/api/uploads/<token>/finish")
@login_required
def upload_finish(token: str):
    up = _upload(token)
    try:
        accepted = services.finish_upload(up, current_user)
    except services.MicrolectureError as exc:
        if exc.code == 422:
            db.session.commit()  # keep the rejection (upload row, audit) — the bad bytes are already gone
            return jsonify({"error": str(exc), "status": 422, **exc.extra}), 422
        raise
    db.session.commit()
    services.dispatch(accepted.job.id)
    return jsonify({"status_url": url_for(".status", video_id=accepted.video.id), "job": accepted.job.id})


@bp.get("/api/videos/<int:video_id>/status")
@login_required
def status(video_id: int):
    video = _video(video_id)
    require(MANAGE, video)
    job = services.latest_job(video)
    db.session.refresh(video)
    body = {"status": video.status, "label": video.status_label, "review_note": video.review_note,
            "duration": video.duration_seconds}
    if job is not None:
        db.session.refresh(job)
        body["job"] = {"id": job.id, "state": job.state, "label": job.state_label, "progress": round(job.progress, 1),
                       "attempt": job.attempt, "max_attempts": job.max_attempts}
        if job.state == "failed":
            body["job"]["message"] = _("转码失败，原始视频已保留。可以点击“重新转码”再试，或更换视频文件。")
    return jsonify(body)


# --- review -----------------------------------------------------------------------------------------------
@bp.get("/review")
@login_required
def review_queue():
    require(VIEW, "review")
    videos = list(db.session.scalars(services.review_queue(current_user)))
    return render_template("microlecture/review_queue.html", videos=[v for v in videos if can(current_user, REVIEW, v)])


@bp.route("/review/<int:video_id>", methods=["GET", "POST"])
@login_required
def review(video_id: int):
    video = _video(video_id)
    require(REVIEW, video)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            if form.decision.data == "approve":
                services.approve(video, current_user, form.note.data or "")
                msg = _("已通过审核并发布。")
            else:
                services.send_back(video, current_user, form.note.data or "")
                msg = _("已退回，老师会看到您的意见。")
            db.session.commit()
            flash(msg, "success")
            return redirect(url_for(".review_queue"))
        except services.MicrolectureError as exc:
            db.session.rollback()
            form.decision.errors.append(str(exc))
    return render_template("microlecture/review.html", video=video, lesson=video.lesson, form=form,
                           **services_context(video, current_user))


# --- media (only for people allowed to see the lesson; HTTP ranges) ---------------------------------------
_MEDIA_NAME = re.compile(r"^(master\.m3u8|[0-9]{3,4}p/index\.m3u8|[0-9]{3,4}p/seg_[0-9]{5}\.ts|poster\.jpg|thumb\.jpg|"
                         r"sprite\.jpg|thumbnails\.vtt)$")
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".jpg": "image/jpeg", ".vtt": "text/vtt"}


def _send(path, name: str):
    ext = "." + name.rsplit(".", 1)[-1]
    resp = send_file(path, mimetype=_TYPES[ext], conditional=True, max_age=0)
    resp.headers["Cache-Control"] = "private, max-age=300"
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    resp.headers["Content-Disposition"] = "inline"
    return resp


@bp.get("/media/<int:video_id>/<rendition>/<path:name>")
@login_required
def media(video_id: int, rendition: str, name: str):
    video = _video(video_id)
    if not _MEDIA_NAME.match(name) or not re.fullmatch(r"[0-9]+-[0-9]+", rendition):
        abort(404)
    key = f"hls/{video.id}/{rendition}"
    if key == video.published_hls_key:
        require(VIEW, video)
    elif key == video.hls_key:
        require(PREVIEW, video)
    else:
        abort(404)
    path = services.storage().path(f"{key}/{name}")
    if not path.is_file():
        abort(404)
    return _send(path, name)


@bp.get("/media/<int:video_id>/subtitles.vtt")
@login_required
def subtitles_file(video_id: int):
    video = _video(video_id)
    require(VIEW, video)
    if not video.subtitle_key:
        abort(404)
    return _send(services.storage().path(video.subtitle_key), "subtitles.vtt")


# --- the player's API ------------------------------------------------------------------------------------
@bp.post("/api/videos/<int:video_id>/sessions")
@login_required
def session_start(video_id: int):
    video = _video(video_id)
    require(VIEW, video)
    if not services.playable_key(video, current_user):
        raise services.MicrolectureError(_("视频还不能播放。"), 409)
    sess, watch, rules = services.start_session(current_user, video)
    duration = services._duration(video, current_user)
    body = {"session": sess.id, "events_url": url_for(".session_event", sid=sess.id), "rules": rules.as_dict(),
            "duration": duration, **services.player_state(watch, duration, rules)}
    db.session.commit()
    return jsonify(body), 201


@bp.post("/api/sessions/<sid>/events")
@login_required
def session_event(sid: str):
    sess = services.get_session(sid, current_user)
    if sess is None:
        abort(404)
    video = db.session.query(Video).filter_by(lesson_id=sess.lesson_id).one_or_none()
    if video is None:
        abort(404)
    require(VIEW, video)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise services.MicrolectureError(_("请求数据有误。"), 400)
    out = services.handle_event(current_user, video, sess, str(data.get("verb", "")), data)
    db.session.commit()
    return jsonify(out), (409 if out.get("refused") else 200)
