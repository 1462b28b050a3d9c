"""The organization tree page and the unit page (create, rename, move, delete units)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from lms import audit
from lms.accounts.forms import ActionForm
from lms.authz import MANAGE, VIEW, can, require, scope_roots
from lms.extensions import db
from lms.org import services
from lms.org.forms import MoveForm, RenameForm, UnitForm
from lms.org.models import OrgUnit

bp = Blueprint("org", __name__)


def _visible_units():
    """(unit, depth) of what the viewer may see: sysadmin all, org_admin subtree, secretary branch."""
    if current_user.is_sysadmin:
        return services.units_under(None)
    roots = scope_roots(current_user)
    return services.units_under(roots) if roots else []


def _parent_choices(exclude_subtree_of: OrgUnit | None = None):
    """Units the viewer may hang a unit under (they manage it; it is not a branch)."""
    if current_user.is_sysadmin:
        pairs = services.all_paths(None)
    else:
        roots = scope_roots(current_user, MANAGE)
        pairs = services.all_paths(roots) if roots else []
    skip = services.subtree_ids(exclude_subtree_of.id) if exclude_subtree_of is not None else set()
    return [(u.id, path) for u, path in pairs if not u.is_branch and u.id not in skip]


def _nest(flat):
    """[(unit, depth)] in tree order → nested [{"unit", "children"}] for the recursive template loop."""
    out, stack = [], []
    for unit, depth in flat:
        node = {"unit": unit, "children": []}
        while stack and stack[-1][0] >= depth:
            stack.pop()
        (stack[-1][1]["children"] if stack else out).append(node)
        stack.append((depth, node))
    return out


def _get_unit(unit_id: int) -> OrgUnit:
    unit = db.session.get(OrgUnit, unit_id)
    if unit is None:
        abort(404)
    return unit


@bp.route("/org", methods=["GET", "POST"])
@login_required
def tree():
    require(VIEW, "people")
    flat = _visible_units()
    ids = [u.id for u, _ in flat]
    counts = services.member_counts(ids) if ids else {}
    form = UnitForm(prefix="new")
    choices = _parent_choices()
    # an empty tree: a system administrator starts it with the top 党委
    first_root = not flat and current_user.is_sysadmin and services.roots() == []
    if first_root:
        choices = [(0, _("（无，作为最上级党组织）"))]
    form.parent_id.choices = choices
    can_create = bool(choices)
    if form.validate_on_submit():
        if not can_create:
            abort(403)
        parent = db.session.get(OrgUnit, form.parent_id.data) if form.parent_id.data else None
        if first_root and parent is None:
            try:
                services.check_new_unit(form.name.data, form.kind.data, None)
            except services.OrgError as exc:
                form.name.errors.append(str(exc))
            else:
                unit = services.create_unit(form.name.data, form.kind.data, None)
                audit.log("org.create", unit, details={"name": unit.name, "kind": unit.kind, "parent_id": None})
                db.session.commit()
                flash(_("已创建党组织“%(name)s”。", name=unit.name), "success")
                return redirect(url_for("org.unit", unit_id=unit.id))
        elif parent is None or not can(current_user, MANAGE, parent):
            form.parent_id.errors.append(_("请选择您管理范围内的上级组织"))
        else:
            try:
                services.check_new_unit(form.name.data, form.kind.data, parent)
            except services.OrgError as exc:
                form.name.errors.append(str(exc))
            else:
                unit = services.create_unit(form.name.data, form.kind.data, parent)
                audit.log("org.create", unit, details={"name": unit.name, "kind": unit.kind, "parent_id": parent.id})
                db.session.commit()
                flash(_("已创建党组织“%(name)s”。", name=unit.name), "success")
                return redirect(url_for("org.unit", unit_id=unit.id))
    return render_template(
        "org/tree.html", nodes=_nest(flat), counts=counts, form=form, can_create=can_create,
        total=len(flat),
    ), 400 if form.errors else 200


@bp.route("/org/<int:unit_id>")
@login_required
def unit(unit_id: int):
    unit = _get_unit(unit_id)
    require(VIEW, unit)
    return _unit_page(unit)


def _can_move(unit: OrgUnit) -> bool:
    """Moving a unit takes it out of its parent: the viewer must manage the unit and the parent."""
    return (
        unit.parent is not None
        and can(current_user, MANAGE, unit)
        and can(current_user, MANAGE, unit.parent)
    )


def _unit_page(unit: OrgUnit, status: int = 200, delete_error: str | None = None, **forms):
    manage = can(current_user, MANAGE, unit)
    rename_form = forms.get("rename_form") or RenameForm(prefix="rename", name=unit.name)
    move_form = forms.get("move_form") or MoveForm(prefix="move")
    move_form.parent_id.choices = _parent_choices(exclude_subtree_of=unit) if manage else []
    child_form = forms.get("child_form") or UnitForm(prefix="new")
    child_form.parent_id.choices = [(unit.id, unit.name)]
    children = list(unit.children)
    counts = services.member_counts([unit.id] + [c.id for c in children])
    refusal = delete_error or (services.delete_refusal(unit) if manage else None)
    return render_template(
        "org/unit.html", unit=unit, manage=manage, rename_form=rename_form, move_form=move_form,
        child_form=child_form, delete_form=ActionForm(prefix="delete"), counts=counts, children=children,
        ancestors=[a for a in unit.ancestors() if can(current_user, VIEW, a)], delete_refusal=refusal,
        can_move=_can_move(unit), can_delete=manage and (unit.parent_id is not None or current_user.is_sysadmin),
    ), status


@bp.route("/org/<int:unit_id>/rename", methods=["POST"])
@login_required
def rename(unit_id: int):
    unit = _get_unit(unit_id)
    require(MANAGE, unit)
    form = RenameForm(prefix="rename")
    if form.validate_on_submit():
        old = unit.name
        try:
            services.rename_unit(unit, form.name.data)
        except services.OrgError as exc:
            form.name.errors.append(str(exc))
        else:
            if unit.name != old:
                audit.log("org.rename", unit, details={"from": old, "to": unit.name})
                db.session.commit()
                flash(_("已改名为“%(name)s”。", name=unit.name), "success")
            return redirect(url_for("org.unit", unit_id=unit.id))
    db.session.rollback()
    return _unit_page(unit, 400, rename_form=form)


@bp.route("/org/<int:unit_id>/children", methods=["POST"])
@login_required
def create_child(unit_id: int):
    unit = _get_unit(unit_id)
    require(MANAGE, unit)
    form = UnitForm(prefix="new")
    form.parent_id.choices = [(unit.id, unit.name)]
    if form.validate_on_submit():
        try:
            services.check_new_unit(form.name.data, form.kind.data, unit)
        except services.OrgError as exc:
            form.name.errors.append(str(exc))
        else:
            child = services.create_unit(form.name.data, form.kind.data, unit)
            audit.log("org.create", child, details={"name": child.name, "kind": child.kind, "parent_id": unit.id})
            db.session.commit()
            flash(_("已创建党组织“%(name)s”。", name=child.name), "success")
            return redirect(url_for("org.unit", unit_id=unit.id))
    return _unit_page(unit, 400, child_form=form)


@bp.route("/org/<int:unit_id>/move", methods=["POST"])
@login_required
def move(unit_id: int):
    unit = _get_unit(unit_id)
    require(MANAGE, unit)
    if not _can_move(unit):
        abort(403)
    form = MoveForm(prefix="move")
    form.parent_id.choices = _parent_choices(exclude_subtree_of=unit)
    if form.validate_on_submit():
        new_parent = db.session.get(OrgUnit, form.parent_id.data)
        if new_parent is None or not can(current_user, MANAGE, new_parent):
            form.parent_id.errors.append(_("请选择您管理范围内的上级组织"))
        else:
            try:
                services.check_move(unit, new_parent)
            except services.OrgError as exc:
                form.parent_id.errors.append(str(exc))
            else:
                old_parent_id = unit.parent_id
                services.move_unit(unit, new_parent)
                audit.log("org.move", unit, details={"from_parent_id": old_parent_id, "to_parent_id": new_parent.id})
                db.session.commit()
                flash(_("已将“%(name)s”移到“%(parent)s”之下。", name=unit.name, parent=new_parent.name), "success")
                return redirect(url_for("org.unit", unit_id=unit.id))
    return _unit_page(unit, 400, move_form=form)


@bp.route("/org/<int:unit_id>/delete", methods=["POST"])
@login_required
def delete(unit_id: int):
    unit = _get_unit(unit_id)
    require(MANAGE, unit)
    if unit.parent is None and not current_user.is_sysadmin:
        abort(403)
    form = ActionForm(prefix="delete")
    if not form.validate_on_submit():
        abort(400)
    parent_id, name = unit.parent_id, unit.name
    try:
        services.delete_unit(unit)
        audit.log("org.delete", target_type="org_unit", target_id=unit_id, details={"name": name})
        db.session.commit()
    except services.OrgError as exc:
        db.session.rollback()
        unit = _get_unit(unit_id)
        return _unit_page(unit, 400, delete_error=str(exc))
    flash(_("已删除党组织“%(name)s”。", name=name), "success")
    if parent_id is not None and can(current_user, VIEW, db.session.get(OrgUnit, parent_id)):
        return redirect(url_for("org.unit", unit_id=parent_id))
    return redirect(url_for("org.tree"))
