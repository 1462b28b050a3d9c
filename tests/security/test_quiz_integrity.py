"""AC-08: the server scores quizzes: score, points or pass flags sent by the browser are ignored, a replayed
submit grades nothing twice, and an attempt over the limit is not created."""
from __future__ import annotations

from sqlalchemy import func, select

from plugins.quiz.tests.test_attempts import save, start

FORGED = {"score": 100, "max_score": 100, "passed": True, "points": 100, "status": "graded"}


def test_client_sent_scores_are_ignored_and_a_replay_grades_nothing(client, users, login_as, fixed_paper, db):
    from plugins.quiz.models import QuizAnswer, QuizAttempt

    lesson, paper, qs = fixed_paper
    login_as(client, users.member)
    aid = start(client, lesson)
    wrong = {str(qs["single"].id): 0, str(qs["truefalse"].id): False}  # both wrong; nothing else answered
    resp = client.post(f"/quiz/attempt/{aid}/save", json={"answers": wrong, **FORGED,
                                                           "answers_points": {str(qs["single"].id): 2}})
    assert resp.status_code == 200
    resp = client.post(f"/quiz/attempt/{aid}/submit", json={"answers": wrong, **FORGED})
    assert resp.status_code == 200 and resp.get_json()["submitted"]
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.score == 0 and attempt.passed is False
    points = list(db.session.scalars(select(QuizAnswer.points).where(QuizAnswer.attempt_id == aid)))
    assert all(not p for p in points)
    graded_at = attempt.submitted_at
    # Replaying the submission (with right answers and a forged score this time) changes nothing.
    right = {str(qs["single"].id): 1, str(qs["truefalse"].id): True}
    client.post(f"/quiz/attempt/{aid}/submit", json={"answers": right, **FORGED})
    assert save(client, aid, right).status_code in (400, 409)
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.score == 0 and attempt.passed is False and attempt.submitted_at == graded_at
    assert db.session.scalar(select(func.count()).select_from(QuizAttempt)) == 1


def test_an_attempt_over_the_limit_is_not_created(client, users, login_as, fixed_paper, db):
    from plugins.quiz.models import QuizAttempt

    lesson, paper, qs = fixed_paper
    paper.max_attempts = 1
    db.session.commit()
    login_as(client, users.member)
    aid = start(client, lesson)
    client.post(f"/quiz/attempt/{aid}/submit")
    resp = client.post(f"/quiz/lesson/{lesson.id}/start")
    assert resp.status_code == 302 and "/quiz/attempt/" not in resp.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(QuizAttempt)) == 1
