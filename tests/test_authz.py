"""The authorization matrix: every role × target × action, plus HTTP checks that scope holds end to end."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from lms.authz import GRANT, MANAGE, MANAGE_MEMBERS, VIEW, RoleGrant, can, scope_filter

ROLES = ["member", "teacher", "secretary", "org_admin", "root_admin", "sysadmin", "auditor", "reviewer"]

# Targets: people in branch A1 (the viewers' own branch), A2 (other branch of the same college A)
# and B1 (another college). Units: A1 (own branch), A2, A (own college) and B1 (other college).
PERSON_TARGETS = {"own_branch": "peer_a1", "same_college": "member_a2", "other_college": "member_b"}
UNIT_TARGETS = {"own_branch": "a1", "same_college": "a2", "own_college": "a", "other_college": "b1"}

T, F = True, False
# role -> target -> (view, manage)
PERSON_EXPECTED = {
    "member": {"own_branch": (F, F), "same_college": (F, F), "other_college": (F, F)},
    "teacher": {"own_branch": (F, F), "same_college": (F, F), "other_college": (F, F)},
    "secretary": {"own_branch": (T, T), "same_college": (F, F), "other_college": (F, F)},
    "org_admin": {"own_branch": (T, T), "same_college": (T, T), "other_college": (F, F)},
    "root_admin": {"own_branch": (T, T), "same_college": (T, T), "other_college": (T, T)},
    "sysadmin": {"own_branch": (T, T), "same_college": (T, T), "other_college": (T, T)},
    "auditor": {"own_branch": (F, F), "same_college": (F, F), "other_college": (F, F)},
    "reviewer": {"own_branch": (F, F), "same_college": (F, F), "other_college": (F, F)},
}
# role -> unit -> (view, manage the tree, manage members)
UNIT_EXPECTED = {
    "member": {k: (F, F, F) for k in UNIT_TARGETS},
    "teacher": {k: (F, F, F) for k in UNIT_TARGETS},
    "secretary": {"own_branch": (T, F, T), "same_college": (F, F, F), "own_college": (F, F, F),
                  "other_college": (F, F, F)},
    "org_admin": {"own_branch": (T, T, T), "same_college": (T, T, T), "own_college": (T, T, T),
                  "other_college": (F, F, F)},
    "root_admin": {k: (T, T, T) for k in UNIT_TARGETS},
    "sysadmin": {k: (T, T, T) for k in UNIT_TARGETS},
    "auditor": {k: (F, F, F) for k in UNIT_TARGETS},
    "reviewer": {k: (F, F, F) for k in UNIT_TARGETS},
}


@pytest.fixture
def peer_a1(org, make_user):
    """Another ordinary member of branch A1 (so that no viewer is looking at themselves)."""
    return make_user("何党员", org.a1)


# One test per role walks its whole row of the matrix (an app per cell would make the suite slow);
# a failure lists every wrong cell as (target, action, expected).
@pytest.mark.parametrize("role", ROLES)
def test_person_matrix(users, peer_a1, role):
    viewer = getattr(users, role)
    wrong = []
    for target, name in PERSON_TARGETS.items():
        person = peer_a1 if target == "own_branch" else getattr(users, name)
        for i, action in enumerate((VIEW, MANAGE)):
            expected = PERSON_EXPECTED[role][target][i]
            if can(viewer, action, person) is not expected:
                wrong.append((target, action, expected))
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_unit_matrix(org, users, role):
    viewer = getattr(users, role)
    wrong = []
    for target, key in UNIT_TARGETS.items():
        unit = getattr(org, key)
        for i, action in enumerate((VIEW, MANAGE, MANAGE_MEMBERS)):
            expected = UNIT_EXPECTED[role][target][i]
            if can(viewer, action, unit) is not expected:
                wrong.append((target, action, expected))
    assert wrong == []


def test_everyone_may_view_their_own_record(users):
    assert [r for r in ROLES if not can(getattr(users, r), VIEW, getattr(users, r))] == []
    # managing oneself follows the scope: a plain member may not edit their own party record
    assert not can(users.member, MANAGE, users.member)
    assert can(users.secretary, MANAGE, users.secretary)


def test_anonymous_and_deactivated_users_may_do_nothing(db, users):
    from flask_login import AnonymousUserMixin

    assert not can(AnonymousUserMixin(), VIEW, users.member)
    assert not can(None, VIEW, users.member)
    users.sysadmin.is_active_account = False
    db.session.commit()
    assert not can(users.sysadmin, VIEW, users.member)


def test_manager_cannot_manage_someone_who_outranks_them(org, users, make_user):
    college_admin_elsewhere = make_user("钱组织员", org.a1, roles=[("org_admin", org.root)])
    sysadmin_in_branch = make_user("郑管理员", org.a1, roles=["sysadmin"])
    auditor_in_branch = make_user("冯审计", org.a1, roles=["auditor"])
    for target in (college_admin_elsewhere, sysadmin_in_branch, auditor_in_branch):
        assert can(users.secretary, VIEW, target)
        assert not can(users.secretary, MANAGE, target)
        assert not can(users.org_admin, MANAGE, target)
    assert can(users.root_admin, MANAGE, college_admin_elsewhere)
    assert can(users.sysadmin, MANAGE, sysadmin_in_branch)
    # an org admin of the college does manage an org admin of a branch inside the college
    branch_admin = make_user("褚组织员", org.a1, roles=[("org_admin", org.a1)])
    assert can(users.org_admin, MANAGE, branch_admin)
    assert not can(users.secretary, MANAGE, branch_admin)


GRANT_CASES = [
    ("org_admin", "member", "secretary", "a1", True),
    ("org_admin", "member", "org_admin", "a2", True),
    ("org_admin", "member", "reviewer", "a", True),
    ("org_admin", "member", "teacher", None, True),
    ("org_admin", "member_b", "teacher", None, False),  # person outside the subtree
    ("org_admin", "member", "secretary", "b1", False),  # unit outside the subtree
    ("org_admin", "member", "org_admin", "root", False),
    ("org_admin", "member", "sysadmin", None, False),
    ("org_admin", "member", "auditor", None, False),
    ("org_admin", "member", "secretary", "a", False),  # a secretary runs a branch, not a college
    ("org_admin", "org_admin", "reviewer", "a", False),  # not to oneself
    ("secretary", "member", "teacher", None, False),
    ("secretary", "member", "reviewer", "a1", False),
    ("teacher", "member", "teacher", None, False),
    ("auditor", "member", "teacher", None, False),
    ("root_admin", "member_b", "secretary", "b1", True),
    ("root_admin", "member_b", "sysadmin", None, False),
    ("sysadmin", "member", "sysadmin", None, True),
    ("sysadmin", "member", "auditor", None, True),
    ("sysadmin", "member", "member", None, False),
    ("sysadmin", "member", "reviewer", None, False),  # a scoped role needs its unit
    ("sysadmin", "member", "teacher", "a1", False),  # a global role takes no unit
    ("sysadmin", "sysadmin", "auditor", None, False),  # not to oneself
]


def test_grant_matrix(org, users):
    wrong = []
    for granter, person, role, unit, expected in GRANT_CASES:
        grant = RoleGrant(getattr(users, person), role, getattr(org, unit) if unit else None)
        if can(getattr(users, granter), GRANT, grant) is not expected:
            wrong.append((granter, person, role, unit, expected))
    assert wrong == []


SCOPES = {
    "member": set(), "teacher": set(), "auditor": set(), "reviewer": set(), "secretary": {"a1"},
    "org_admin": {"a1", "a2", "a"}, "root_admin": {"a1", "a2", "a", "b1", "b", "root"},
    "sysadmin": {"a1", "a2", "a", "b1", "b", "root"},
}


def test_scope_filter_selects_exactly_the_scope(db, org, users):
    from sqlalchemy import select

    from lms.org.models import OrgUnit

    for role, expected in SCOPES.items():
        ids = set(db.session.scalars(select(OrgUnit.id).where(scope_filter(getattr(users, role), OrgUnit.id))))
        assert ids == {getattr(org, k).id for k in expected}, role


# --- HTTP level ----------------------------------------------------------------------------------
def test_secretary_gets_403_on_other_branch_person(client, org, users, login_as):
    login_as(client, users.secretary)
    other = users.member_b
    assert client.get(f"/people/{other.id}").status_code == 403
    assert client.get(f"/people/{other.id}/edit").status_code == 403
    assert client.post(f"/people/{other.id}/edit", data={"name": "改名"}).status_code == 403
    assert client.post(f"/people/{other.id}/transfer", data={"transfer-org_unit_id": org.a1.id}).status_code == 403
    assert client.post(f"/people/{other.id}/deactivate").status_code == 403
    # and the same college's other branch is just as closed to a branch secretary
    assert client.get(f"/people/{users.member_a2.id}").status_code == 403
    assert client.get(f"/people/{users.member.id}").status_code == 200


@pytest.mark.parametrize("role", ["member", "teacher", "auditor", "reviewer"])
def test_roles_without_people_scope_cannot_open_people_pages(client, users, login_as, role):
    login_as(client, getattr(users, role))
    for url in ("/people", "/people/export.xlsx", "/org", "/people/import", "/people/new",
                f"/people/{users.member_b.id}"):
        assert client.get(url).status_code == 403, url


def _listed_login_ids(client) -> set[str]:
    import re

    html = client.get("/people?state=all").get_data(as_text=True)
    return set(re.findall(r"<td>(T\d{5})</td>", html))


def _exported_login_ids(client) -> list[str]:
    resp = client.get("/people/export.xlsx?state=all")
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.data)).active
    return [row[1] for row in ws.iter_rows(min_row=2, values_only=True)]


@pytest.mark.parametrize("role, units", [
    ("secretary", {"a1"}), ("secretary_b", {"b1"}), ("org_admin", {"a", "a1", "a2"}),
    ("sysadmin", {"root", "a", "b", "a1", "a2", "b1"}),
])
def test_lists_counts_and_exports_contain_exactly_the_scope(client, org, users, login_as, role, units):
    from lms.accounts.models import User
    from lms.extensions import db

    unit_ids = {getattr(org, u).id for u in units}
    expected = {u.login_id for u in db.session.scalars(db.select(User)) if u.org_unit_id in unit_ids}
    login_as(client, getattr(users, role))
    assert _listed_login_ids(client) == expected
    exported = _exported_login_ids(client)
    assert sorted(exported) == sorted(expected)
    html = client.get("/people?state=all").get_data(as_text=True)
    assert f"共 {len(expected)} 人" in html
    # the tree shows only the scope, and its counts only the scope's people
    tree = client.get("/org").get_data(as_text=True)
    for key in ("root", "a", "b", "a1", "a2", "b1"):
        unit = getattr(org, key)
        assert (f'/org/{unit.id}"' in tree) is (key in units), key
