"""AC-02 IDOR/BOLA matrix: people who do not own an object, and have no authority over it, get 403 or 404 for
every verb on it (records, quiz attempts and grades, uploaded lectures, branch rosters, learning records, posts,
sessions, export downloads), and none of the refused requests changes a row."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.security.test_csrf_everywhere import _database_checksum

DENIED = (403, 404)


@pytest.fixture
def world(app, db, users, org, make_user, login_as):
    """Objects owned by users.member (branch A1) and the people who must not reach them."""
    from lms.courses.models import Course, Lesson
    from plugins.discussion import services as discussion
    from plugins.discussion.models import DiscussionPost
    from plugins.microlecture import services as microlecture
    from plugins.quiz import importers
    from plugins.quiz import services as quiz
    from plugins.quiz.models import QuizAnswer, QuizPaperItem

    course = Course(title="党章党规专题", status="published", owner_unit_id=org.a.id, settings={})
    course.teachers.append(users.teacher)
    db.session.add(course)
    db.session.flush()
    lesson = Lesson(course_id=course.id, title="测验", type="quiz", position=1)
    db.session.add(lesson)
    db.session.flush()
    paper = quiz.paper_for(lesson)
    paper.mode = "exam"
    data, errors = importers.build_question({"type": "简答题", "stem": "简述三会一课。", "options": [],
                                             "answer": "要点"})
    assert not errors
    question = quiz.save_question(quiz.bank_for(course), data, None)
    paper.items.append(QuizPaperItem(question_id=question.id, position=0))
    quiz.publish_paper(paper)
    video = microlecture.create_lecture(course, "专题微课", "theory", "简介", users.teacher)
    db.session.commit()

    owner = login_as(app.test_client(), users.member)
    resp = owner.post(f"/quiz/lesson/{lesson.id}/start")
    attempt_id = int(re.search(r"/quiz/attempt/(\d+)$", resp.headers["Location"]).group(1))
    owner.post(f"/quiz/attempt/{attempt_id}/save", json={"answers": {str(question.id): "我的回答"}})
    owner.post(f"/quiz/attempt/{attempt_id}/submit")
    answer_id = db.session.scalar(select(QuizAnswer.id).where(QuizAnswer.attempt_id == attempt_id))
    thread = discussion.create_thread(users.member, course, title="我的主题", body="我的帖子")
    db.session.commit()
    post_id = db.session.scalar(select(DiscussionPost.id).where(DiscussionPost.thread_id == thread.id))
    return type("World", (), {
        "course": course, "lesson": lesson, "attempt": attempt_id, "answer": answer_id, "video": video,
        "post": post_id,
        "teacher2": make_user("别的老师", org.a1, roles=["teacher"]),
        "reviewer_b": make_user("文学院审核员", org.b, roles=[("reviewer", org.b)]),
    })


def _cells(w, users, org):
    """(who, method, url, form) that must be refused: the owner is users.member of branch A1."""
    m = users.member.id
    a1 = org.a1.id
    outsiders = ("member_b", "member_a2", "teacher2", "secretary_b", "reviewer_b", "auditor")
    cells = []
    for who in outsiders:
        cells += [
            (who, "GET", f"/people/{m}", None),
            (who, "GET", f"/people/{m}/edit", None),
            (who, "POST", f"/people/{m}/edit", {"name": "改名"}),
            (who, "POST", f"/people/{m}/deactivate", {}),
            (who, "GET", f"/records/people/{m}", None),
            (who, "GET", f"/credits/people/{m}", None),
            (who, "GET", f"/stats/people/{m}", None),
            (who, "GET", f"/quiz/attempt/{w.attempt}", None),
            (who, "GET", f"/quiz/attempt/{w.attempt}/result", None),
            (who, "POST", f"/quiz/attempt/{w.attempt}/save", {"answers": {}}),
            (who, "POST", f"/quiz/attempt/{w.attempt}/submit", {}),
            (who, "POST", f"/discussion/posts/{w.post}/edit", {"body": "改写"}),
            (who, "GET", f"/org/{a1}", None),
            (who, "GET", f"/credits/units/{a1}/people", None),
            (who, "GET", f"/stats/units/{a1}", None),
            (who, "GET", f"/stats/units/{a1}/ledger.xlsx", None),
            (who, "GET", f"/people/{m}/erase", None),
        ]
        if who != "teacher2":  # teachers of other courses: covered below with the teacher-only objects
            cells.append((who, "GET", f"/quiz/attempt/{w.attempt}/review", None))
    # Grading and lecture pages belong to the course's teacher (and the reviewers of unit A for the lecture).
    for who in ("member", "member_b", "teacher2", "secretary_b", "reviewer_b", "auditor"):
        cells += [
            (who, "GET", f"/quiz/attempt/{w.attempt}/review", None),
            (who, "GET", f"/quiz/answer/{w.answer}/grade", None),
            (who, "POST", f"/quiz/answer/{w.answer}/grade", {"points": "100", "comment": "满分"}),
            (who, "GET", f"/quiz/lesson/{w.lesson.id}/results", None),
            (who, "GET", f"/quiz/lesson/{w.lesson.id}/results.xlsx", None),
            (who, "GET", f"/microlecture/{w.video.id}", None),
            (who, "GET", f"/microlecture/review/{w.video.id}", None),
            (who, "GET", f"/microlecture/api/videos/{w.video.id}/status", None),
            (who, "GET", f"/microlecture/lessons/{w.video.lesson_id}/edit", None),
        ]
    return cells


def test_foreign_objects_are_refused_for_every_verb_and_nothing_changes(app, db, users, org, world, login_as):
    from lms.audit.models import AuditLog

    people = {name: getattr(users, name, None) or getattr(world, name) for name in
              ("member", "member_b", "member_a2", "teacher2", "secretary_b", "reviewer_b", "auditor")}
    clients = {name: login_as(app.test_client(), u) for name, u in people.items()}
    cells = _cells(world, users, org)
    before = _database_checksum(db, skip=("audit_log",))
    audit_before = db.session.scalar(select(func.max(AuditLog.id)))
    leaks = []
    for who, method, url, form in cells:
        c = clients[who]
        if method == "GET":
            resp = c.get(url)
        elif url.endswith("/save"):
            resp = c.post(url, json=form)
        else:
            resp = c.post(url, data=form)
        if resp.status_code not in DENIED:
            leaks.append(f"{who} {method} {url} -> {resp.status_code}")
    assert leaks == [], "\n".join(leaks)
    assert len(cells) > 150
    db.session.expire_all()
    assert _database_checksum(db, skip=("audit_log",)) == before
    # The only rows written are the audit log's records of the refusals.
    new = set(db.session.scalars(select(AuditLog.action).where(AuditLog.id > audit_before)))
    assert new <= {"authz.denied"}


def test_the_owner_and_the_people_with_authority_do_reach_them(app, db, users, org, world, login_as):
    """The matrix above is not vacuous: the same URLs open for the owner and for those entitled to them."""
    m = users.member.id
    own = login_as(app.test_client(), users.member)
    for url in (f"/people/{m}", f"/records/people/{m}", f"/credits/people/{m}",
                f"/quiz/attempt/{world.attempt}/result"):
        assert own.get(url, follow_redirects=True).status_code == 200, url
    secretary = login_as(app.test_client(), users.secretary)
    for url in (f"/people/{m}", f"/records/people/{m}", f"/org/{org.a1.id}", f"/stats/units/{org.a1.id}"):
        assert secretary.get(url).status_code == 200, url
    teacher = login_as(app.test_client(), users.teacher)
    for url in (f"/quiz/attempt/{world.attempt}/review", f"/quiz/answer/{world.answer}/grade",
                f"/quiz/lesson/{world.lesson.id}/results", f"/microlecture/lessons/{world.video.lesson_id}/edit"):
        assert teacher.get(url).status_code == 200, url


def test_unknown_ids_and_foreign_ids_get_the_same_answer(app, db, users, world, login_as):
    """No enumeration through the status code: an object that exists but is someone else's is answered like
    one that does not exist, for the person-owned objects (attempts, grades, posts, sessions)."""
    c = login_as(app.test_client(), users.member_b)
    pairs = [
        (f"/quiz/attempt/{world.attempt}", "/quiz/attempt/999999"),
        (f"/quiz/attempt/{world.attempt}/result", "/quiz/attempt/999999/result"),
    ]
    for foreign, unknown in pairs:
        assert c.get(foreign).status_code == c.get(unknown).status_code, foreign
