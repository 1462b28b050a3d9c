"""Trainings and branch life: creation in scope, sign-up, check-in by code or QR, hours credited once with
the organizer as evidence, wrong and expired codes refused, guessing stopped."""
from __future__ import annotations

import re
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from lms.credits.models import CreditEntry
from lms.timeutil import utcnow
from plugins.party_school.models import Attendance, Session


def _local(dt):
    from datetime import UTC

    from plugins.party_school.services import TZ
    return dt.replace(tzinfo=UTC).astimezone(TZ).strftime("%Y-%m-%dT%H:%M")


def _create(client, org_unit, kind="training", start=None, **extra):
    start = start or utcnow() + timedelta(minutes=10)
    data = {"subtype": "training" if kind == "training" else "theme_day", "title": "基层党务干部专题培训",
            "org_unit_id": org_unit.id, "starts_at": _local(start), "ends_at": _local(start + timedelta(hours=3)),
            "location": "行政楼 101", "duration_kind": "hours", "hours": "3"}
    data.update(extra)
    return client.post(f"/party-school/admin/sessions/new?kind={kind}", data=data)


def _entries(db, user):
    return list(db.session.scalars(select(CreditEntry).where(CreditEntry.user_id == user.id)))


def test_training_check_in_by_code_credits_the_hours_once(client, db, users, org, login_as):
    login_as(client, users.org_admin)
    resp = _create(client, org.a)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    s = db.session.scalar(select(Session))
    screen = client.get(f"/party-school/sessions/{s.id}/screen").get_data(as_text=True)
    assert "<svg" in screen and s.checkin_code in screen and f"/party-school/checkin/{s.checkin_token}" in screen
    login_as(client, users.member)
    wrong = client.post(f"/party-school/sessions/{s.id}/checkin", data={"code": "000000" if s.checkin_code != "000000"
                                                                         else "111111"})
    assert wrong.status_code == 400 and "签到码不正确" in wrong.get_data(as_text=True)
    assert _entries(db, users.member) == []
    ok = client.post(f"/party-school/sessions/{s.id}/checkin", data={"code": s.checkin_code}, follow_redirects=True)
    assert "签到成功，计入 3 学时" in ok.get_data(as_text=True)
    again = client.post(f"/party-school/sessions/{s.id}/checkin", data={"code": s.checkin_code}, follow_redirects=True)
    assert "学时只计一次" in again.get_data(as_text=True)
    entries = _entries(db, users.member)
    assert len(entries) == 1 and entries[0].source_type == "training" and float(entries[0].hours) == 3
    assert entries[0].evidence["organizer_id"] == users.org_admin.id
    assert entries[0].evidence["organizer"] == users.org_admin.name
    my = client.get("/credits/my").get_data(as_text=True)
    assert "基层党务干部专题培训" in my and f'href="/party-school/sessions/{s.id}"' in my


def test_expired_and_early_codes_are_refused(client, db, users, org, login_as):
    login_as(client, users.org_admin)
    _create(client, org.a, start=utcnow() + timedelta(days=2))
    s = db.session.scalar(select(Session))
    login_as(client, users.member)
    early = client.post(f"/party-school/sessions/{s.id}/checkin", data={"code": s.checkin_code})
    assert early.status_code == 400 and "签到尚未开始" in early.get_data(as_text=True)
    with freeze_time(s.ends_at + timedelta(hours=2)):
        login_as(client, users.member)
        late = client.post(f"/party-school/sessions/{s.id}/checkin", data={"code": s.checkin_code})
    assert late.status_code == 400 and "签到已结束" in late.get_data(as_text=True)
    assert _entries(db, users.member) == []


def test_guessing_the_code_is_stopped(client, app, db, users, org, login_as):
    app.config["PARTY_SCHOOL_CHECKIN_MAX_FAILURES"] = 3
    login_as(client, users.org_admin)
    _create(client, org.a)
    s = db.session.scalar(select(Session))
    login_as(client, users.member)
    wrong = "000000" if s.checkin_code != "000000" else "111111"
    for _ in range(3):
        client.post(f"/party-school/sessions/{s.id}/checkin", data={"code": wrong})
    resp = client.post(f"/party-school/sessions/{s.id}/checkin", data={"code": s.checkin_code})
    assert resp.status_code == 400 and "输错次数过多" in resp.get_data(as_text=True)
    assert _entries(db, users.member) == []


def test_branch_life_by_qr_counts_by_the_in_person_rule(client, db, users, org, login_as):
    login_as(client, users.secretary)
    assert _create(client, org.b1, kind="branch_life", title="主题党日").status_code == 403
    assert _create(client, org.a1, kind="branch_life", title="6月主题党日：重温入党誓词",
                   duration_kind="half_day").status_code == 302
    s = db.session.scalar(select(Session))
    assert s.kind == "branch_life" and s.organizer_id == users.secretary.id
    login_as(client, users.member)
    page = client.get(f"/party-school/checkin/{s.checkin_token}")
    assert page.status_code == 200 and "确认签到" in page.get_data(as_text=True)
    assert not _entries(db, users.member)  # opening the QR link alone changes nothing
    done = client.post(f"/party-school/checkin/{s.checkin_token}", follow_redirects=True)
    assert "签到成功，计入 4 学时" in done.get_data(as_text=True)
    entry = _entries(db, users.member)[0]
    assert entry.source_type == "branch_life" and float(entry.hours) == 4 and entry.evidence["session"] == "half_day"
    assert db.session.scalar(select(Attendance.method)) == "qr"
    login_as(client, users.member_b)  # another branch: the QR code is not theirs
    assert client.post(f"/party-school/checkin/{s.checkin_token}").status_code == 403
    assert client.get(f"/party-school/sessions/{s.id}").status_code == 404


def test_branch_life_needs_a_branch_and_sign_up_respects_capacity(client, db, users, org, make_user, login_as):
    login_as(client, users.org_admin)
    resp = _create(client, org.a, kind="branch_life", title="主题党日")
    assert resp.status_code == 400
    assert _create(client, org.a, capacity="1", signup_required="y").status_code == 302
    s = db.session.scalar(select(Session))
    login_as(client, users.member)
    page = client.post(f"/party-school/sessions/{s.id}/signup", follow_redirects=True).get_data(as_text=True)
    assert "报名成功" in page
    login_as(client, users.member_a2)
    page = client.post(f"/party-school/sessions/{s.id}/signup", follow_redirects=True).get_data(as_text=True)
    assert "报名人数已满" in page
    refused = client.post(f"/party-school/sessions/{s.id}/checkin", data={"code": s.checkin_code})
    assert refused.status_code == 400 and "尚未报名" in refused.get_data(as_text=True)
    login_as(client, users.member)
    ok = client.post(f"/party-school/sessions/{s.id}/checkin", data={"code": s.checkin_code}, follow_redirects=True)
    assert "签到成功" in ok.get_data(as_text=True)


def test_members_cannot_open_the_screen_or_create_sessions(client, db, users, org, login_as):
    login_as(client, users.org_admin)
    _create(client, org.a)
    s = db.session.scalar(select(Session))
    login_as(client, users.member)
    assert client.get(f"/party-school/sessions/{s.id}/screen").status_code == 403
    assert client.get("/party-school/admin/sessions/new").status_code == 403
    html = client.get(f"/party-school/sessions/{s.id}").get_data(as_text=True)
    assert s.checkin_code not in re.sub(r'name="csrf_token"[^>]*', "", html)


def test_organizer_checks_in_someone_without_a_phone(client, db, users, org, login_as):
    login_as(client, users.secretary)
    _create(client, org.a1, kind="branch_life", title="党员大会", subtype="party_meeting")
    s = db.session.scalar(select(Session))
    bad = client.post(f"/party-school/sessions/{s.id}/manual-checkin", data={"login_id": users.member_b.login_id})
    assert bad.status_code == 400 and "没有这个学号/工号" in bad.get_data(as_text=True)
    ok = client.post(f"/party-school/sessions/{s.id}/manual-checkin", data={"login_id": users.member.login_id},
                     follow_redirects=True)
    assert f"已为 {users.member.name} 签到" in ok.get_data(as_text=True) and "代签" in ok.get_data(as_text=True)
    entry = _entries(db, users.member)[0]
    assert entry.source_type == "branch_life" and entry.evidence["recorded_by_id"] == users.secretary.id
    login_as(client, users.member)
    assert client.post(f"/party-school/sessions/{s.id}/manual-checkin",
                       data={"login_id": users.member_a2.login_id}).status_code == 403
