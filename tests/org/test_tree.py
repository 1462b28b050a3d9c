"""The organization tree page and unit changes: scope, counts, create/rename/move/delete, audit."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select

from lms.audit.models import AuditLog
from lms.extensions import db
from lms.org.models import OrgUnit, OrgUnitClosure
from lms.org.services import is_within


def _audit(action):
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


def _count_for(html: str, unit: OrgUnit) -> int:
    m = re.search(rf'/org/{unit.id}">{re.escape(unit.name)}</a>.*?(\d+) 人', html, re.S)
    assert m, unit.name
    return int(m.group(1))


def test_tree_shows_indented_units_with_kinds_and_subtree_counts(client, org, users, login_as, make_user):
    make_user("停用者", org.a2, is_active_account=False)  # inactive accounts are not counted
    login_as(client, users.sysadmin)
    html = client.get("/org").get_data(as_text=True)
    assert "二级学院党委" in html and "党支部" in html
    # a1: member, teacher, secretary; a2: member_a2; a: org_admin, reviewer + both branches
    assert _count_for(html, org.a1) == 3
    assert _count_for(html, org.a2) == 1
    assert _count_for(html, org.a) == 6
    assert _count_for(html, org.b) == 2
    assert _count_for(html, org.root) == 11
    # nesting: a1 sits inside a's <ul class="tree">
    a_pos, a1_pos, b_pos = (html.index(f'/org/{u.id}"') for u in (org.a, org.a1, org.b))
    assert a_pos < a1_pos < b_pos
    assert '<ul class="tree">' in html[a_pos:a1_pos]


def test_member_counts_use_one_query_whatever_the_tree_size(app, org, users):
    from lms.org.services import member_counts

    ids = [org.root.id, org.a.id, org.b.id, org.a1.id, org.a2.id, org.b1.id]
    root_id, b1_id = org.root.id, org.b1.id
    statements = []

    def count(*args, **kwargs):
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        counts = member_counts(ids)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "org_unit_closure" in statements[0]
    assert counts[root_id] == 11 and counts[b1_id] == 2


def test_secretary_sees_only_their_branch_and_cannot_change_it(client, org, users, login_as):
    login_as(client, users.secretary)
    html = client.get("/org").get_data(as_text=True)
    assert f'/org/{org.a1.id}"' in html
    assert f'/org/{org.a.id}"' not in html and f'/org/{org.b1.id}"' not in html
    assert "新建党组织" not in html
    assert client.get(f"/org/{org.a1.id}").status_code == 200
    assert client.get(f"/org/{org.b1.id}").status_code == 403
    assert client.post(f"/org/{org.a1.id}/rename", data={"rename-name": "新名"}).status_code == 403
    assert db.session.get(OrgUnit, org.a1.id).name == "计算机学院教工党支部"


def test_org_admin_creates_unit_in_subtree_and_it_is_audited(client, org, users, login_as):
    login_as(client, users.org_admin)
    resp = client.post("/org", data={"new-parent_id": org.a.id, "new-name": "计算机学院研究生党支部",
                                     "new-kind": "branch"})
    assert resp.status_code == 302
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.name == "计算机学院研究生党支部"))
    assert unit.parent_id == org.a.id and is_within(unit.id, org.root.id)
    rows = _audit("org.create")
    assert len(rows) == 1 and rows[0].actor_id == users.org_admin.id and rows[0].target_id == str(unit.id)


def test_org_admin_cannot_create_outside_subtree(client, org, users, login_as):
    login_as(client, users.org_admin)
    resp = client.post("/org", data={"new-parent_id": org.b.id, "new-name": "越权支部", "new-kind": "branch"})
    assert resp.status_code == 400
    assert "请选择您管理范围内的上级组织" in resp.get_data(as_text=True)
    assert db.session.scalar(select(OrgUnit).where(OrgUnit.name == "越权支部")) is None
    assert client.post(f"/org/{org.b.id}/children", data={"new-name": "越权", "new-kind": "branch"}).status_code == 403


@pytest.mark.parametrize("name, message", [
    ("计算机学院学生第一党支部", "同一上级组织下已有名为"),
    ("   ", "请填写组织名称"),
])
def test_create_unit_errors_are_shown_beside_the_field(client, org, users, login_as, name, message):
    login_as(client, users.org_admin)
    resp = client.post(f"/org/{org.a.id}/children", data={"new-name": name, "new-kind": "branch"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert re.search(r'class="field\s+has-error".*?' + message, html, re.S)


def test_branch_cannot_have_children(client, org, users, login_as):
    login_as(client, users.org_admin)
    resp = client.post(f"/org/{org.a1.id}/children", data={"new-name": "小组", "new-kind": "branch"})
    assert resp.status_code == 400
    assert "党支部下不能再设下级组织" in resp.get_data(as_text=True)


def test_rename_is_audited_and_duplicate_sibling_name_refused(client, org, users, login_as):
    login_as(client, users.org_admin)
    assert client.post(f"/org/{org.a1.id}/rename", data={"rename-name": "计算机学院教职工党支部"}).status_code == 302
    assert db.session.get(OrgUnit, org.a1.id).name == "计算机学院教职工党支部"
    row = _audit("org.rename")[0]
    assert row.details == {"from": "计算机学院教工党支部", "to": "计算机学院教职工党支部"}
    resp = client.post(f"/org/{org.a1.id}/rename", data={"rename-name": "计算机学院学生第一党支部"})
    assert resp.status_code == 400 and "同一上级组织下已有名为" in resp.get_data(as_text=True)


def test_move_unit_updates_closure_and_needs_both_ends_in_scope(client, org, users, login_as):
    from lms.org.services import create_unit

    general = create_unit("计算机学院学生党总支", "general_branch", org.a)
    db.session.commit()
    login_as(client, users.org_admin)
    assert client.post(f"/org/{org.a2.id}/move", data={"move-parent_id": general.id}).status_code == 302
    assert db.session.get(OrgUnit, org.a2.id).parent_id == general.id
    assert is_within(org.a2.id, general.id) and is_within(org.a2.id, org.a.id) and is_within(org.a2.id, org.root.id)
    assert db.session.scalar(
        select(OrgUnitClosure.depth).where(OrgUnitClosure.ancestor_id == org.root.id,
                                           OrgUnitClosure.descendant_id == org.a2.id)
    ) == 3
    assert _audit("org.move")[0].details == {"from_parent_id": org.a.id, "to_parent_id": general.id}
    # into another college: not theirs
    resp = client.post(f"/org/{org.a2.id}/move", data={"move-parent_id": org.b.id})
    assert resp.status_code == 400 and "请选择您管理范围内的上级组织" in resp.get_data(as_text=True)
    # the college itself hangs under the root, which the college admin does not manage
    assert client.post(f"/org/{org.a.id}/move", data={"move-parent_id": org.b.id}).status_code == 403


def test_move_into_own_subtree_is_refused(client, org, users, login_as):
    from lms.org.services import create_unit

    general = create_unit("党总支", "general_branch", org.a)
    db.session.commit()
    login_as(client, users.root_admin)
    resp = client.post(f"/org/{org.a.id}/move", data={"move-parent_id": general.id})
    assert resp.status_code == 400
    assert "不能把组织移动到它自己或其下级组织之下" in resp.get_data(as_text=True)
    assert db.session.get(OrgUnit, org.a.id).parent_id == org.root.id


def test_delete_only_when_empty(client, org, users, login_as):
    from lms.org.services import create_unit

    empty = create_unit("待撤销支部", "branch", org.a)
    db.session.commit()
    empty_id = empty.id
    login_as(client, users.org_admin)
    resp = client.post(f"/org/{org.a2.id}/delete")
    assert resp.status_code == 400 and "该组织还有人员" in resp.get_data(as_text=True)
    resp = client.post(f"/org/{org.a.id}/delete")
    assert resp.status_code == 400 and "还有下级组织" in resp.get_data(as_text=True)
    assert client.post(f"/org/{empty_id}/delete").status_code == 302
    assert db.session.get(OrgUnit, empty_id) is None
    assert db.session.scalar(select(OrgUnitClosure).where(OrgUnitClosure.descendant_id == empty_id)) is None
    assert _audit("org.delete")[0].target_id == str(empty_id)
    assert client.post(f"/org/{org.b1.id}/delete").status_code == 403


def test_unit_with_role_assignments_cannot_be_deleted(client, org, users, login_as, make_user):
    from lms.org.services import create_unit

    unit = create_unit("临时支部", "branch", org.a)
    db.session.commit()
    make_user("临时书记", org.a1, roles=[("secretary", unit)])
    login_as(client, users.org_admin)
    resp = client.post(f"/org/{unit.id}/delete")
    assert resp.status_code == 400 and "担任角色" in resp.get_data(as_text=True)


def test_unit_pages_are_404_for_unknown_ids(client, users, login_as):
    login_as(client, users.sysadmin)
    assert client.get("/org/99999").status_code == 404
    assert client.post("/org/99999/rename", data={"rename-name": "x"}).status_code == 404


def test_anonymous_is_sent_to_login(client, org):
    resp = client.get("/org")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_sysadmin_starts_an_empty_tree_with_the_top_committee(client, make_user, login_as):
    admin = make_user("系统管理员", roles=["sysadmin"])
    login_as(client, admin)
    html = client.get("/org").get_data(as_text=True)
    assert "作为最上级党组织" in html
    resp = client.post("/org", data={"new-parent_id": 0, "new-name": "某学院党委", "new-kind": "committee"})
    assert resp.status_code == 302
    root = db.session.scalar(select(OrgUnit))
    assert root.parent_id is None and root.name == "某学院党委"
    # once there is a root, a second top-level unit is not offered
    assert "作为最上级党组织" not in client.get("/org").get_data(as_text=True)
    resp = client.post("/org", data={"new-parent_id": 0, "new-name": "另一个", "new-kind": "committee"})
    assert resp.status_code == 400 and db.session.scalar(select(OrgUnit).where(OrgUnit.name == "另一个")) is None
