"""Dashboards: scoping, completion rates, the requirement distribution, quiz scores, trends, the member page."""
from __future__ import annotations

from decimal import Decimal

import pytest


def _get(client, url):
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def test_index_sends_a_secretary_to_their_branch(client, users, org, login_as):
    login_as(client, users.secretary)
    resp = client.get("/stats/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith(f"/stats/units/{org.a1.id}")


def test_secretary_sees_only_their_branch(client, users, org, login_as, make_course, learn):
    c = make_course()
    learn.complete(users.member, c)
    learn.complete(users.member_b, c)
    login_as(client, users.secretary)
    html = _get(client, f"/stats/units/{org.a1.id}")
    assert users.member.name in html and users.teacher.name in html
    assert users.member_b.name not in html and users.member_a2.name not in html
    for unit in (org.a, org.root, org.b1, org.a2):
        assert client.get(f"/stats/units/{unit.id}").status_code == 403
        assert client.get(f"/stats/units/{unit.id}/ledger.xlsx").status_code == 403
    assert client.get(f"/stats/people/{users.member_b.id}").status_code == 403
    assert client.get(f"/stats/people/{users.member.id}").status_code == 200


def test_members_teachers_and_auditors_have_no_dashboard(client, users, org, login_as):
    for who in (users.member, users.teacher, users.auditor, users.reviewer):
        login_as(client, who)
        assert client.get("/stats/").status_code == 403
        assert client.get(f"/stats/units/{org.a1.id}").status_code == 403
    client.post("/logout")


def test_org_admin_rows_are_their_children_and_nothing_outside(client, users, org, login_as, make_course, learn):
    c = make_course()
    learn.complete(users.member_b, c)
    login_as(client, users.org_admin)
    resp = client.get("/stats/")
    assert resp.headers["Location"].startswith(f"/stats/units/{org.a.id}")
    html = _get(client, f"/stats/units/{org.a.id}")
    assert org.a1.name in html and org.a2.name in html and "（直属）" in html
    assert org.b1.name not in html and users.member_b.name not in html
    assert client.get(f"/stats/units/{org.b.id}").status_code == 403
    assert client.get(f"/stats/units/{org.root.id}").status_code == 403


def test_sysadmin_starts_at_the_root(client, users, org, login_as):
    login_as(client, users.sysadmin)
    assert client.get("/stats/").headers["Location"].startswith(f"/stats/units/{org.root.id}")
    html = _get(client, f"/stats/units/{org.root.id}")
    assert org.a.name in html and org.b.name in html


def test_completion_rate_of_a_branch_follows_the_projection(app, users, org, make_course, learn, year):
    from plugins.stats.services import dashboard

    c = make_course()
    learn.enroll(users.member, c)
    learn.enroll(users.secretary, c)
    learn.enroll(users.member_a2, c)
    rows = {r.key: r for r in dashboard(org.a, year).rows}
    assert (rows[org.a1.id].enrolled, rows[org.a1.id].completed) == (2, 0)
    learn.complete(users.member, c)
    d = dashboard(org.a, year)
    rows = {r.key: r for r in d.rows}
    assert (rows[org.a1.id].enrolled, rows[org.a1.id].completed) == (2, 1)
    assert rows[org.a1.id].completion_rate == 0.5
    assert rows[org.a2.id].completion_rate == 0.0
    assert d.total.completion_rate == pytest.approx(1 / 3)
    # the branch level lists people
    d = dashboard(org.a1, year)
    assert d.by == "person"
    assert {r.key: r.completed for r in d.rows}[users.member.id] == 1


def test_course_filter_narrows_the_rates_to_one_course(app, users, org, make_course, learn, year):
    from plugins.stats.services import dashboard

    c1, c2 = make_course("党史学习教育"), make_course("党章党规")
    learn.complete(users.member, c1)
    learn.enroll(users.member, c2)
    rows = {r.key: r for r in dashboard(org.a, year, course_id=c2.id).rows}
    assert (rows[org.a1.id].enrolled, rows[org.a1.id].completed) == (1, 0)
    d = dashboard(org.a, year)
    assert {c.title: (c.enrolled, c.completed) for c in d.courses} == {"党史学习教育": (1, 1), "党章党规": (1, 0)}


def test_requirements_agree_with_the_credit_service(app, db, users, org, year):
    from lms.credits import services as credits
    from plugins.stats.services import person_figures

    credits.set_requirement(org.a1.id, year, "member", 40)
    credits.set_requirement(org.a.id, year, "member", 36)
    credits.record_exemption(users.member_a2, year, "长期病休", 10)
    db.session.commit()
    people = person_figures(org.root.id, year, "person")
    assert people, "the subtree has people"
    for p in people:
        from lms.accounts.models import User

        assert p.requirement == credits.requirement_for(db.session.get(User, p.id), year).hours, p.name
    by_id = {p.id: p for p in people}
    assert by_id[users.member.id].requirement == Decimal("40.00")
    assert by_id[users.secretary.id].requirement == Decimal("56.00")
    assert by_id[users.member_a2.id].requirement == Decimal("10.00") and by_id[users.member_a2.id].exempt


def test_distribution_and_behind_list(app, db, users, org, make_course, learn, year):
    from lms.credits import services as credits
    from plugins.stats.services import dashboard

    c = make_course(hours="32")
    learn.complete(users.member, c)  # 32 of 32: met
    credits.award(users.teacher, source_type="training", source_id="t1", hours=10, title="专题培训",
                  evidence={"organizer": "党委组织部"})  # 10 of 32
    db.session.commit()
    d = dashboard(org.a1, year)
    assert d.total.people == 3
    buckets = {k: n for k, _, n in d.distribution}
    assert buckets["met"] == 1 and buckets["lt50"] == 1 and buckets["none"] == 1  # the secretary has 0 of 56
    assert [p.name for p in d.behind] == [users.secretary.name, users.teacher.name]  # largest shortfall first
    assert d.behind[1].shortfall == Decimal("22.00")


def test_quiz_score_distribution(app, users, org, make_course, learn, year):
    from plugins.stats.services import dashboard

    c = make_course(quiz=True)
    learn.quiz(users.member, c, 0.95)
    learn.quiz(users.secretary, c, 0.55)
    learn.quiz(users.member_a2, c, 0.72)
    d = dashboard(org.a, year)
    assert d.scores == {"90": 1, "lt60": 1, "70": 1}
    assert d.score_avg == pytest.approx((0.95 + 0.55 + 0.72) / 3)
    rows = {r.key: r for r in d.rows}
    assert rows[org.a1.id].quiz_count == 2 and rows[org.a2.id].quiz_avg == pytest.approx(0.72)


def test_monthly_trend_counts_hours_and_completions(app, users, org, make_course, learn, year):
    from lms.timeutil import utcnow
    from plugins.stats.services import dashboard, local_year

    c = make_course(hours="3")
    learn.complete(users.member, c)
    d = dashboard(org.a, year)
    month = int(__import__("lms.templating", fromlist=["local_dt"]).local_dt(utcnow(), "%m"))
    assert local_year() == year
    assert d.months["hours"][month - 1] == Decimal("3.00")
    assert d.months["completions"][month - 1] == 1
    assert sum(d.months["completions"]) == 1


def test_monthly_trend_follows_beijing_months_at_their_boundaries(app, db, users, org, year):
    """A line earned at 00:00 on 1 March Beijing time (16:00 UTC the day before) is March's; a second earlier,
    February's; the first instant of the year (16:00 UTC on 31 December) is January's."""
    from datetime import timedelta

    from lms.credits import services as credits
    from plugins.stats.services import dashboard, month_starts

    starts = month_starts(year)
    for i, (at, hours) in enumerate([(starts[2], 5), (starts[2] - timedelta(seconds=1), 2), (starts[0], 1),
                                     (starts[12] - timedelta(microseconds=1), 4)]):
        credits.award(users.member, source_type="training", source_id=f"m{i}", hours=hours, title="培训",
                      evidence={"organizer": "党委组织部"}, earned_at=at)
    db.session.commit()
    hours = dashboard(org.a, year).months["hours"]
    assert (hours[0], hours[1], hours[2], hours[11]) == (Decimal("1.00"), Decimal("2.00"), Decimal("5.00"),
                                                         Decimal("4.00"))
    assert sum(hours) == Decimal("12.00")


def test_dashboard_page_has_charts_with_tables_and_no_inline_script(client, users, org, login_as, make_course,
                                                                      learn):
    c = make_course(quiz=True)
    learn.complete(users.member, c)
    learn.quiz(users.member, c, 0.8)
    login_as(client, users.org_admin)
    html = _get(client, f"/stats/units/{org.a.id}")
    for chart in ("completion", "distribution", "scores", "monthly"):
        assert f'id="chart-{chart}"' in html
    assert html.count("<table") >= 5
    assert "/static/plugins/stats/vendor/echarts/echarts.min.js" in html
    assert "<script>" not in html and " style=" not in html
    resp = client.get("/static/plugins/stats/vendor/echarts/echarts.min.js")
    assert resp.status_code == 200 and resp.data.startswith(b"\n/*") or b"echarts" in resp.data[:2000]
    resp.close()


def test_bad_query_values_never_fail(client, users, org, login_as):
    login_as(client, users.org_admin)
    for q in ("year=abc", "year=1900", "course=abc", "course=999999", "year=99999999999999999999"):
        assert client.get(f"/stats/units/{org.a.id}?{q}").status_code == 200, q
    assert client.get("/stats/units/999999").status_code == 404
    assert client.get("/stats/people/999999").status_code == 404


def test_member_page_links_each_credit_line_to_its_statements(client, users, org, login_as, make_course, learn, year):
    from lms.audit.models import AuditLog
    from lms.extensions import db

    c = make_course()
    learn.complete(users.member, c)
    login_as(client, users.secretary)
    html = _get(client, f"/stats/people/{users.member.id}?year={year}")
    assert f"/records/people/{users.member.id}?activity=http://lms.test/xapi/activities/course/{c.id}" in html
    row = db.session.query(AuditLog).filter_by(action="stats.view_person").one()
    assert row.target_id == str(users.member.id) or int(row.target_id) == users.member.id


def test_without_xapi_and_party_school_the_pages_still_work(app_factory, password_hash):
    """Both soft dependencies off: completion per course, the ledger evidence instead of statements."""
    from lms.accounts.models import RoleAssignment, User
    from lms.courses import services as courses
    from lms.courses.models import Course, Lesson
    from lms.extensions import db
    from lms.org.services import create_unit

    app = app_factory(PLUGINS=["article", "stats"])
    with app.app_context():
        root = create_unit("某大学党委", "committee")
        branch = create_unit("机关第一党支部", "branch", root)
        sec = User(login_id="S1", name="钱书记", org_unit_id=branch.id, password_hash=password_hash,
                   must_change_password=False)
        m = User(login_id="M1", name="孙党员", org_unit_id=branch.id, password_hash=password_hash,
                 must_change_password=False)
        db.session.add_all([sec, m])
        db.session.flush()
        db.session.add(RoleAssignment(user_id=sec.id, role="secretary", org_unit_id=branch.id))
        c = Course(title="党的二十大精神", status="published", credit_hours=Decimal("4"))
        db.session.add(c)
        db.session.flush()
        lesson = Lesson(course_id=c.id, title="第一讲", type="article")
        db.session.add(lesson)
        db.session.commit()
        courses.update_progress(m, lesson, add_seconds=900, complete=True)
        db.session.commit()
        client = app.test_client()
        from lms.testing import TEST_PASSWORD

        resp = client.post("/login", data={"login_id": "S1", "password": TEST_PASSWORD})
        assert resp.status_code in (302, 303)
        html = client.get(f"/stats/units/{branch.id}").get_data(as_text=True)
        assert "孙党员" in html and "党的二十大精神" in html
        html = client.get(f"/stats/people/{m.id}").get_data(as_text=True)
        assert "/records/people" not in html
        assert "选课记录 #" in html and "学习记录插件未启用" in html


def test_the_garbage_collector_is_back_on_after_a_page(client, users, org, login_as):
    import gc

    from plugins.stats.services import bulk_figures

    assert gc.isenabled()
    login_as(client, users.org_admin)
    assert client.get(f"/stats/units/{org.a.id}").status_code == 200
    assert client.get(f"/stats/units/{org.a.id}/ledger.xlsx").status_code == 200
    assert gc.isenabled()
    gc.disable()  # a caller that had switched it off keeps it off
    try:
        with bulk_figures():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
