"""Taking a quiz: no key before submission, autosave and resume, the server deadline, double submit, completion."""
from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from lms.timeutil import utcnow
from plugins.quiz import services
from plugins.quiz.models import QuizAnswer, QuizAttempt


def start(client, lesson) -> int:
    resp = client.post(f"/quiz/lesson/{lesson.id}/start")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    m = re.search(r"/quiz/attempt/(\d+)$", resp.headers["Location"])
    assert m, resp.headers["Location"]
    return int(m.group(1))


def save(client, attempt_id, answers):
    return client.post(f"/quiz/attempt/{attempt_id}/save", json={"answers": answers})


def right_answers(qs) -> dict:
    return {str(qs["single"].id): 1, str(qs["multiple"].id): [0, 1, 2], str(qs["truefalse"].id): True,
            str(qs["fill"].id): ["ＣＯＭＭＵＮＩＳＭ"], str(qs["short"].id): "三会一课是……"}


# --- the answer key never reaches the browser ------------------------------------------------------------
def test_answer_key_and_explanations_never_reach_the_browser_before_submission(
        member_client, make_lesson, add_q, db):
    from plugins.quiz.models import QuizPaperItem

    canaries = {
        "fill": add_q("填空题", "填空____", [], "KEYCANARYFILL7731|KEYCANARYALT5521", explanation="EXPLCANARY0001"),
        "short": add_q("简答题", "简答", [], "KEYCANARYSHORT9917", explanation="EXPLCANARY0002"),
        "single": add_q("单选题", "单选", ["甲", "乙"], "B", explanation="EXPLCANARY0003"),
        "tf": add_q("判断题", "判断", [], "对", explanation="EXPLCANARY0004"),
    }
    lesson = make_lesson(mode="exam")
    paper = services.paper_for(lesson)
    for q in canaries.values():
        paper.items.append(QuizPaperItem(question_id=q.id))
    services.publish_paper(paper)
    db.session.commit()
    secrets_ = ["KEYCANARYFILL7731", "KEYCANARYALT5521", "KEYCANARYSHORT9917", "EXPLCANARY", "correctResponses",
                '"answer"', "quiz-key"]
    bodies = [member_client.get(f"/quiz/lesson/{lesson.id}").get_data(as_text=True)]
    aid = start(member_client, lesson)
    bodies.append(member_client.get(f"/quiz/attempt/{aid}").get_data(as_text=True))
    bodies.append(save(member_client, aid, {str(canaries["fill"].id): ["x"]}).get_data(as_text=True))
    bodies.append(member_client.get(f"/quiz/attempt/{aid}/result", follow_redirects=True).get_data(as_text=True))
    bodies.append(member_client.get(f"/quiz/lesson/{lesson.id}").get_data(as_text=True))
    # Exam mode refuses per-question checks, so that route cannot leak either.
    check = member_client.post(f"/quiz/attempt/{aid}/check", json={"question_id": canaries["tf"].id, "response": True})
    assert check.status_code == 400
    bodies.append(check.get_data(as_text=True))
    for body in bodies:
        for s in secrets_:
            assert s not in body
    # After submission (reveal: immediately) the key is shown.
    member_client.post(f"/quiz/attempt/{aid}/submit")
    result = member_client.get(f"/quiz/attempt/{aid}/result").get_data(as_text=True)
    assert "KEYCANARYFILL7731" in result and "EXPLCANARY0001" in result


def test_reveal_never_keeps_the_key_hidden_after_submission(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    paper.reveal = "never"
    db.session.commit()
    aid = start(member_client, lesson)
    member_client.post(f"/quiz/attempt/{aid}/submit")
    html = member_client.get(f"/quiz/attempt/{aid}/result").get_data(as_text=True)
    assert "本测验不公布答案与解析" in html and "共产主义" not in html


# --- autosave, resume, grading ------------------------------------------------------------------------------
def test_autosave_then_resume_shows_the_same_attempt_with_its_answers(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    resp = save(member_client, aid, {str(qs["single"].id): 1, str(qs["fill"].id): ["共产主义"]})
    assert resp.status_code == 200 and resp.json["saved"] == 2
    # A refresh, a new tab or a later visit resumes the same attempt.
    assert start(member_client, lesson) == aid
    html = member_client.get(f"/quiz/attempt/{aid}").get_data(as_text=True)
    assert re.search(rf'name="q{qs["single"].id}" value="1" checked', html)
    assert f'name="q{qs["fill"].id}_0" value="共产主义"' in html
    assert db.session.scalar(select(func.count(QuizAttempt.id))) == 1
    # Saving again overwrites, it does not duplicate.
    save(member_client, aid, {str(qs["single"].id): 0})
    rows = list(db.session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == aid)))
    assert len(rows) == 2 and {r.question_id: r.response for r in rows}[qs["single"].id] == 0


def test_submit_grades_everything_and_short_answers_go_to_the_teacher(
        client, member_client, fixed_paper, users, login_as, db, recorded_events):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    assert save(member_client, aid, right_answers(qs)).status_code == 200
    resp = member_client.post(f"/quiz/attempt/{aid}/submit")
    assert resp.status_code == 302
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.status == "pending" and attempt.score == 8 and attempt.max_score == 10
    assert attempt.passed is None  # waits for the short answer
    html = member_client.get(f"/quiz/attempt/{aid}/result").get_data(as_text=True)
    assert "简答题待教师批阅" in html
    verbs = [e.verb for e in recorded_events]
    assert verbs.count("attempted") == 1 and verbs.count("answered") == 5
    answered = [e for e in recorded_events if e.verb == "answered"]
    fill_ev = next(e for e in answered if e.object_id.endswith(f"/quiz-question/{qs['fill'].id}"))
    assert fill_ev.object_definition["interactionType"] == "fill-in"
    assert fill_ev.object_definition["correctResponsesPattern"] == ["共产主义", "communism"]
    assert fill_ev.result["success"] is True and fill_ev.result["response"] == "ＣＯＭＭＵＮＩＳＭ"
    # The teacher grades the short answer: the attempt is final, passed, and the lesson completes.
    login_as(client, users.teacher)
    queue = client.get("/quiz/grading").get_data(as_text=True)
    answer = db.session.scalar(select(QuizAnswer).where(QuizAnswer.attempt_id == aid,
                                                        QuizAnswer.question_id == qs["short"].id))
    assert f"/quiz/answer/{answer.id}/grade" in queue
    bad = client.post(f"/quiz/answer/{answer.id}/grade", data={"points": "9", "comment": "x"})
    assert "得分应在 0 到 2 之间" in bad.get_data(as_text=True)
    client.post(f"/quiz/answer/{answer.id}/grade", data={"points": "1.5", "comment": "要点不全"})
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.status == "graded" and attempt.score == 9.5 and attempt.passed is True
    verbs = [e.verb for e in recorded_events]
    assert "passed" in verbs and verbs.count("completed") >= 2  # the quiz, and the lesson via update_progress
    quiz_events = [e for e in recorded_events if e.verb in ("attempted", "answered", "passed")]
    assert len({e.registration for e in quiz_events}) == 1 and quiz_events[0].registration  # one attempt
    from lms.courses.models import LessonProgress

    prog = db.session.scalar(select(LessonProgress).where(LessonProgress.lesson_id == lesson.id))
    assert prog.status == "completed" and prog.success and prog.score == pytest.approx(0.95)
    login_as(client, users.member)
    assert "要点不全" in client.get(f"/quiz/attempt/{aid}/result").get_data(as_text=True)


def test_failing_exam_records_failed_and_does_not_complete(member_client, fixed_paper, db, recorded_events):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    save(member_client, aid, {str(qs["single"].id): 0, str(qs["short"].id): ""})
    member_client.post(f"/quiz/attempt/{aid}/submit")
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.status == "graded" and attempt.passed is False and attempt.score == 0
    failed = [e for e in recorded_events if e.verb == "failed"]
    assert failed and failed[0].result["score"]["scaled"] == 0
    from lms.courses.models import LessonProgress

    prog = db.session.scalar(select(LessonProgress).where(LessonProgress.lesson_id == lesson.id))
    assert prog is not None and prog.status != "completed"


def test_the_form_post_without_javascript_saves_and_submits(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    q = qs
    data = {f"q{q['single'].id}": "1", f"q{q['multiple'].id}_present": "1", f"q{q['multiple'].id}": ["0", "1"],
            f"q{q['truefalse'].id}": "true", f"q{q['fill'].id}_0": "共产主义", f"q{q['short'].id}": ""}
    member_client.post(f"/quiz/attempt/{aid}/submit", data=data)
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.score == 2 + 2 + 1 + 2  # the multiple choice earns partial credit (2 of 3 options)


def test_bad_autosave_payloads_get_json_errors_and_lose_nothing(member_client, fixed_paper, db, client, users,
                                                                login_as):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    save(member_client, aid, {str(qs["single"].id): 1})
    for payload in ({"answers": {str(qs["single"].id): 99}}, {"answers": {"999999": 1}}, {"answers": []}, "x",
                    {"answers": {str(qs["multiple"].id): "abc"}}):
        resp = member_client.post(f"/quiz/attempt/{aid}/save", data=json.dumps(payload),
                                  content_type="application/json")
        assert resp.status_code == 400 and resp.is_json and resp.json["error"]
    assert db.session.scalar(select(QuizAnswer.response).where(QuizAnswer.attempt_id == aid)) == 1
    # Someone else's attempt is not there for another member.
    login_as(client, users.member_b)
    assert client.post(f"/quiz/attempt/{aid}/save", json={"answers": {}}).status_code == 404
    assert client.get(f"/quiz/attempt/{aid}").status_code == 404


# --- the server keeps the time ------------------------------------------------------------------------------
def test_answers_after_the_deadline_are_refused_and_the_attempt_is_auto_submitted(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    with freeze_time(utcnow()) as clock:
        aid = start(member_client, lesson)
        attempt = db.session.get(QuizAttempt, aid)
        assert attempt.deadline == attempt.started_at + timedelta(minutes=30)
        clock.tick(timedelta(minutes=29, seconds=59))
        assert save(member_client, aid, {str(qs["single"].id): 1}).status_code == 200
        clock.tick(timedelta(minutes=1))
        resp = save(member_client, aid, {str(qs["single"].id): 0, str(qs["truefalse"].id): True})
        assert resp.status_code == 409 and resp.json["submitted"] and "考试时间已到" in resp.json["error"]
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.status != "open" and attempt.auto_submitted
    assert attempt.submitted_at == attempt.deadline
    answers = {a.question_id: a.response for a in attempt.answers}
    assert answers[qs["single"].id] == 1  # what was saved in time counts
    assert answers[qs["truefalse"].id] is None  # the late answer was refused
    assert attempt.score == 2


def test_a_late_form_submit_keeps_only_what_was_saved_in_time(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    with freeze_time(utcnow()) as clock:
        aid = start(member_client, lesson)
        clock.tick(timedelta(minutes=29))
        save(member_client, aid, {str(qs["single"].id): 1})  # (also keeps the 30-minute login session alive)
        clock.tick(timedelta(minutes=2))
        resp = member_client.post(f"/quiz/attempt/{aid}/submit", data={f"q{qs['truefalse'].id}": "true"})
        assert resp.headers["Location"].endswith(f"/quiz/attempt/{aid}/result")
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.auto_submitted and attempt.score == 2


def test_a_submit_carrying_the_last_answers_stores_them_with_the_close(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    paper.closes_at = utcnow() + timedelta(minutes=10)  # a contest: the close is the only write of the submit
    db.session.commit()
    aid = start(member_client, lesson)
    save(member_client, aid, {str(qs["single"].id): 0})
    last = {str(qs["single"].id): 1, str(qs["fill"].id): ["共产主义"]}
    resp = member_client.post(f"/quiz/attempt/{aid}/submit", json={"answers": last})
    assert resp.status_code == 200 and resp.json["submitted"] and resp.json["message"] is None
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.status == "closed" and not attempt.auto_submitted
    assert {a.question_id: a.response for a in attempt.answers} == {qs["single"].id: 1, qs["fill"].id: ["共产主义"]}
    # A second submit with other answers finds the attempt closed: nothing changes, and it says so.
    again = member_client.post(f"/quiz/attempt/{aid}/submit", json={"answers": {str(qs["single"].id): 2}})
    assert again.status_code == 200 and "已交卷" in again.json["message"]
    db.session.expire_all()
    assert db.session.scalar(select(QuizAnswer.response).where(QuizAnswer.question_id == qs["single"].id)) == 1


def test_a_submit_with_malformed_last_answers_still_closes_with_the_saved_ones(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    save(member_client, aid, {str(qs["single"].id): 1})
    resp = member_client.post(f"/quiz/attempt/{aid}/submit",
                              json={"answers": {str(qs["single"].id): 0, str(qs["multiple"].id): "x"}})
    assert resp.status_code == 200 and "答案格式不正确" in resp.json["message"]
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.status == "graded" and attempt.score == 2  # the saved single-choice answer counts


def test_periodic_task_submits_abandoned_attempts(member_client, fixed_paper, db):
    from plugins.quiz.tasks import quiz_submit_overdue

    lesson, paper, qs = fixed_paper
    with freeze_time(utcnow()) as clock:
        aid = start(member_client, lesson)
        save(member_client, aid, {str(qs["truefalse"].id): True})
        clock.tick(timedelta(minutes=10))
        quiz_submit_overdue.call_local()
        assert db.session.get(QuizAttempt, aid).status == "open"  # not yet
        clock.tick(timedelta(minutes=25))
        assert quiz_submit_overdue.call_local() == 1
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.auto_submitted and attempt.score == 1


def test_next_visit_after_the_deadline_auto_submits(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    with freeze_time(utcnow()) as clock:
        aid = start(member_client, lesson)
        clock.tick(timedelta(minutes=29))
        member_client.get(f"/quiz/lesson/{lesson.id}")
        clock.tick(timedelta(minutes=2))
        resp = member_client.get(f"/quiz/attempt/{aid}")
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/result")
    assert db.session.get(QuizAttempt, aid).auto_submitted


def test_closing_time_caps_the_deadline(member_client, make_lesson, add_q, db):
    from plugins.quiz.models import QuizPaperItem

    q = add_q()
    now = utcnow()
    lesson = make_lesson(time_limit_minutes=60, closes_at=now + timedelta(minutes=10))
    paper = services.paper_for(lesson)
    paper.items.append(QuizPaperItem(question_id=q.id))
    services.publish_paper(paper)
    db.session.commit()
    aid = start(member_client, lesson)
    assert db.session.get(QuizAttempt, aid).deadline == paper.closes_at


# --- submit once ------------------------------------------------------------------------------------------------
def test_double_submit_is_graded_once(member_client, fixed_paper, db, recorded_events):
    lesson, paper, qs = fixed_paper
    aid = start(member_client, lesson)
    save(member_client, aid, right_answers(qs))
    first = member_client.post(f"/quiz/attempt/{aid}/submit")
    second = member_client.post(f"/quiz/attempt/{aid}/submit")
    assert first.status_code == second.status_code == 302
    assert [e.verb for e in recorded_events].count("answered") == 5
    attempt = db.session.get(QuizAttempt, aid)
    assert services.submit_attempt(attempt) is False  # the state check refuses a second grading


def test_concurrent_submits_grade_once(app, fixed_paper, users, db):
    """Two submits racing on separate connections: the conditional UPDATE lets exactly one through."""
    lesson, paper, qs = fixed_paper
    attempt = services.start_attempt(paper, users.member)
    aid = attempt.id
    results = []
    barrier = threading.Barrier(2)

    def submit():
        with app.app_context():
            a = db.session.get(QuizAttempt, aid)
            barrier.wait()
            results.append(services.submit_attempt(a))
            db.session.remove()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, True]
    assert db.session.scalar(select(func.count(QuizAnswer.id)).where(QuizAnswer.attempt_id == aid)) == 5


def test_autosave_racing_a_submit_stores_nothing_in_the_closed_attempt(app, fixed_paper, users, db):
    """The attempt was loaded open, then another request submitted it: the late autosave is refused whole."""
    lesson, paper, qs = fixed_paper
    attempt = services.start_attempt(paper, users.member)
    aid = attempt.id
    services.save_answers(attempt, {str(qs["single"].id): 0})
    stale = db.session.get(QuizAttempt, aid)
    assert stale.status == "open"

    def submit_elsewhere():
        with app.app_context():
            assert services.submit_attempt(db.session.get(QuizAttempt, aid))
            db.session.remove()

    t = threading.Thread(target=submit_elsewhere)
    t.start()
    t.join(30)
    with pytest.raises(services.QuizError, match="已交卷"):
        services.save_answers(stale, {str(qs["single"].id): 1, str(qs["fill"].id): ["共产主义"]})
    rows = {a.question_id: a.response
            for a in db.session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == aid))}
    assert rows[qs["single"].id] == 0  # graded as it was when the attempt closed
    assert qs["fill"].id not in rows or rows[qs["fill"].id] in (None, [""])


def test_attempt_limit(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    paper.max_attempts = 1
    db.session.commit()
    aid = start(member_client, lesson)
    member_client.post(f"/quiz/attempt/{aid}/submit")
    resp = member_client.post(f"/quiz/lesson/{lesson.id}/start", follow_redirects=True)
    assert "您已用完全部 1 次作答机会" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count(QuizAttempt.id))) == 1


def test_unpublished_quiz_cannot_be_started(member_client, make_lesson, db):
    lesson = make_lesson()
    resp = member_client.post(f"/quiz/lesson/{lesson.id}/start", follow_redirects=True)
    assert "该测验尚未发布" in resp.get_data(as_text=True)


def test_a_fixed_paper_leaves_out_archived_questions_and_keeps_item_points(member_client, make_lesson, add_q, db):
    from plugins.quiz.models import QuizPaperItem

    kept = add_q("单选题", "保留的题", ["甲", "乙"], "A", score=2)
    weighted = add_q("判断题", "加分的题", [], "对", score=1)
    gone = add_q("单选题", "移出题库的题", ["甲", "乙"], "B", score=3)
    lesson = make_lesson(mode="exam")
    paper = services.paper_for(lesson)
    paper.items.extend([QuizPaperItem(question_id=kept.id, position=1),
                        QuizPaperItem(question_id=weighted.id, position=2, score=5),
                        QuizPaperItem(question_id=gone.id, position=3)])
    services.publish_paper(paper)
    gone.archived = True
    db.session.commit()
    aid = start(member_client, lesson)
    html = member_client.get(f"/quiz/attempt/{aid}").get_data(as_text=True)
    assert "保留的题" in html and "加分的题" in html and "移出题库的题" not in html
    attempt = db.session.get(QuizAttempt, aid)
    assert sorted((e["q"], e["s"]) for e in attempt.layout) == sorted([(kept.id, 2.0), (weighted.id, 5.0)])
    assert attempt.max_score == 7


# --- practice mode ---------------------------------------------------------------------------------------------
def test_practice_mode_checks_one_question_and_locks_it(member_client, make_lesson, add_q, db):
    from plugins.quiz.models import QuizPaperItem

    q1 = add_q("单选题", "练习一", ["甲", "乙"], "B", explanation="因为乙")
    q2 = add_q("判断题", "练习二", [], "对")
    lesson = make_lesson(mode="practice", shuffle_options=False)
    paper = services.paper_for(lesson)
    paper.items.extend([QuizPaperItem(question_id=q1.id), QuizPaperItem(question_id=q2.id)])
    services.publish_paper(paper)
    db.session.commit()
    aid = start(member_client, lesson)
    resp = member_client.post(f"/quiz/attempt/{aid}/check", json={"question_id": q1.id, "response": 0})
    fb = resp.json["feedback"]
    assert fb["correct"] is False and fb["key"] == "B" and fb["explanation"] == "因为乙"
    # A checked answer cannot be changed afterwards.
    save(member_client, aid, {str(q1.id): 1})
    assert db.session.scalar(select(QuizAnswer.response).where(QuizAnswer.question_id == q1.id)) == 0
    html = member_client.get(f"/quiz/attempt/{aid}").get_data(as_text=True)
    assert "因为乙" in html  # checked questions show their feedback on reload
    member_client.post(f"/quiz/attempt/{aid}/submit")
    assert db.session.get(QuizAttempt, aid).score == 0


# --- random papers ---------------------------------------------------------------------------------------------
def test_random_draw_with_too_few_questions_is_refused_at_publish_time(client, users, login_as, make_lesson, add_q,
                                                                      db):
    for i in range(3):
        add_q("单选题", f"党史单选{i}", ["甲", "乙"], "A", tags="党史")
    add_q("多选题", "多选", ["甲", "乙", "丙"], "AB")
    lesson = make_lesson(selection="random")
    login_as(client, users.teacher)
    client.post(f"/quiz/lesson/{lesson.id}/paper/rules", data={"count": "10", "qtype": "single", "tag": "党史",
                                                                "difficulty": ""})
    client.post(f"/quiz/lesson/{lesson.id}/paper/rules", data={"count": "1", "qtype": "multiple", "tag": "",
                                                                "difficulty": ""})
    resp = client.post(f"/quiz/lesson/{lesson.id}/paper/publish", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "无法发布" in html and "规则1（单选题，标签“党史”）需要 10 道题，题库中只有 3 道符合条件的题目" in html
    assert not services.paper_for(lesson).is_published


def test_overlapping_rules_that_cannot_all_be_filled_are_refused(make_lesson, add_q, db):
    from plugins.quiz.models import QuizDrawRule

    for i in range(3):
        add_q("单选题", f"单选{i}", ["甲", "乙"], "A", tags="党史")
    lesson = make_lesson(selection="random")
    paper = services.paper_for(lesson)
    paper.rules.extend([QuizDrawRule(count=2, tag="党史"), QuizDrawRule(count=2, qtype="single")])
    db.session.flush()
    problems = services.publish_problems(paper)
    assert problems and "规则之间有重叠" in problems[0]


def test_random_draw_gives_each_person_a_valid_paper(make_lesson, add_q, users, db):
    from plugins.quiz.models import QuizDrawRule

    tagged = {add_q("单选题", f"党史{i}", ["甲", "乙", "丙"], "A", tags="党史").id for i in range(6)}
    multi = {add_q("多选题", f"多选{i}", ["甲", "乙", "丙"], "AB", difficulty=d).id
             for i, d in enumerate(["简单", "困难", "中等", "困难"])}
    lesson = make_lesson(selection="random")
    paper = services.paper_for(lesson)
    paper.rules.extend([QuizDrawRule(count=4, qtype="single", tag="党史", score_each=2),
                        QuizDrawRule(count=2, qtype="multiple", score_each=5)])
    services.publish_paper(paper)
    db.session.commit()
    layouts = []
    for u in (users.member, users.member_b, users.member_a2):
        a = services.start_attempt(paper, u)
        ids = [e["q"] for e in a.layout]
        assert len(ids) == len(set(ids)) == 6
        assert len(set(ids) & tagged) == 4 and len(set(ids) & multi) == 2
        assert a.max_score == 4 * 2 + 2 * 5
        layouts.append(tuple(ids))
    assert len(set(layouts)) > 1  # drawn per person


def test_publish_error_for_empty_fixed_paper_and_missing_close_time(make_lesson, db):
    lesson = make_lesson(reveal="after_close")
    problems = services.publish_problems(services.paper_for(lesson))
    assert any("关闭时间" in p for p in problems) and any("还没有题目" in p for p in problems)


def test_contest_is_graded_when_it_closes(member_client, fixed_paper, db, recorded_events):
    """Everyone's deadline is the closing time: submits only close the attempt; grading follows the close."""
    from plugins.quiz.tasks import quiz_submit_overdue

    lesson, paper, qs = fixed_paper
    with freeze_time(utcnow()) as clock:
        paper.closes_at = utcnow() + timedelta(minutes=10)
        db.session.commit()
        aid = start(member_client, lesson)
        save(member_client, aid, right_answers(qs))
        member_client.post(f"/quiz/attempt/{aid}/submit")
        attempt = db.session.get(QuizAttempt, aid)
        assert attempt.status == "closed" and attempt.score is None
        html = member_client.get(f"/quiz/attempt/{aid}/result").get_data(as_text=True)
        assert "成绩将在测验结束" in html and "共产主义" not in html
        assert not {"attempted", "answered"} & {e.verb for e in recorded_events}  # recorded with the grading
        assert member_client.post(f"/quiz/attempt/{aid}/submit").status_code == 302  # still closed once
        clock.tick(timedelta(minutes=11))
        quiz_submit_overdue.call_local()
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.status == "pending" and attempt.score == 8
    verbs = [e.verb for e in recorded_events]
    assert verbs.count("answered") == 5 and verbs.count("attempted") == 1
    assert next(e for e in recorded_events if e.verb == "attempted").timestamp == attempt.started_at


def test_closing_grades_every_contestant_with_their_own_answers(fixed_paper, users, make_user, org, db,
                                                              recorded_events):
    """One grading run, several people: each is scored on what they saved; unanswered questions count 0."""
    lesson, paper, qs = fixed_paper
    with freeze_time(utcnow()) as clock:
        paper.closes_at = utcnow() + timedelta(minutes=10)
        db.session.commit()
        people = {"all right": users.member, "half": make_user("李四", org.a), "blank": make_user("王五", org.a)}
        answers = {"all right": right_answers(qs),
                   "half": {str(qs["single"].id): 1, str(qs["truefalse"].id): False},
                   "blank": {}}
        ids = {}
        for key, person in people.items():
            attempt = services.start_attempt(paper, person)
            ids[key] = attempt.id
            assert services.submit_with_answers(attempt, answers[key]) is None
        clock.tick(timedelta(minutes=11))
        assert services.grade_due_attempts() == 3
    db.session.expire_all()
    got = {k: db.session.get(QuizAttempt, i) for k, i in ids.items()}
    assert (got["all right"].status, got["all right"].score) == ("pending", 8)  # the short answer waits
    assert (got["half"].status, got["half"].score, got["half"].passed) == ("graded", 2, False)
    assert (got["blank"].status, got["blank"].score, got["blank"].passed) == ("graded", 0, False)
    blank_rows = list(db.session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == ids["blank"])))
    assert len(blank_rows) == 5 and all(a.points == 0 and a.graded_at for a in blank_rows)
    tf = db.session.scalar(select(QuizAnswer).where(QuizAnswer.attempt_id == ids["half"],
                                                    QuizAnswer.question_id == qs["truefalse"].id))
    assert tf.response is False and tf.correct is False and tf.points == 0
    assert [e.verb for e in recorded_events].count("answered") == 15
    assert services.grade_due_attempts() == 0  # graded once


def test_empty_keepalive_save_writes_nothing_and_reports_a_closed_attempt(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    with freeze_time(utcnow()) as clock:
        aid = start(member_client, lesson)
        resp = save(member_client, aid, {})
        assert resp.status_code == 200 and resp.json["saved"] == 0
        assert db.session.scalar(select(func.count(QuizAnswer.id))) == 0
        clock.tick(timedelta(minutes=25))
        save(member_client, aid, {})
        clock.tick(timedelta(minutes=6))
        resp = save(member_client, aid, {})
        assert resp.status_code == 409 and resp.json["result_url"].endswith(f"/quiz/attempt/{aid}/result")


def test_course_lesson_page_shows_the_quiz_box(member_client, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    html = member_client.get(f"/courses/{lesson.course_id}/lessons/{lesson.id}").get_data(as_text=True)
    assert "开始作答" in html and f"/quiz/lesson/{lesson.id}/start" in html and "30 分钟" in html
    assert "共产主义" not in html
