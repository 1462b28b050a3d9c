"""PI-04: quiz grades carry an HMAC seal through every grading path; a grade changed in SQL is named."""
from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select, text

from lms.timeutil import utcnow
from plugins.quiz import services
from plugins.quiz.models import QuizAnswer, QuizAttempt
from plugins.quiz.tests.test_attempts import right_answers, save, start


def check(app):
    return app.test_cli_runner().invoke(args=["lms", "integrity-check"])


def _sql(db, statement, **params):
    db.session.execute(text(statement), params)
    db.session.commit()
    db.session.expire_all()


def _short_answer(db, aid, qs):
    return db.session.scalar(select(QuizAnswer).where(QuizAnswer.attempt_id == aid,
                                                      QuizAnswer.question_id == qs["short"].id))


def test_autosave_submit_and_manual_grading_keep_every_seal_valid(
        app, client, member_client, fixed_paper, users, login_as, db):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    assert save(member_client, aid, right_answers(qs)).status_code == 200
    assert save(member_client, aid, {str(qs["single"].id): 0}).status_code == 200  # changed: upsert's update
    assert check(app).exit_code == 0
    member_client.post(f"/quiz/attempt/{aid}/submit")
    assert db.session.get(QuizAttempt, aid).status == "pending"
    assert check(app).exit_code == 0
    login_as(client, users.teacher)
    answer_id = _short_answer(db, aid, qs).id
    client.post(f"/quiz/answer/{answer_id}/grade", data={"points": "1.5", "comment": "要点不全"})
    # grading the same answer again (a teacher's correction) re-totals the graded attempt
    client.post(f"/quiz/answer/{answer_id}/grade", data={"points": "2", "comment": "补充后满分"})
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.status == "graded" and attempt.score == 8 and attempt.passed is True
    result = check(app)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok ")


def test_a_score_or_pass_changed_in_sql_is_named(app, member_client, fixed_paper, users, db):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    save(member_client, aid, {str(qs["single"].id): 0})
    member_client.post(f"/quiz/attempt/{aid}/submit")
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.score == 0 and check(app).exit_code == 0
    _sql(db, "UPDATE quiz_attempt SET score = 10 WHERE id = :i", i=aid)
    result = check(app)
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.startswith("TAMPERED")] == [
        f"TAMPERED quiz_attempt id={aid} (测验成绩: paper_id={paper.id} user_id={users.member.id} number=1)"]
    _sql(db, "UPDATE quiz_attempt SET score = 0 WHERE id = :i", i=aid)
    assert check(app).exit_code == 0  # back to what was sealed
    _sql(db, "UPDATE quiz_attempt SET passed = :t WHERE id = :i", t=True, i=aid)
    assert f"TAMPERED quiz_attempt id={aid} " in check(app).output


def test_an_answers_points_changed_in_sql_are_named(app, member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    save(member_client, aid, right_answers(qs))
    member_client.post(f"/quiz/attempt/{aid}/submit")
    answer = _short_answer(db, aid, qs)
    _sql(db, "UPDATE quiz_answer SET points = 2, needs_grading = :f WHERE id = :i", f=False, i=answer.id)
    result = check(app)
    assert result.exit_code == 1
    assert f"TAMPERED quiz_answer id={answer.id} (答题评分: attempt_id={aid} question_id={qs['short'].id})" \
        in result.output


def test_practice_checks_and_contest_grading_keep_the_seals_valid(app, member_client, fixed_paper, make_lesson,
                                                                 add_q, db):
    from plugins.quiz.models import QuizPaperItem

    q1 = add_q("单选题", "练习一", ["甲", "乙"], "B")
    practice = make_lesson(title="练习", mode="practice", shuffle_options=False)
    ppaper = services.paper_for(practice)
    ppaper.items.append(QuizPaperItem(question_id=q1.id))
    services.publish_paper(ppaper)
    db.session.commit()
    pid = start(member_client, practice)
    member_client.post(f"/quiz/attempt/{pid}/check", json={"question_id": q1.id, "response": 1})
    member_client.post(f"/quiz/attempt/{pid}/submit")
    assert db.session.get(QuizAttempt, pid).status == "graded"

    from plugins.quiz.tasks import quiz_submit_overdue

    lesson, paper, qs = fixed_paper
    with freeze_time(utcnow()) as clock:
        paper.closes_at = utcnow() + timedelta(minutes=10)
        db.session.commit()
        aid = start(member_client, lesson)
        save(member_client, aid, right_answers(qs))
        member_client.post(f"/quiz/attempt/{aid}/submit")
        assert db.session.get(QuizAttempt, aid).status == "closed"
        assert check(app).exit_code == 0
        clock.tick(timedelta(minutes=11))
        quiz_submit_overdue.call_local()
    db.session.expire_all()
    assert db.session.get(QuizAttempt, aid).status == "pending"
    result = check(app)
    assert result.exit_code == 0, result.output
