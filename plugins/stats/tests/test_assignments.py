"""With the party_school plugin on, completion is measured per assignment (required courses) and org unit."""
from __future__ import annotations

from datetime import date, timedelta

import pytest


@pytest.fixture
def assignment(app, db, users, org, make_course):
    ps = pytest.importorskip("plugins.party_school.services")
    c1, c2 = make_course("党史学习教育", n=1), make_course("党章党规", n=1)
    a = ps.create_assignment(users.org_admin, title="2026年度党员集中学习 — 32学时", unit=org.a1, courses=[c1, c2],
                             starts_on=date.today() - timedelta(days=1), due_on=date.today() + timedelta(days=30))
    db.session.commit()
    return a, c1, c2


def test_assignment_completion_per_unit(app, users, org, assignment, learn, year):
    from plugins.stats.services import dashboard

    a, c1, c2 = assignment
    d = dashboard(org.a, year)
    assert [x.title for x in d.assignments] == [a.title]
    rows = {r.key: r for r in d.rows}
    reached = rows[org.a1.id].targeted
    assert reached == 3 and rows[org.a1.id].assigned_done == 0  # member, teacher, secretary of the branch
    assert rows[org.a2.id].targeted == 0
    learn.complete(users.member, c1)
    assert {r.key: r for r in dashboard(org.a, year).rows}[org.a1.id].assigned_done == 0  # one of two courses
    learn.complete(users.member, c2)
    d = dashboard(org.a, year, assignment_id=a.id)
    row = {r.key: r for r in d.rows}[org.a1.id]
    assert (row.targeted, row.assigned_done) == (3, 1) and row.assignment_rate == pytest.approx(1 / 3)
    assert d.assignments[0].completed == 1 and d.selected_assignment.id == a.id


def test_dashboard_page_shows_the_assignment_table(client, users, org, login_as, assignment, learn):
    a, c1, c2 = assignment
    learn.complete(users.member, c1)
    learn.complete(users.member, c2)
    login_as(client, users.secretary)
    html = client.get(f"/stats/units/{org.a1.id}").get_data(as_text=True)
    assert a.title in html and 'id="chart-assignment"' in html
    assert f'data-arow="{users.member.id}"' in html
    # another branch's secretary sees no assignment figures for people outside their branch
    login_as(client, users.secretary_b)
    html = client.get(f"/stats/units/{org.b1.id}").get_data(as_text=True)
    assert a.title not in html
