"""Members behind on an assignment (学习任务) past or near its deadline: the 名单, one-click reminders (targeting,
scope, cooldown, shared rate limit, audit) and the assignment columns of the ledger export."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest


@pytest.fixture
def tasks(app, db, users, org, make_course):
    """Three assignments: overdue (A1 branch, one course), due in 3 days (A2 branch, two courses) and due in
    30 days (A1 branch) — the last is not pressing yet."""
    ps = pytest.importorskip("plugins.party_school.services")
    from plugins.stats.services import local_today

    today = local_today()
    c1, c2, c3, c4 = (make_course(t, n=1) for t in ("党章党规", "党史学习教育", "党的二十大精神", "廉洁教育"))
    overdue = ps.create_assignment(users.org_admin, title="上半年集中学习", unit=org.a1, courses=[c1],
                                   starts_on=today - timedelta(days=20), due_on=today - timedelta(days=2))
    soon = ps.create_assignment(users.org_admin, title="新生党员必修", unit=org.a2, courses=[c2, c3],
                                starts_on=today - timedelta(days=5), due_on=today + timedelta(days=3))
    later = ps.create_assignment(users.org_admin, title="年底专题学习", unit=org.a1, courses=[c4],
                                 starts_on=today - timedelta(days=1), due_on=today + timedelta(days=30))
    db.session.commit()
    return type("Tasks", (), {"overdue": overdue, "soon": soon, "later": later, "c1": c1, "c2": c2, "c3": c3,
                              "c4": c4})


def _system_notes(db):
    from lms.notifications.models import Notification

    return db.session.query(Notification).filter_by(kind="system").all()


def test_the_list_has_exactly_the_members_behind_on_overdue_or_due_soon_assignments(
        app, users, org, tasks, learn, year):
    from plugins.stats.services import dashboard

    learn.complete(users.member, tasks.c1)  # done with the overdue one
    learn.complete(users.member_a2, tasks.c2)  # one of two courses of the one due soon
    d = dashboard(org.a, year)
    got = [(b.person.name, b.assignment.title, b.done, b.assignment.courses, b.days_left) for b in d.tasks_behind]
    # the overdue assignment first (secretary and teacher by login id), then the one due in 3 days
    assert got == [(users.teacher.name, "上半年集中学习", 0, 1, -2), (users.secretary.name, "上半年集中学习", 0, 1, -2),
                   (users.member_a2.name, "新生党员必修", 1, 2, 3)]
    assert all(b.assignment.title != "年底专题学习" for b in d.tasks_behind)


def test_the_page_lists_them_with_their_deadline_status(client, users, org, login_as, tasks, learn, year):
    learn.complete(users.member, tasks.c1)
    login_as(client, users.org_admin)
    html = client.get(f"/stats/units/{org.a.id}").get_data(as_text=True)
    section = html[html.index('id="tasks-behind"'):html.index('id="scores"')]
    link = f'href="/stats/people/{users.teacher.id}?year={year}"'
    assert link in section and client.get(link[6:-1]).status_code == 200  # each name opens the member's page
    assert "学习任务未完成名单" in section and 'data-testid="remind-tasks"' in section
    assert users.teacher.name in section and users.member_a2.name in section
    assert users.member.name not in section  # completed
    assert "已逾期 2 天" in section and "还剩 3 天" in section and "0 / 2" in section
    assert "年底专题学习" not in section


def test_a_secretary_sees_only_their_branch_in_the_list(client, users, org, login_as, tasks):
    login_as(client, users.secretary)
    html = client.get(f"/stats/units/{org.a1.id}").get_data(as_text=True)
    section = html[html.index('id="tasks-behind"'):html.index('id="scores"')]
    assert users.teacher.name in section and users.member_a2.name not in section
    login_as(client, users.secretary_b)
    html = client.get(f"/stats/units/{org.b1.id}").get_data(as_text=True)
    assert 'id="tasks-behind"' not in html  # no assignment reached this branch


def test_task_reminders_notify_exactly_the_members_behind_and_are_audited(client, db, users, org, login_as, tasks,
                                                                           learn, year):
    from lms.audit.models import AuditLog

    learn.complete(users.member, tasks.c1)
    login_as(client, users.org_admin)
    resp = client.post(f"/stats/units/{org.a.id}/remind", data={"year": year, "kind": "assignments"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("#tasks-behind")
    notes = {n.user_id: n for n in _system_notes(db)}
    assert set(notes) == {users.teacher.id, users.secretary.id, users.member_a2.id}
    assert notes[users.teacher.id].title == "学习任务提醒：《上半年集中学习》已逾期"
    assert notes[users.teacher.id].url == "/party-school/"
    assert "已完成 0/2 门必修课程" in notes[users.member_a2.id].body
    assert "即将截止" in notes[users.member_a2.id].title
    row = db.session.query(AuditLog).filter_by(action="stats.remind").one()
    assert row.details["kind"] == "assignments" and row.details["sent"] == 3
    assert sorted(row.details["people"]) == sorted([users.teacher.id, users.secretary.id, users.member_a2.id])
    assert sorted(row.details["assignments"]) == sorted([tasks.overdue.id, tasks.soon.id])
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已提醒 3 名未按期完成学习任务的党员" in page


def test_one_notice_lists_every_pressing_assignment_of_a_person(client, db, users, org, login_as, make_course, year):
    ps = pytest.importorskip("plugins.party_school.services")
    from plugins.stats.services import local_today

    today = local_today()
    for title in ("甲任务", "乙任务"):
        ps.create_assignment(users.secretary, title=title, unit=org.a1, courses=[make_course(title, n=1)],
                             starts_on=today - timedelta(days=3), due_on=today + timedelta(days=1))
    db.session.commit()
    login_as(client, users.secretary)
    client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year, "kind": "assignments"})
    note = next(n for n in _system_notes(db) if n.user_id == users.member.id)
    assert note.title == "学习任务提醒：2 项学习任务尚未完成"
    assert "《甲任务》" in note.body and "《乙任务》" in note.body
    assert len([n for n in _system_notes(db) if n.user_id == users.member.id]) == 1


def test_task_reminders_have_their_own_cooldown_and_share_the_rate_limit(app, client, db, users, org, login_as,
                                                                         tasks, year):
    login_as(client, users.secretary)
    client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year, "kind": "assignments"})
    assert {n.user_id for n in _system_notes(db)} == {users.member.id, users.teacher.id, users.secretary.id}
    resp = client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year, "kind": "assignments"},
                       follow_redirects=True)
    assert len(_system_notes(db)) == 3
    assert "都已提醒过" in resp.get_data(as_text=True)
    # the credit-hour reminder is another message: the same people may still get it
    client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year})
    assert len(_system_notes(db)) == 6
    app.config["STATS_REMINDS_PER_HOUR"] = 3
    resp = client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year, "kind": "assignments"},
                       follow_redirects=True)
    assert "一小时内最多发送 3 次提醒" in resp.get_data(as_text=True)


def test_task_reminders_stay_in_scope(client, db, users, org, login_as, tasks, year):
    login_as(client, users.secretary_b)
    assert client.post(f"/stats/units/{org.a1.id}/remind",
                       data={"year": year, "kind": "assignments"}).status_code == 403
    resp = client.post(f"/stats/units/{org.b1.id}/remind", data={"year": year, "kind": "assignments"},
                       follow_redirects=True)
    assert _system_notes(db) == []
    assert "无需提醒" in resp.get_data(as_text=True)
    login_as(client, users.secretary)
    client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year, "kind": "assignments"})
    assert users.member_a2.id not in {n.user_id for n in _system_notes(db)}


def test_an_unknown_reminder_kind_is_a_friendly_error(client, db, users, org, login_as, tasks, year):
    login_as(client, users.secretary)
    resp = client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year, "kind": "everyone"},
                       follow_redirects=True)
    assert resp.status_code == 200 and "提醒类型不正确" in resp.get_data(as_text=True)
    assert _system_notes(db) == []


def test_ledger_counts_assignment_completion_per_unit_and_member(client, users, org, login_as, tasks, learn, year):
    from openpyxl import load_workbook

    learn.complete(users.member, tasks.c1)
    learn.complete(users.member, tasks.c4)  # both A1 assignments done
    learn.complete(users.member_a2, tasks.c2)
    learn.complete(users.member_a2, tasks.c3)
    login_as(client, users.org_admin)
    wb = load_workbook(io.BytesIO(client.get(f"/stats/units/{org.a.id}/ledger.xlsx?year={year}").data))
    rows = [list(r) for r in wb["按党组织"].iter_rows(values_only=True)]
    assert rows[2][12:] == ["学习任务应完成人次", "学习任务完成人次", "学习任务完成率"]
    body = {r[1]: r for r in rows[3:-1]}
    # A1: 3 people × 2 assignments, the member finished both; A2: one person, one assignment, finished
    assert body["计算机学院党委/计算机学院教工党支部"][12:] == [6, 2, round(2 / 6, 4)]
    assert body["计算机学院党委/计算机学院学生第一党支部"][12:] == [1, 1, 1.0]
    assert body["计算机学院党委"][12:] == [0, 0, None]
    assert rows[-1][1] == "合计" and rows[-1][12:] == [7, 3, round(3 / 7, 4)]
    ws = wb["按党员"]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[2][14:] == ["学习任务（项）", "已完成任务", "任务完成率"]
    by_name = {r[1]: r for r in rows[3:-1]}
    assert by_name[users.member.name][14:] == [2, 2, 1.0]
    assert by_name[users.teacher.name][14:] == [2, 0, 0.0]
    assert by_name[users.member_a2.name][14:] == [1, 1, 1.0]
    assert by_name[users.org_admin.name][14:] == [0, 0, None]
    assert rows[-1][14:] == [7, 3, round(3 / 7, 4)]
    assert ws.cell(row=4, column=17).number_format == "0.0%"
    assert ws.print_area.startswith("'按党员'!$A$1:$Q$") or ws.print_area.startswith("A1:Q")


def test_a_secretary_ledger_counts_only_their_branch_assignments(client, users, org, login_as, tasks, learn, year):
    from openpyxl import load_workbook

    login_as(client, users.secretary)
    wb = load_workbook(io.BytesIO(client.get(f"/stats/units/{org.a1.id}/ledger.xlsx?year={year}").data))
    rows = [list(r) for r in wb["按党组织"].iter_rows(values_only=True)]
    assert [r[1] for r in rows[3:-1]] == ["计算机学院党委/计算机学院教工党支部"]
    assert rows[-1][12:] == [6, 0, 0.0]  # the A2 assignment is not counted


def test_reminders_read_in_the_readers_language(client, db, users, org, login_as, tasks, year):
    login_as(client, users.secretary)
    client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year, "kind": "assignments"})
    client.post(f"/stats/units/{org.a1.id}/remind", data={"year": year})
    login_as(client, users.teacher)
    html = client.get("/notifications/").get_data(as_text=True)
    assert "学习任务提醒：《上半年集中学习》已逾期" in html and "学时提醒：" in html
    client.set_cookie("lang", "en")
    html = client.get("/notifications/").get_data(as_text=True)
    assert "Assignment reminder: “上半年集中学习” is overdue" in html
    assert "Credit hours reminder: 32 hours short for" in html
