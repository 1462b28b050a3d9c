"""Yearly requirements (32 / 56, overrides, exemptions), 我的学时 and the administration pages."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from lms.audit.models import AuditLog
from lms.courses.services import update_progress
from lms.credits import services
from lms.credits.models import CreditExemption, CreditRule


def test_yearly_requirement_by_role_override_and_exemption(app, db, users, org, make_user):
    year = services.local_year()
    assert services.requirement_for(users.member, year).hours == Decimal("32")
    assert services.requirement_for(users.secretary, year).hours == Decimal("56")
    app.config["SECRETARY_YEARLY_REQUIREMENT"] = 60
    assert services.requirement_for(users.secretary, year).hours == Decimal("60")

    services.set_requirement(org.a.id, year, "member", 40, user=users.org_admin)
    services.set_requirement(org.a1.id, year, "member", 36, user=users.org_admin)
    assert services.requirement_for(users.member, year).hours == Decimal("36")  # nearest unit wins
    assert services.requirement_for(users.member_a2, year).hours == Decimal("40")
    assert services.requirement_for(users.member_b, year).hours == Decimal("32")
    assert services.requirement_for(users.member, year - 1).hours == Decimal("32")  # per year

    elderly = make_user("老党员", org.a1, joined_on=None)
    services.record_exemption(elderly, year, "年老体弱，行动不便", 8, user=users.org_admin)
    req = services.requirement_for(elderly, year)
    assert req.base == Decimal("36") and req.hours == Decimal("8") and req.exemption.reason.startswith("年老")
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "credits.exemption"))
    assert row.actor_id == users.org_admin.id and row.details["reduced_hours"] == "8.00"


def test_my_credit_hours_page_breaks_down_by_course_and_source(client, db, users, org, login_as, make_course):
    course = make_course("党的理论课", credit_hours="4")
    for ls in course.lessons:
        update_progress(users.member, ls, complete=True)
    services.record_in_person(users.member, source_type="training", source_id="t1", session="half_day",
                              title="党员冬训", evidence={"url": "/trainings/1", "label": "签到表"})
    services.award(users.member, source_type="reading", source_id="book-1", hours=0.5,
                   evidence={"url": "https://evil.example/x", "label": "读书笔记"}, title="读书活动")
    db.session.commit()
    login_as(client, users.member)
    page = client.get("/credits/my").get_data(as_text=True)
    assert "8.5" in page and "32" in page and "23.5" in page  # earned, requirement, remaining
    assert "党的理论课" in page and "课程学习" in page and "培训" in page and "阅读" in page
    assert f'href="/courses/{course.id}"' in page  # evidence links
    assert 'href="/trainings/1"' in page and "签到表" in page
    services.award(users.member, source_type="reading", source_id="book-2", hours=0,
                   evidence={"url": "/\\evil.example/y", "label": "笔记二"})
    db.session.commit()
    page = client.get("/credits/my").get_data(as_text=True)
    assert "evil.example" not in page and "笔记二" in page  # only same-site evidence links are followed
    old = client.get(f"/credits/my?year={services.local_year() - 1}").get_data(as_text=True)
    assert "本年度还没有学时记录" in old


def test_people_see_their_own_ledger_and_secretaries_their_branch(client, users, login_as):
    login_as(client, users.member_b)
    assert client.get(f"/credits/people/{users.member.id}").status_code == 403
    login_as(client, users.secretary)
    assert client.get(f"/credits/people/{users.member.id}").status_code == 200
    login_as(client, users.secretary_b)
    assert client.get(f"/credits/people/{users.member.id}").status_code == 403


def test_admin_pages_are_scoped(client, users, org, login_as):
    login_as(client, users.member)
    assert client.get("/credits/admin").status_code == 403
    assert client.get(f"/credits/admin/units/{org.a1.id}").status_code == 403
    login_as(client, users.secretary)
    assert client.get(f"/credits/admin/units/{org.a1.id}").status_code == 403
    login_as(client, users.org_admin)
    listing = client.get("/credits/admin").get_data(as_text=True)
    assert org.a1.name in listing and org.b1.name not in listing
    assert client.get(f"/credits/admin/units/{org.a1.id}").status_code == 200
    assert client.get(f"/credits/admin/units/{org.b1.id}").status_code == 403
    assert client.post(f"/credits/admin/units/{org.b1.id}/rule", data={"kind": "course_fixed"}).status_code == 403


def test_admin_saves_a_new_rule_version_through_the_form(client, db, users, org, login_as):
    login_as(client, users.org_admin)
    year = services.local_year()
    url = f"/credits/admin/units/{org.a.id}/rule?year={year}"
    resp = client.post(url, data={"kind": "media_tiers", "tiers": "30=1\n15=0.5\n0=0.25", "passed_test": "0.5"})
    assert resp.status_code == 302
    resp = client.post(url, data={"kind": "media_tiers", "tiers": "45=2\n0=0.5", "passed_test": "1",
                                  "note": "提高长视频学时"})
    assert resp.status_code == 302
    rules = db.session.scalars(select(CreditRule).order_by(CreditRule.version)).all()
    assert [(r.version, r.params["tiers"][0]["hours"]) for r in rules] == [(1, 1.0), (2, 2.0)]
    page = client.get(f"/credits/admin/units/{org.a.id}?year={year}").get_data(as_text=True)
    assert "第 2 版" in page and "第 1 版" in page and "提高长视频学时" in page

    bad = client.post(url, data={"kind": "media_tiers", "tiers": "三十分钟一学时"})
    assert bad.status_code == 400 and "每行写成“分钟=学时”" in bad.get_data(as_text=True)
    assert db.session.scalar(select(CreditRule).order_by(CreditRule.version.desc())).version == 2


def test_admin_records_requirement_and_exemption_with_errors_beside_fields(client, db, users, org, login_as):
    login_as(client, users.org_admin)
    year = services.local_year()
    resp = client.post(f"/credits/admin/units/{org.a1.id}/requirements?year={year}",
                       data={"category": "secretary", "hours": "60"})
    assert resp.status_code == 302
    assert services.requirement_for(users.secretary, year).hours == Decimal("60")

    ex_url = f"/credits/admin/units/{org.a1.id}/exemptions?year={year}"
    missing = client.post(ex_url, data={"login_id": users.member.login_id, "reduced_hours": "0", "reason": ""})
    assert missing.status_code == 400 and "请填写减免原因" in missing.get_data(as_text=True)
    outside = client.post(ex_url, data={"login_id": users.member_b.login_id, "reduced_hours": "0",
                                        "reason": "长期患病"})
    assert outside.status_code == 400 and "找不到该学号/工号" in outside.get_data(as_text=True)
    too_high = client.post(ex_url, data={"login_id": users.member.login_id, "reduced_hours": "40",
                                         "reason": "长期患病"})
    assert too_high.status_code == 400 and "不能高于原要求" in too_high.get_data(as_text=True)
    ok = client.post(ex_url, data={"login_id": users.member.login_id, "reduced_hours": "0", "reason": "长期患病住院"})
    assert ok.status_code == 302
    assert services.requirement_for(users.member, year).hours == Decimal("0")
    page = client.get(f"/credits/admin/units/{org.a1.id}?year={year}").get_data(as_text=True)
    assert "长期患病住院" in page and users.member.name in page
    ex = db.session.scalar(select(CreditExemption))
    client.post(f"/credits/admin/exemptions/{ex.id}/delete?unit_id={org.a1.id}")
    assert db.session.scalar(select(CreditExemption)) is None
    actions = {a.action for a in db.session.scalars(select(AuditLog))}
    assert {"credits.requirement_set", "credits.exemption", "credits.exemption_remove"} <= actions


def test_unit_overview_shows_hours_against_requirement_in_scope(client, db, users, org, login_as):
    services.award(users.member, source_type="reading", source_id="r1", hours=33, evidence={})
    services.award(users.secretary, source_type="reading", source_id="r2", hours=40, evidence={})
    db.session.commit()
    login_as(client, users.secretary)
    home = client.get("/").get_data(as_text=True)
    assert f'href="/credits/units/{org.a1.id}/people"' in home  # 支部学时 in the admin menu
    page = client.get(f"/credits/units/{org.a1.id}/people").get_data(as_text=True)
    assert users.member.name in page and users.secretary.name in page and users.member_a2.name not in page
    assert "已完成" in page and "差 16 学时" in page  # the secretary owes 56
    assert client.get(f"/credits/units/{org.b1.id}/people").status_code == 403
    assert client.get(f"/credits/units/{org.a.id}/people").status_code == 403
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "credits.view_unit"))
    assert row.actor_id == users.secretary.id and row.details["rows"] >= 2


def test_rule_change_for_a_large_subtree_recomputes_in_the_background(app, client, db, users, org, login_as,
                                                                      make_course):
    from lms.credits.models import CreditEntry

    app.config["CREDITS_RECOMPUTE_INLINE_MAX"] = 0  # every subtree counts as large
    course = make_course("后台重算", credit_hours="5")
    for ls in course.lessons:
        update_progress(users.member, ls, complete=True)
    db.session.commit()
    login_as(client, users.org_admin)
    resp = client.post(f"/credits/admin/units/{org.a.id}/rule?year={services.local_year()}",
                       data={"kind": "media_tiers", "tiers": "0=0.5"}, follow_redirects=True)
    assert "正在后台按新规则重算" in resp.get_data(as_text=True)
    # the queue runs tasks immediately in tests: the course entry became two lesson entries
    entries = db.session.scalars(select(CreditEntry).where(CreditEntry.user_id == users.member.id)).all()
    assert sorted((e.source_type, e.hours) for e in entries) == [("lesson", Decimal("0.5"))] * 2
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "credits.recompute"))
    assert row.note == "task" and row.actor_id == users.org_admin.id
