"""AUTH-06 no default accounts on a fresh install; SESS-04 a revoked role stops working on the next request;
AC-04 three-role separation (the auditor writes no business data, nobody changes audit rows through the app)."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from tests.security.test_csrf_everywhere import _database_checksum

COMMON_PAIRS = [
    ("admin", "admin"), ("admin", "123456"), ("admin", "admin123"), ("admin", "password"), ("admin", "Admin@123"),
    ("administrator", "administrator"), ("root", "root"), ("root", "123456"), ("root", "toor"),
    ("sysadmin", "sysadmin"), ("sysadmin", "password"), ("system", "system"), ("test", "test"),
    ("guest", "guest"), ("user", "user"), ("auditor", "auditor"), ("audit", "audit123"), ("secadmin", "secadmin"),
    ("lms", "lms"), ("dangxiao", "Dangxiao@2026"),
]


def test_a_fresh_install_has_no_account_and_accepts_no_common_pair(app, db):
    from lms.accounts.models import User
    from lms.auth.models import UserSession

    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    client = app.test_client()
    codes = [client.post("/login", data={"login_id": login_id, "password": pw}).status_code
             for login_id, pw in COMMON_PAIRS]
    assert len(COMMON_PAIRS) == 20 and set(codes) <= {200, 423}  # the form again (or "locked"), never a login
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
    assert client.get("/account").status_code == 302


@pytest.mark.parametrize("role, url", [
    ("secretary", "/people/{member}"),
    ("sysadmin", "/admin/audit"),
    ("teacher", "/teach"),
    ("reviewer", "/microlecture/review"),
])
def test_a_revoked_role_stops_working_on_the_next_request(client, db, users, login_as, role, url):
    from lms.accounts.models import RoleAssignment

    holder = getattr(users, role)
    url = url.format(member=users.member.id)
    login_as(client, holder)
    assert client.get(url).status_code == 200
    db.session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == holder.id,
                                                    RoleAssignment.role == role))
    db.session.commit()
    assert client.get(url).status_code == 403  # same session, no new login needed


def test_the_auditor_writes_no_business_data(client, db, users, org, login_as):
    login_as(client, users.auditor)
    before = _database_checksum(db, skip=("audit_log",))
    writes = [
        ("/people/new", {"name": "新人", "login_id": "N0001", "org_unit_id": org.a1.id}),
        (f"/people/{users.member.id}/edit", {"name": "改名"}),
        (f"/people/{users.member.id}/deactivate", {}),
        (f"/people/{users.member.id}/roles", {"role": "sysadmin"}),
        (f"/org/{org.a1.id}/rename", {"name": "改名"}),
        (f"/org/{org.a.id}/children", {"name": "新支部", "kind": "branch"}),
        (f"/org/{org.a1.id}/delete", {}),
        (f"/admin/people/{users.member.id}/password/reset", {}),
        (f"/admin/people/{users.member.id}/sessions/end", {}),
        ("/admin/xapi/clients", {"name": "后门", "can_read": "y", "can_write": "y"}),
    ]
    for url, form in writes:
        assert client.post(url, data=form).status_code == 403, url
    db.session.expire_all()
    assert _database_checksum(db, skip=("audit_log",)) == before


def test_no_route_changes_audit_rows_and_roles_share_no_capability(app, users):
    from lms.authz import can

    audit_rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("audit.")]
    assert audit_rules and all(r.methods <= {"GET", "HEAD", "OPTIONS"} for r in audit_rules)
    areas = ("audit", "people", "teach", "review", "admin:plugins", "admin:system", "admin:xapi")
    caps = {who: {a for a in areas if can(getattr(users, who), "view", a)} for who in ("auditor", "sysadmin")}
    assert caps["auditor"] == {"audit"}  # the audit administrator has nothing else …
    assert not can(users.auditor, "view", users.member) and not can(users.auditor, "manage", users.member)
    # … and the system administrator reads the log (as 等保 allows) but no route lets anyone change it.
    assert "admin:system" in caps["sysadmin"]
