"""Assignments of required courses: targeting by subtree and category, late joiners, transfers, deadlines,
the member's required/elective lists, and scoping of who may assign where."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from lms.courses.models import Enrollment
from lms.notifications.models import Notification
from plugins.party_school.models import Assignment, AssignmentTarget
from plugins.party_school.tests.conftest import complete_course


def _enrolled(db, user, course):
    return db.session.scalar(select(Enrollment).where(Enrollment.user_id == user.id,
                                                      Enrollment.course_id == course.id))


def test_admin_assigns_to_subtree_and_category_through_the_form(client, db, users, org, courses, make_user,
                                                                login_as):
    prob_a1 = make_user("钱预备", org.a1, category="probationary")
    prob_b1 = make_user("孙预备", org.b1, category="probationary")
    login_as(client, users.org_admin)
    page = client.get("/party-school/admin/assignments/new")
    assert page.status_code == 200 and "布置必修课程" in page.get_data(as_text=True)
    resp = client.post("/party-school/admin/assignments/new", data={
        "title": "2026年度预备党员集中学习 — 32学时", "org_unit_id": org.a.id, "categories": ["probationary"],
        "courses": [courses.a.id], "starts_on": "2026-01-01", "due_on": "2026-12-31"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    enr = _enrolled(db, prob_a1, courses.a)
    assert enr is not None and enr.source == "assigned"
    assert _enrolled(db, users.member, courses.a) is None  # a full member: another category
    assert _enrolled(db, prob_b1, courses.a) is None  # another college
    note = db.session.scalar(select(Notification).where(Notification.user_id == prob_a1.id))
    assert "2026年度预备党员集中学习" in note.title
    detail = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "党章党规专题" in detail and "0 / 1" in detail


def test_self_chosen_course_becomes_required_when_assigned(db, users, org, courses, assign):
    from lms.courses import services as course_services

    course_services.enroll(users.member, courses.b, source="self")
    db.session.commit()
    assign(users.org_admin, org.a, [courses.b])
    assert _enrolled(db, users.member, courses.b).source == "assigned"


def test_person_transferred_into_the_subtree_gets_running_assignments(db, users, org, courses, assign):
    from lms.accounts.services import transfer_person

    assign(users.org_admin, org.a, [courses.a])
    assert _enrolled(db, users.member_b, courses.a) is None
    transfer_person(users.root_admin, users.member_b, org.a2)
    db.session.commit()
    assert _enrolled(db, users.member_b, courses.a).source == "assigned"
    target = db.session.scalar(select(AssignmentTarget).where(AssignmentTarget.user_id == users.member_b.id))
    assert target.reason == "transfer"


def test_member_who_joins_later_sees_the_course_when_opening_the_list(client, db, users, org, courses, assign,
                                                                       make_user, login_as):
    assign(users.org_admin, org.a, [courses.a])
    newcomer = make_user("新党员", org.a2)
    login_as(client, newcomer)
    html = client.get("/party-school/").get_data(as_text=True)
    required = html.split('id="required"')[1].split('id="elective"')[0]
    assert "党章党规专题" in required
    assert _enrolled(db, newcomer, courses.a).source == "assigned"


def test_required_and_elective_shown_apart_with_deadlines_and_overdue(client, db, users, org, courses, assign,
                                                                      login_as):
    from lms.courses import services as course_services

    past = date.today() - timedelta(days=3)
    assign(users.org_admin, org.a, [courses.a], starts_on=past - timedelta(days=60), due_on=past,
           title="上半年专题学习")
    course_services.enroll(users.member, courses.b, source="self")
    db.session.commit()
    login_as(client, users.member)
    html = client.get("/party-school/").get_data(as_text=True)
    required = html.split('id="required"')[1].split('id="elective"')[0]
    elective = html.split('id="elective"')[1]
    assert "党章党规专题" in required and "已逾期" in required and past.isoformat() in required
    assert "党史学习教育" in elective and "党史学习教育" not in required
    complete_course(users.member, courses.a)
    db.session.commit()
    html = client.get("/party-school/").get_data(as_text=True)
    required = html.split('id="required"')[1].split('id="elective"')[0]
    assert "已完成" in required and "已逾期" not in required and "结业证书" in required


def test_secretary_assigns_only_to_their_branch(client, db, users, org, courses, login_as):
    login_as(client, users.secretary)
    data = {"title": "支部学习", "courses": [courses.a.id], "starts_on": "2026-01-01", "due_on": "2026-12-31"}
    assert client.post("/party-school/admin/assignments/new", data={**data, "org_unit_id": org.b1.id}).status_code == 403
    assert client.post("/party-school/admin/assignments/new", data={**data, "org_unit_id": org.a.id}).status_code == 403
    assert db.session.scalar(select(Assignment.id)) is None
    resp = client.post("/party-school/admin/assignments/new", data={**data, "org_unit_id": org.a1.id})
    assert resp.status_code == 302
    assert _enrolled(db, users.member, courses.a) is not None
    assert _enrolled(db, users.member_a2, courses.a) is None


def test_members_cannot_open_the_assignment_pages(client, users, login_as):
    login_as(client, users.member)
    assert client.get("/party-school/admin/assignments").status_code == 403
    assert client.get("/party-school/admin/assignments/new").status_code == 403


def test_assignment_lists_are_scoped(client, db, users, org, courses, assign, login_as):
    mine = assign(users.org_admin, org.a, [courses.a], title="计算机学院专题学习")
    other = assign(users.root_admin, org.b, [courses.b], title="文学院专题学习")
    login_as(client, users.org_admin)
    html = client.get("/party-school/admin/assignments").get_data(as_text=True)
    assert "计算机学院专题学习" in html and "文学院专题学习" not in html
    assert client.get(f"/party-school/admin/assignments/{other.id}").status_code == 403
    assert client.get(f"/party-school/admin/assignments/{mine.id}").status_code == 200


def test_bad_dates_and_missing_courses_are_field_errors(client, db, users, org, courses, login_as):
    login_as(client, users.org_admin)
    resp = client.post("/party-school/admin/assignments/new", data={
        "title": "专题学习", "org_unit_id": org.a.id, "courses": [], "starts_on": "2026-05-01",
        "due_on": "2026-04-01"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "截止日期不能早于开始日期" in html and "请至少选择一门必修课程" in html
    resp = client.post("/party-school/admin/assignments/new", data={
        "title": "专题学习", "org_unit_id": "abc", "courses": ["x"], "starts_on": "bad", "due_on": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "请填写正确的日期" in html and "请填写截止日期" in html


def test_junk_posts_never_give_a_server_error(client, db, users, org, courses, login_as):
    login_as(client, users.org_admin)
    junk = {"title": "x" * 500, "org_unit_id": "9999999", "courses": ["-1", "abc"], "categories": ["nobody"],
            "starts_on": "2026-13-45", "due_on": "'; drop", "starts_at": "yesterday", "ends_at": "", "hours": "NaN",
            "capacity": "many", "duration_kind": "forever", "subtype": "<script>", "required_minutes": "-3",
            "code": "\x00" * 20, "email": "a@" * 100}
    for url in ("/party-school/admin/assignments/new", "/party-school/admin/materials/new",
                "/party-school/admin/sessions/new?kind=training", "/party-school/admin/sessions/new?kind=branch_life",
                "/party-school/mail-address", "/party-school/admin/assignments/999/withdraw",
                "/party-school/sessions/999/checkin", "/party-school/checkin/nothing"):
        resp = client.post(url, data=junk)
        assert resp.status_code < 500, url
