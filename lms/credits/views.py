"""Views of the credits area: 我的学时 and the administration of rules, requirements and exemptions."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from lms import audit
from lms.accounts.models import User
from lms.authz import MANAGE, VIEW, can, require
from lms.credits import services
from lms.credits.forms import ConfirmForm, ExemptionForm, RequirementForm, RuleForm, tiers_text
from lms.credits.models import RULE_KINDS, CreditExemption, CreditRequirement
from lms.extensions import db
from lms.org.models import OrgUnit, OrgUnitClosure

bp = Blueprint("credits", __name__, url_prefix="/credits")


def _year_arg() -> int:
    this = services.local_year()
    year = request.args.get("year", type=int) or this
    return year if 2000 <= year <= this + 1 else this


def admin_units(user) -> list[OrgUnit]:
    """The units whose credit settings `user` manages: org admins' roots (sysadmins: the roots)."""
    if not user.is_authenticated:
        return []
    if user.is_sysadmin:
        return list(db.session.scalars(select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id)))
    ids = user.role_units("org_admin")
    if not ids:
        return []
    return list(db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)).order_by(OrgUnit.id)))


@bp.route("/my")
@login_required
def my():
    year = _year_arg()
    s = services.summary(current_user, year)
    years = list(range(services.local_year(), services.local_year() - 5, -1))
    return render_template("credits/my.html", s=s, year=year, years=years, person=current_user, own=True,
                           kind_labels=RULE_KINDS, slot=_my_slot(current_user, year, s, True))


@bp.route("/people/<int:user_id>")
@login_required
def person(user_id: int):
    person = db.session.get(User, user_id) or abort(404)
    require(VIEW, person)
    year = _year_arg()
    s = services.summary(person, year)
    if person.id != current_user.id:
        audit.log("credits.view_person", person, details={"year": year})
        db.session.commit()
    years = list(range(services.local_year(), services.local_year() - 5, -1))
    return render_template("credits/my.html", s=s, year=year, years=years, person=person,
                           own=person.id == current_user.id, kind_labels=RULE_KINDS,
                           slot=_my_slot(person, year, s, person.id == current_user.id))


def _my_slot(person, year: int, s, own: bool):
    """What plugins add to the 我的学时 page (e.g. 党员e家's statement download), joined."""
    from markupsafe import Markup

    from lms.plugins import hook

    parts = [p for p in hook().lms_tpl_credits_my(person=person, year=year, summary=s, own=own) if p]
    return Markup("\n").join(parts)


@bp.route("/admin")
@login_required
def admin_index():
    roots = admin_units(current_user)
    if not roots:
        abort(403)
    year = _year_arg()
    ids = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id.in_([u.id for u in roots]))
    units = list(db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)).order_by(OrgUnit.parent_id.is_not(None),
                                                                                        OrgUnit.sort_order, OrgUnit.id)))
    rows = []
    for u in units:
        rows.append({
            "unit": u,
            "online": services.rule_for(u.id, year, "online"),
            "offline": services.rule_for(u.id, year, "offline"),
            "own_online": services.unit_rule(u.id, year, "online"),
            "own_offline": services.unit_rule(u.id, year, "offline"),
        })
    return render_template("credits/admin_index.html", rows=rows, year=year,
                           years=list(range(services.local_year() + 1, services.local_year() - 4, -1)))


def _unit_or_403(unit_id: int) -> OrgUnit:
    unit = db.session.get(OrgUnit, unit_id) or abort(404)
    require(MANAGE, unit)
    return unit


def _unit_page(unit: OrgUnit, year: int, rule_form=None, req_form=None, ex_form=None, code: int = 200):
    online = services.rule_for(unit.id, year, "online")
    offline = services.rule_for(unit.id, year, "offline")
    if rule_form is None:
        rule_form = RuleForm(formdata=None)
        own = services.unit_rule(unit.id, year, "online")
        if own is not None:
            rule_form.kind.data = own.kind
            if own.kind == "media_tiers":
                rule_form.tiers.data = tiers_text(own.params["tiers"])
                rule_form.passed_test.data = own.params.get("passed_test")
            elif own.kind == "effective_time":
                rule_form.minutes_per_hour.data = own.params.get("minutes_per_hour")
                rule_form.step.data = own.params.get("step")
        off = services.unit_rule(unit.id, year, "offline")
        if off is not None:
            rule_form.full_day.data = off.params.get("full_day")
            rule_form.half_day.data = off.params.get("half_day")
            rule_form.per_hour.data = off.params.get("per_hour")
    requirements = list(db.session.scalars(select(CreditRequirement).where(
        CreditRequirement.org_unit_id == unit.id, CreditRequirement.year == year)))
    subtree = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit.id)
    exemptions = list(db.session.scalars(
        select(CreditExemption).join(User, User.id == CreditExemption.user_id)
        .where(CreditExemption.year == year, User.org_unit_id.in_(subtree)).order_by(CreditExemption.id)))
    return render_template(
        "credits/admin_unit.html", unit=unit, year=year, online=online, offline=offline,
        online_versions=services.rule_versions(unit.id, year, "online"),
        offline_versions=services.rule_versions(unit.id, year, "offline"),
        rule_form=rule_form, req_form=req_form or RequirementForm(formdata=None),
        ex_form=ex_form or ExemptionForm(formdata=None), confirm=ConfirmForm(),
        requirements=requirements, exemptions=exemptions,
        member_default=services._config_requirement("member"),
        secretary_default=services._config_requirement("secretary"),
        years=list(range(services.local_year() + 1, services.local_year() - 4, -1)),
    ), code


@bp.route("/admin/units/<int:unit_id>")
@login_required
def admin_unit(unit_id: int):
    unit = _unit_or_403(unit_id)
    return _unit_page(unit, _year_arg())


@bp.route("/admin/units/<int:unit_id>/rule", methods=["POST"])
@login_required
def save_rule(unit_id: int):
    unit = _unit_or_403(unit_id)
    year = _year_arg()
    form = RuleForm()
    if not form.validate():
        return _unit_page(unit, year, rule_form=form, code=400)
    try:
        rule = services.save_rule(unit.id, year, form.kind.data, form.params(), user=current_user,
                                  note=form.note.data or "")
    except services.CreditError as exc:
        db.session.rollback()
        form.kind.errors.append(str(exc))
        return _unit_page(unit, year, rule_form=form, code=400)
    if _subtree_people(unit.id) <= current_app.config.get("CREDITS_RECOMPUTE_INLINE_MAX", 300):
        stats = services.recompute(unit.id, year)
        audit.log("credits.recompute", unit, details={"year": year, **stats})
        db.session.commit()
        flash(_("已保存第 %(v)s 版学时规则，并按新规则重算了 %(n)s 条学时记录。", v=rule.version,
                n=stats["updated"] + stats["created"] + stats["removed"]), "success")
    else:
        db.session.commit()
        from lms.credits.tasks import recompute_task

        recompute_task(unit.id, year, current_user.id)
        flash(_("已保存第 %(v)s 版学时规则；本组织人数较多，学时正在后台按新规则重算，稍后刷新即可看到结果。",
                v=rule.version), "success")
    return redirect(url_for(".admin_unit", unit_id=unit.id, year=year))


def _subtree_people(unit_id: int) -> int:
    from sqlalchemy import func

    subtree = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit_id)
    return db.session.scalar(select(func.count(User.id)).where(User.org_unit_id.in_(subtree))) or 0


@bp.route("/admin/units/<int:unit_id>/recompute", methods=["POST"])
@login_required
def recompute(unit_id: int):
    unit = _unit_or_403(unit_id)
    year = _year_arg()
    if not ConfirmForm().validate():
        abort(400)
    stats = services.recompute(unit.id, year)
    audit.log("credits.recompute", unit, details={"year": year, **stats})
    db.session.commit()
    flash(_("重算完成：更新 %(u)s 条，新增 %(c)s 条，移除 %(r)s 条。", u=stats["updated"], c=stats["created"],
            r=stats["removed"]), "success")
    return redirect(url_for(".admin_unit", unit_id=unit.id, year=year))


@bp.route("/admin/units/<int:unit_id>/requirements", methods=["POST"])
@login_required
def save_requirement(unit_id: int):
    unit = _unit_or_403(unit_id)
    year = _year_arg()
    form = RequirementForm()
    if not form.validate():
        return _unit_page(unit, year, req_form=form, code=400)
    try:
        services.set_requirement(unit.id, year, form.category.data, form.hours.data, user=current_user)
    except services.CreditError as exc:
        db.session.rollback()
        form.hours.errors.append(str(exc))
        return _unit_page(unit, year, req_form=form, code=400)
    db.session.commit()
    flash(_("已保存年度学时要求。"), "success")
    return redirect(url_for(".admin_unit", unit_id=unit.id, year=year))


@bp.route("/admin/requirements/<int:req_id>/delete", methods=["POST"])
@login_required
def delete_requirement(req_id: int):
    row = db.session.get(CreditRequirement, req_id) or abort(404)
    unit = _unit_or_403(row.org_unit_id)
    if not ConfirmForm().validate():
        abort(400)
    year = row.year
    services.remove_requirement(row, user=current_user)
    db.session.commit()
    flash(_("已删除该学时要求，恢复为上级或默认要求。"), "success")
    return redirect(url_for(".admin_unit", unit_id=unit.id, year=year))


@bp.route("/admin/units/<int:unit_id>/exemptions", methods=["POST"])
@login_required
def save_exemption(unit_id: int):
    unit = _unit_or_403(unit_id)
    year = _year_arg()
    form = ExemptionForm()
    if not form.validate():
        return _unit_page(unit, year, ex_form=form, code=400)
    person = db.session.scalar(select(User).where(User.login_id == form.login_id.data.strip()))
    if person is None or not _in_unit(person, unit):
        form.login_id.errors.append(_("在本组织内找不到该学号/工号的人员。"))
        return _unit_page(unit, year, ex_form=form, code=400)
    if person.id == current_user.id and not current_user.is_sysadmin:
        form.login_id.errors.append(_("不能为自己登记学时减免，请由上级组织办理。"))
        return _unit_page(unit, year, ex_form=form, code=400)
    try:
        services.record_exemption(person, year, form.reason.data, form.reduced_hours.data, user=current_user)
    except services.CreditError as exc:
        db.session.rollback()
        form.reduced_hours.errors.append(str(exc))
        return _unit_page(unit, year, ex_form=form, code=400)
    db.session.commit()
    flash(_("已为 %(name)s 登记 %(year)s 年度学时减免。", name=person.name, year=year), "success")
    return redirect(url_for(".admin_unit", unit_id=unit.id, year=year))


def _in_unit(person: User, unit: OrgUnit) -> bool:
    from lms.org.services import is_within

    return is_within(person.org_unit_id, unit.id)


@bp.route("/admin/exemptions/<int:ex_id>/delete", methods=["POST"])
@login_required
def delete_exemption(ex_id: int):
    row = db.session.get(CreditExemption, ex_id) or abort(404)
    person = db.session.get(User, row.user_id)
    if person is None or person.org_unit is None or not can(current_user, MANAGE, person.org_unit):
        abort(403)
    if not ConfirmForm().validate():
        abort(400)
    unit_id = request.args.get("unit_id", type=int) or person.org_unit_id
    year = row.year
    services.remove_exemption(row, user=current_user)
    db.session.commit()
    flash(_("已撤销该学时减免。"), "success")
    if unit_id and can(current_user, MANAGE, db.session.get(OrgUnit, unit_id)):
        return redirect(url_for(".admin_unit", unit_id=unit_id, year=year))
    return redirect(url_for(".admin_index", year=year))


@bp.route("/units/<int:unit_id>/people")
@login_required
def unit_people(unit_id: int):
    """Hours against requirement for everyone in a unit's subtree (secretaries: their branch)."""
    unit = db.session.get(OrgUnit, unit_id) or abort(404)
    require(VIEW, unit)
    year = _year_arg()
    subtree = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit.id)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    pagination = db.paginate(
        select(User).where(User.org_unit_id.in_(subtree), User.is_active_account.is_(True))
        .order_by(User.org_unit_id, User.name, User.id),
        page=page, per_page=50, error_out=False)
    people = list(pagination.items)
    totals = services.totals_for([p.id for p in people], year)
    rows = []
    for p in people:
        req = services.requirement_for(p, year)
        total = totals.get(p.id, services._q(0))
        rows.append({"person": p, "total": total, "requirement": req, "met": total >= req.hours})
    audit.log("credits.view_unit", unit, details={"year": year, "page": page, "rows": len(rows)})
    db.session.commit()
    return render_template("credits/unit_people.html", unit=unit, year=year, rows=rows, pagination=pagination,
                           years=list(range(services.local_year(), services.local_year() - 5, -1)),
                           manage=can(current_user, MANAGE, unit))
