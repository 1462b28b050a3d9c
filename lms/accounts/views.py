"""Views of the people area: list, person page, create/edit, roles, transfer, import and export."""
from __future__ import annotations

import io

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from lms import audit
from lms.accounts import importing, services
from lms.accounts.forms import (
    ActionForm,
    ImportConfirmForm,
    ImportUploadForm,
    PersonForm,
    RoleForm,
    TransferForm,
)
from lms.accounts.models import MEMBER_CATEGORIES, ROLES, RoleAssignment, User
from lms.authz import MANAGE, MANAGE_MEMBERS, VIEW, can, require, scope_roots
from lms.extensions import db
from lms.org.models import OrgUnit

bp = Blueprint("people", __name__)
# Refusals of a role grant that are about the chosen unit: shown beside the unit field, the others beside the role.
_UNIT_REFUSALS = (_l("请选择该角色负责的党组织。"), _l("该角色不限定党组织。"), _l("支部书记只能对应一个党支部。"),
                  _l("所选党组织不在您的管理范围内。"), _l("所选党组织不在您的管理范围内"))

# Account actions the authentication module provides; buttons appear once those endpoints exist.
AUTH_ACTIONS = (
    ("auth.admin_end_sessions", _l("结束全部会话"), _l("确定让此人在所有设备上退出登录吗？")),
    ("auth.admin_reset_password", _l("重置密码"), _l("确定重置此人的密码吗？")),
    ("auth.admin_unlock", _l("解除锁定"), None),
    ("auth.admin_reset_totp", _l("重置动态口令"), _l("确定重置此人的动态口令（两步验证）吗？")),
)


def _person(user_id: int) -> User:
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    return person


def _filter_from_args() -> services.PeopleFilter:
    unit_id = request.args.get("unit", type=int)
    category = request.args.get("category", "")
    state = request.args.get("state", "")
    return services.PeopleFilter(
        q=request.args.get("q", "")[:64],
        unit_id=unit_id if unit_id and unit_id > 0 else None,
        category=category if category in MEMBER_CATEGORIES else "",
        state=state if state in ("inactive", "all") else "",
    )


@bp.route("/people")
@login_required
def index():
    require(VIEW, "people")
    flt = _filter_from_args()
    page = db.paginate(
        services.people_query(current_user, flt), page=request.args.get("page", 1, type=int),
        per_page=current_app.config["PAGE_SIZE"], error_out=False,
    )
    units = services.manageable_units(current_user)
    can_add = bool(units)
    return render_template(
        "people/index.html", page=page, flt=flt, units=units, categories=MEMBER_CATEGORIES,
        can_add=can_add, export_args={k: v for k, v in request.args.items() if k != "page"},
    )


@bp.route("/people/export.xlsx")
@login_required
def export():
    # Permission, hourly limit, second approver above the row threshold, masking, watermark, audit: lms.exports.
    from lms.exports.views import send_export

    require(VIEW, "people")
    flt = _filter_from_args()
    return send_export("people", {"q": flt.q, "unit_id": flt.unit_id, "category": flt.category, "state": flt.state})


# --- person page -------------------------------------------------------------------------------------
def _role_unit_choices():
    from lms.org.services import all_paths

    if current_user.is_sysadmin:
        pairs = all_paths(None)
    else:
        roots = scope_roots(current_user, MANAGE)
        pairs = all_paths(roots) if roots else []
    return [(0, _("（不限定党组织）"))] + [(u.id, p) for u, p in pairs]


def _transfer_choices(person: User):
    return [(u.id, p) for u, p in services.manageable_units(current_user) if u.id != person.org_unit_id]


def _detail(person: User, status: int = 200, role_form=None, transfer_form=None):
    manage = can(current_user, MANAGE, person)
    role_form = role_form or RoleForm(prefix="role")
    role_form.org_unit_id.choices = _role_unit_choices()
    transfer_form = transfer_form or TransferForm(prefix="transfer")
    transfer_form.org_unit_id.choices = _transfer_choices(person) if manage else []
    can_grant = person.id != current_user.id and (current_user.is_sysadmin or current_user.has_role("org_admin"))
    from lms.auth.services import is_locked

    auth_actions = [
        (ep, label, confirm) for ep, label, confirm in AUTH_ACTIONS
        if ep in current_app.view_functions and _may_administer(person)
        and (ep != "auth.admin_reset_totp" or current_user.is_sysadmin)
    ]
    revocable = {
        r.id for r in person.roles
        if can(current_user, "grant", _grant(person, r.role, r.org_unit))
    }
    return render_template(
        "people/detail.html", person=person, manage=manage,
        path=person.org_unit.path_names if person.org_unit else "",
        phone=person.phone if services.shows_phone(current_user, person) else services.mask_phone(person.phone),
        role_form=role_form, transfer_form=transfer_form, can_grant=can_grant, revocable=revocable,
        transfers=services.transfers_of(person), auth_actions=auth_actions, action_form=ActionForm(),
        locked=is_locked(person), roles_meta=ROLES, can_view_people=can(current_user, VIEW, "people"),
    ), status


def _may_administer(person: User) -> bool:
    """Account actions (sessions, password, lock, TOTP) on someone else, as the auth module decides."""
    from lms.auth import services as auth_services

    if person.id == current_user.id or not can(current_user, MANAGE, person):
        return False
    rule = getattr(auth_services, "may_administer", None)
    return rule is None or bool(rule(current_user, person))


def _grant(person, role, unit):
    from lms.authz import RoleGrant

    return RoleGrant(person, role, unit)


@bp.route("/people/<int:user_id>")
@login_required
def detail(user_id: int):
    person = _person(user_id)
    require(VIEW, person)
    if person.id != current_user.id:
        audit.log("people.view", person)
        db.session.commit()
    return _detail(person)


@bp.route("/people/new", methods=["GET", "POST"])
@login_required
def create():
    require(VIEW, "people")
    units = services.manageable_units(current_user)
    if not units:
        abort(403)
    form = PersonForm()
    form.org_unit_id.choices = [(u.id, p) for u, p in units]
    if request.method == "GET" and request.args.get("unit", type=int):
        form.org_unit_id.data = request.args.get("unit", type=int)
    if form.validate_on_submit():
        unit = db.session.get(OrgUnit, form.org_unit_id.data)
        problems = services.check_initial_password(
            form.password.data or "", {"login_id": form.login_id.data, "name": form.name.data}
        )
        if unit is None or not can(current_user, MANAGE_MEMBERS, unit):
            form.org_unit_id.errors.append(_("请选择您管理范围内的党组织"))
        elif services.login_id_taken(form.login_id.data.strip()):
            form.login_id.errors.append(_("该学号/工号已被使用"))
        elif problems:
            form.password.errors.extend(problems)
        else:
            from lms.auth.services import hash_password

            try:
                person = services.create_person(
                    current_user, name=form.name.data, login_id=form.login_id.data.strip(), unit=unit,
                    category=form.category.data, joined_on=form.joined_on.data, phone=form.phone.data,
                    password_hash=hash_password(form.password.data),
                )
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                form.login_id.errors.append(_("该学号/工号已被使用"))
            else:
                flash(_("已添加“%(name)s”，首次登录时须修改初始密码。", name=person.name), "success")
                return redirect(url_for("people.detail", user_id=person.id))
    return render_template("people/form.html", form=form, person=None), 400 if form.errors else 200


@bp.route("/people/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def edit(user_id: int):
    person = _person(user_id)
    require(MANAGE, person)
    form = PersonForm(obj=person)
    del form.password
    del form.org_unit_id  # the unit changes only through a transfer (with its history)
    if form.validate_on_submit():
        login_id = form.login_id.data.strip()
        if services.login_id_taken(login_id, exclude_id=person.id):
            form.login_id.errors.append(_("该学号/工号已被使用"))
        else:
            changed = services.update_person(
                current_user, person, name=form.name.data, login_id=login_id, category=form.category.data,
                joined_on=form.joined_on.data, phone=form.phone.data,
            )
            db.session.commit()
            flash(_("已保存。") if changed else _("没有需要保存的修改。"), "success")
            return redirect(url_for("people.detail", user_id=person.id))
    return render_template("people/form.html", form=form, person=person), 400 if form.errors else 200


@bp.route("/people/<int:user_id>/deactivate", methods=["POST"])
@login_required
def deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.route("/people/<int:user_id>/reactivate", methods=["POST"])
@login_required
def reactivate(user_id: int):
    return _set_active(user_id, True)


def _set_active(user_id: int, active: bool):
    person = _person(user_id)
    require(MANAGE, person)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.set_active(current_user, person, active)
    except services.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("账号已启用。") if active else _("账号已停用，此人已在所有设备上退出登录。"), "success")
    return redirect(url_for("people.detail", user_id=person.id))


@bp.route("/people/<int:user_id>/roles", methods=["POST"])
@login_required
def grant(user_id: int):
    person = _person(user_id)
    require(VIEW, person)
    form = RoleForm(prefix="role")
    form.org_unit_id.choices = _role_unit_choices()
    if form.validate_on_submit():
        unit = db.session.get(OrgUnit, form.org_unit_id.data) if form.org_unit_id.data else None
        if form.org_unit_id.data and unit is None:
            form.org_unit_id.errors.append(_("请选择党组织"))
        else:
            try:
                services.grant_role(current_user, person, form.role.data, unit)
            except services.AccountError as exc:
                db.session.rollback()
                target = form.org_unit_id if str(exc) in {str(m) for m in _UNIT_REFUSALS} else form.role
                target.errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("已授予角色“%(role)s”。", role=_(ROLES[form.role.data][0])), "success")
                return redirect(url_for("people.detail", user_id=person.id))
    return _detail(person, 400, role_form=form)


@bp.route("/people/<int:user_id>/roles/<int:assignment_id>/revoke", methods=["POST"])
@login_required
def revoke(user_id: int, assignment_id: int):
    person = _person(user_id)
    require(VIEW, person)
    ra = db.session.get(RoleAssignment, assignment_id)
    if ra is None or ra.user_id != person.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not can(current_user, "grant", _grant(person, ra.role, ra.org_unit)):
        abort(403)
    label = ra.label
    try:
        services.revoke_role(current_user, ra)
    except services.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("已撤销角色“%(role)s”。", role=label), "success")
    return redirect(url_for("people.detail", user_id=person.id))


@bp.route("/people/<int:user_id>/transfer", methods=["POST"])
@login_required
def transfer(user_id: int):
    person = _person(user_id)
    require(MANAGE, person)
    form = TransferForm(prefix="transfer")
    form.org_unit_id.choices = _transfer_choices(person)
    if form.validate_on_submit():
        unit = db.session.get(OrgUnit, form.org_unit_id.data)
        if unit is None:
            form.org_unit_id.errors.append(_("请选择转入的党组织"))
        else:
            try:
                services.transfer_person(current_user, person, unit)
            except services.AccountError as exc:
                db.session.rollback()
                form.org_unit_id.errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("已将“%(name)s”的组织关系转入“%(unit)s”。", name=person.name, unit=unit.name), "success")
                if can(current_user, VIEW, person):
                    return redirect(url_for("people.detail", user_id=person.id))
                return redirect(url_for("people.index"))
    return _detail(person, 400, transfer_form=form)


# --- import ------------------------------------------------------------------------------------------
@bp.route("/people/import/template.xlsx")
@login_required
def import_template():
    require(VIEW, "people")
    paths = [p for u, p in services.manageable_units(current_user) if u.parent_id is not None or u.is_branch]
    content = importing.build_template(paths)
    return send_file(
        io.BytesIO(content), as_attachment=True, download_name="党员名单导入模板.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@bp.route("/people/import", methods=["GET", "POST"])
@login_required
def import_members():
    require(VIEW, "people")
    if not services.manageable_units(current_user):
        abort(403)
    form = ImportUploadForm()
    result = file_error = token = None
    if form.validate_on_submit():
        data = form.file.data.read(importing.MAX_BYTES + 1)
        try:
            result = importing.plan(data, current_user)
        except importing.ImportFileError as exc:
            file_error = str(exc)
            form.file.errors.append(file_error)
        else:
            if result.ok and (result.of("create") or result.of("update")):
                token = importing.stash(current_app.instance_path, data, current_user.id,
                                        form.file.data.filename or "")
    confirm = ImportConfirmForm(token=token) if token else None
    status = 400 if form.errors or (result is not None and not result.ok) else 200
    return render_template("people/import.html", form=form, result=result, confirm=confirm), status


@bp.route("/people/import/confirm", methods=["POST"])
@login_required
def import_confirm():
    require(VIEW, "people")
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    stashed = importing.load_stash(current_app.instance_path, form.token.data, current_user.id)
    if stashed is None:
        flash(_("上传的文件已过期或不存在，请重新上传。"), "warning")
        return redirect(url_for("people.import_members"))
    data, _filename = stashed
    try:
        result = importing.plan(data, current_user)
    except importing.ImportFileError as exc:
        flash(str(exc), "error")
        return redirect(url_for("people.import_members"))
    if not result.ok:  # the database changed since the dry run
        return render_template("people/import.html", form=ImportUploadForm(), result=result, confirm=None), 400
    try:
        counts = importing.apply(result, current_user, form.password.data, source="web")
        db.session.commit()
    except services.AccountError as exc:
        db.session.rollback()
        form.password.errors.append(str(exc))
        return render_template("people/import.html", form=ImportUploadForm(), result=result, confirm=form), 400
    except IntegrityError:
        # someone added one of these people at the same moment; the dry run will show it now
        db.session.rollback()
        flash(_("导入期间数据发生了变化，未导入任何数据，请重新上传检查。"), "warning")
        return redirect(url_for("people.import_members"))
    importing.drop_stash(current_app.instance_path, form.token.data)
    flash(_("导入完成：新增 %(c)s 人，更新 %(u)s 人，未变化 %(n)s 人。",
            c=counts["create"], u=counts["update"], n=counts["unchanged"]), "success")
    return redirect(url_for("people.index"))
