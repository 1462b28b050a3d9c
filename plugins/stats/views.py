"""Pages of the statistics plugin: scoped dashboards, the member drill-down, reminders and the ledger export."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from lms import audit
from lms.accounts.models import User
from lms.audit.models import AuditLog
from lms.extensions import db
from lms.org.models import OrgUnit
from lms.plugins import plugin_enabled
from lms.timeutil import utcnow
from plugins.stats import services
from plugins.stats.forms import RemindForm

bp = Blueprint("stats", __name__, template_folder="templates")

YEARS_BACK = 5


def _year() -> int:
    now = services.local_year()
    year = request.args.get("year", now, type=int)
    return year if year is not None and now - 20 <= year <= now + 1 else now


def _years() -> list[int]:
    now = services.local_year()
    return list(range(now, now - YEARS_BACK, -1))


def _unit_or_403(unit_id: int) -> OrgUnit:
    unit = db.session.get(OrgUnit, unit_id)
    if unit is None:
        abort(404)
    if not services.can_view_unit(current_user, unit):
        abort(403)
    return unit


def _recent(action: str) -> int:
    return db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == action, AuditLog.actor_id == current_user.id,
        AuditLog.at > utcnow() - timedelta(hours=1))) or 0


def _labels() -> dict:
    return {"assignment": _("学习任务完成率"), "completion": _("课程完成率"), "distribution": _("学时达标分布"), "scores": _("测验人次"),
            "hours": _("学时"), "done": _("完成课程人次"), "months": [_("%(m)s月", m=m) for m in range(1, 13)]}


@bp.route("/stats/")
@login_required
def index():
    if not services.may_use(current_user):
        abort(403)
    tops = services.top_units(current_user)
    if len(tops) == 1:
        return redirect(url_for(".unit", unit_id=tops[0].id, year=request.args.get("year", type=int)))
    return render_template("stats/index.html", units=tops, year=_year())


def _person_urls(year: int):
    """`person_url(id)`: the member page of a person for `year` — one URL built by the router, the hundreds of
    links of a page (名单 rows) from it."""
    head, _, tail = url_for("stats.person", user_id=0, year=year).rpartition("/0?")
    return lambda person_id: f"{head}/{int(person_id)}?{tail}"


@bp.route("/stats/units/<int:unit_id>")
@login_required
def unit(unit_id: int):
    node = _unit_or_403(unit_id)
    year = _year()
    course_id = request.args.get("course", type=int)
    behind_max = current_app.config["STATS_BEHIND_LIST_MAX"]
    with services.bulk_figures():  # the page's objects live until it is rendered
        d = services.dashboard(node, year, course_id, request.args.get("assignment", type=int))
        return render_template(
            "stats/unit.html", d=d, node=node, year=year, years=_years(), trail=services.trail(current_user, node),
            charts=services.charts(d, _labels()), behind=d.behind_first(behind_max), behind_total=d.total.behind,
            tasks_behind=d.tasks_behind[:behind_max], tasks_people=len({b.person.id for b in d.tasks_behind}),
            due_days=services.due_soon_days(), remind_form=RemindForm(year=year),
            task_remind_form=RemindForm(year=year, kind="assignments"), share_buckets=services.SHARE_BUCKETS,
            person_url=_person_urls(year),
        )


@bp.route("/stats/units/<int:unit_id>/remind", methods=["POST"])
@login_required
def remind(unit_id: int):
    node = _unit_or_403(unit_id)
    form = RemindForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs) or _("请求无效，请刷新页面后重试。"), "error")
        return redirect(url_for(".unit", unit_id=node.id), code=303)
    year = form.year.data
    back = url_for(".unit", unit_id=node.id, year=year)
    tasks = form.kind.data == "assignments"
    if tasks and not services.assignments_available():
        flash(_("学习任务功能（党员e家）未启用，无法按学习任务提醒。"), "error")
        return redirect(back, code=303)
    limit = current_app.config["STATS_REMINDS_PER_HOUR"]
    if _recent("stats.remind") >= limit:
        flash(_("一小时内最多发送 %(n)s 次提醒，请稍后再试。", n=limit), "error")
        return redirect(back, code=303)
    hours = current_app.config["STATS_REMIND_COOLDOWN_HOURS"]
    if tasks:
        result = services.remind_tasks(current_user, node, year, url=url_for("party_school.my"))
        db.session.commit()
        if result["sent"]:
            flash(_("已提醒 %(n)s 名未按期完成学习任务的党员。", n=result["sent"]), "success")
        elif result["behind"]:
            flash(_("未完成学习任务的党员在 %(h)s 小时内都已提醒过，本次没有重复发送。", h=hours), "warning")
        else:
            flash(_("没有已逾期或即将截止而未完成的学习任务，无需提醒。"), "warning")
        back += "#tasks-behind"
    else:
        result = services.remind_behind(current_user, node, year, url=url_for("credits.my", year=year))
        db.session.commit()
        if result["sent"]:
            flash(_("已提醒 %(n)s 名学时未达标的党员。", n=result["sent"]), "success")
        elif result["behind"]:
            flash(_("未达标的党员在 %(h)s 小时内都已提醒过，本次没有重复发送。", h=hours), "warning")
        else:
            flash(_("该组织的党员都已达到年度学时要求，无需提醒。"), "warning")
    if result["sent"] and result["skipped"]:
        flash(_("另有 %(n)s 人近期已提醒过，本次未重复发送。", n=result["skipped"]), "warning")
    return redirect(back, code=303)


@bp.route("/stats/units/<int:unit_id>/ledger.xlsx")
@login_required
def ledger(unit_id: int):
    # Permission (managers of the scope; reviewers masked), hourly limit, second approver above the row threshold,
    # watermark and audit: lms.exports.
    from lms.exports.views import send_export

    if db.session.get(OrgUnit, unit_id) is None:
        abort(404)
    return send_export("stats.ledger", {"unit_id": unit_id, "year": _year()})


@bp.route("/stats/people/<int:user_id>")
@login_required
def person(user_id: int):
    target = db.session.get(User, user_id)
    if target is None:
        abort(404)
    if not services.can_view_person(current_user, target):
        abort(403)
    year = _year()
    m = services.member(target, year)
    trail = services.trail(current_user, target.org_unit) if target.org_unit and \
        services.can_view_unit(current_user, target.org_unit) else []
    xapi = plugin_enabled("xapi")
    links = {}
    for e in m.entries:
        activity = services.entry_activity(e)
        if xapi and activity:
            links[e.id] = url_for("xapi.person", user_id=target.id, activity=activity)
    audit.log("stats.view_person", target, details={"year": year})
    db.session.commit()
    return render_template("stats/person.html", m=m, person=target, year=year, years=_years(), trail=trail,
                           links=links, xapi=xapi)
