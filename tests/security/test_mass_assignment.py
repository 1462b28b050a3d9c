"""AC-05: privileged fields added to a form are ignored (unit, roles, account state, password hash, scores), and
a teacher's pages about their learners carry no phone number."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from plugins.quiz.tests.test_attempts import save, start

PHONE = "13912345678"


def test_extra_privileged_fields_in_the_person_form_are_ignored(client, db, users, org, login_as):
    from lms.accounts.models import RoleAssignment, User

    member = users.member
    before = (member.org_unit_id, member.is_active_account, member.must_change_password, member.password_hash)
    login_as(client, users.secretary)
    resp = client.post(f"/people/{member.id}/edit", data={
        "name": "改过的名字", "login_id": member.login_id, "category": member.category,
        # not on the form: the unit moves only by a transfer, roles only through the role form
        "org_unit_id": org.b1.id, "role": "sysadmin", "roles": "sysadmin", "is_active_account": "0",
        "must_change_password": "1", "password_hash": "scrypt:1:1:1$x$y", "password": "Hongqi#Piao7", "id": 999,
    })
    assert resp.status_code == 302
    db.session.expire_all()
    member = db.session.get(User, member.id)
    assert member.name == "改过的名字"  # the allowed field did change
    assert (member.org_unit_id, member.is_active_account, member.must_change_password,
            member.password_hash) == before
    assert db.session.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == member.id)).all() == []


def test_teacher_pages_about_learners_have_no_phone_numbers(client, db, users, login_as, fixed_paper):
    lesson, paper, qs = fixed_paper
    users.member.phone = PHONE
    db.session.commit()
    learner = login_as(client.application.test_client(), users.member)
    aid = start(learner, lesson)
    save(learner, aid, {str(qs["single"].id): 1})
    learner.post(f"/quiz/attempt/{aid}/submit")
    login_as(client, users.teacher)
    for url in (f"/quiz/lesson/{lesson.id}/results", f"/quiz/attempt/{aid}/review", f"/quiz/lesson/{lesson.id}/stats"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert PHONE not in resp.get_data(as_text=True), url
    wb = load_workbook(io.BytesIO(client.get(f"/quiz/lesson/{lesson.id}/results.xlsx").data))
    cells = " ".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v)
    assert PHONE not in cells and users.member.name in cells
