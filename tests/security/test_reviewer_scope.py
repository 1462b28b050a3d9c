"""AC-03: a reviewer (审核员) of college A sees exactly A: the ledger export has A's people and nobody of B, the
review queue has A's lectures only, and lists, searches and statistics of people are closed to reviewers."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from plugins.microlecture.tests.conftest import publish_fake


def _all_cells(wb) -> str:
    return "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row
                     if v is not None)


def _lecture(db, users, unit, title):
    from lms.courses.models import Course
    from plugins.microlecture import services

    course = Course(title=f"{title}课程", status="published", owner_unit_id=unit.id, settings={})
    course.teachers.append(users.teacher)
    db.session.add(course)
    db.session.flush()
    video = services.create_lecture(course, title, "theory", "简介", users.teacher)
    db.session.commit()
    publish_fake(video, live=False)  # awaiting review
    return video


def test_reviewer_ledger_has_exactly_the_people_of_their_college(client, db, users, org, login_as):
    from lms.accounts.models import User

    login_as(client, users.reviewer)  # reviewer of 计算机学院党委 (A)
    resp = client.get(f"/stats/units/{org.a.id}/ledger.xlsx")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    member_rows = list(wb["按党员"].iter_rows(values_only=True))[3:-1]
    in_a = {org.a.id, org.a1.id, org.a2.id}
    everyone = list(db.session.scalars(select(User)))
    expected = sorted(u.name for u in everyone if u.org_unit_id in in_a)
    assert sorted(r[1] for r in member_rows) == expected
    cells = _all_cells(wb)
    outside = [u for u in everyone if u.org_unit_id not in in_a]
    assert outside  # B and the university level have people in the fixture
    for u in outside:
        assert u.name not in cells and u.login_id not in cells
    for unit in (org.b, org.b1):
        assert unit.name not in cells
    # B's ledger, and the whole university's, are refused.
    for unit in (org.b, org.b1, org.root):
        assert client.get(f"/stats/units/{unit.id}/ledger.xlsx").status_code == 403


def test_reviewer_queue_has_only_their_colleges_lectures(client, db, users, org, login_as, make_user):
    mine = _lecture(db, users, org.a1, "计算机学院微课")
    theirs = _lecture(db, users, org.b, "文学院微课")
    login_as(client, users.reviewer)
    html = client.get("/microlecture/review").get_data(as_text=True)
    assert mine.lesson.title in html and theirs.lesson.title not in html
    assert client.get(f"/microlecture/review/{mine.id}").status_code == 200
    assert client.get(f"/microlecture/review/{theirs.id}").status_code == 403
    # and the other way round for B's reviewer
    reviewer_b = make_user("文学院审核员", org.b, roles=[("reviewer", org.b)])
    other = login_as(client.application.test_client(), reviewer_b)
    html = other.get("/microlecture/review").get_data(as_text=True)
    assert theirs.lesson.title in html and mine.lesson.title not in html


def test_reviewer_has_no_people_lists_searches_or_statistics(client, users, org, login_as):
    login_as(client, users.reviewer)
    for url in ("/people", f"/people?q={users.member_b.name}", "/people/export.xlsx", "/records/people",
                f"/records/people?q={users.member_b.name}", f"/stats/units/{org.a.id}", f"/stats/units/{org.b.id}",
                f"/credits/units/{org.b1.id}/people", f"/stats/people/{users.member_b.id}"):
        resp = client.get(url)
        assert resp.status_code in (403, 404), url
        assert users.member_b.login_id not in resp.get_data(as_text=True), url  # (the query itself is echoed)
    # The exports page offers the ledgers of A, nothing of B.
    page = client.get("/exports/").get_data(as_text=True)
    assert f"/stats/units/{org.a.id}/ledger.xlsx" in page
    assert f"/stats/units/{org.b.id}/" not in page and org.b.name not in page
