"""每日一练 and challenge: points (never credit hours) and the person and branch leaderboards."""
from __future__ import annotations

import re
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from lms.timeutil import utcnow
from plugins.quiz import services
from plugins.quiz.models import QuizPoints, QuizQuestion, QuizRun


def bank(add_q, n=6):
    return [add_q("判断题", f"判断题{i}", [], "对") for i in range(n)]


def start_run(client, kind) -> int:
    resp = client.post(f"/quiz/practice/{kind}/start")
    m = re.search(r"/quiz/run/(\d+)", resp.headers.get("Location", ""))
    assert m, resp.get_data(as_text=True)
    return int(m.group(1))


def current_qid(client, run_id) -> int:
    html = client.get(f"/quiz/run/{run_id}").get_data(as_text=True)
    return int(re.search(r'name="question_id" value="(\d+)"', html).group(1))


def answer(client, run_id, value: str):
    qid = current_qid(client, run_id)
    return client.post(f"/quiz/run/{run_id}/answer", data={"question_id": str(qid), f"q{qid}": value},
                       follow_redirects=True)


def test_daily_practice_once_a_day_with_points(member_client, add_q, db, app):
    bank(add_q)
    app.config["QUIZ_DAILY_COUNT"] = 3
    rid = start_run(member_client, "daily")
    assert start_run(member_client, "daily") == rid  # resumes, no second run
    answer(member_client, rid, "true")
    html = answer(member_client, rid, "false").get_data(as_text=True)
    assert "回答错误" in html and "正确答案" in html
    html = answer(member_client, rid, "true").get_data(as_text=True)
    assert "答对 2 题，获得 2 积分" in html
    pts = db.session.scalar(select(QuizPoints))
    assert pts.points == 2 and pts.source == "daily"
    html = member_client.post("/quiz/practice/daily/start", follow_redirects=True).get_data(as_text=True)
    assert "今天的每日一练已经完成" in html


def test_daily_all_correct_earns_the_bonus(member_client, add_q, db, app):
    bank(add_q)
    app.config["QUIZ_DAILY_COUNT"] = 2
    rid = start_run(member_client, "daily")
    answer(member_client, rid, "true")
    answer(member_client, rid, "true")
    assert db.session.get(QuizRun, rid).points == 2 + app.config["QUIZ_DAILY_BONUS_ALL_CORRECT"]


def test_challenge_ends_at_the_first_wrong_answer(member_client, add_q, db):
    bank(add_q)
    rid = start_run(member_client, "challenge")
    answer(member_client, rid, "true")
    answer(member_client, rid, "true")
    html = answer(member_client, rid, "false").get_data(as_text=True)
    assert "本轮结束" in html and "答对 2 题，获得 2 积分" in html
    run = db.session.get(QuizRun, rid)
    assert run.status == "finished" and run.points == 2


def test_challenge_question_time_limit_is_kept_by_the_server(member_client, add_q, db, app):
    bank(add_q)
    with freeze_time(utcnow()) as clock:
        rid = start_run(member_client, "challenge")
        answer(member_client, rid, "true")
        qid = current_qid(member_client, rid)
        clock.tick(timedelta(seconds=app.config["QUIZ_CHALLENGE_SECONDS"] + 10))
        html = member_client.post(f"/quiz/run/{rid}/answer", data={"question_id": str(qid), f"q{qid}": "true"},
                                  follow_redirects=True).get_data(as_text=True)
    assert "答题超时" in html
    run = db.session.get(QuizRun, rid)
    assert run.status == "finished" and run.correct_count == 1 and run.points == 1


def test_only_the_first_challenges_of_a_day_score(member_client, add_q, db, app):
    bank(add_q)
    app.config["QUIZ_CHALLENGE_SCORED_RUNS_PER_DAY"] = 1
    for _ in range(2):
        rid = start_run(member_client, "challenge")
        answer(member_client, rid, "true")
        answer(member_client, rid, "false")
    assert [r.points for r in db.session.scalars(select(QuizRun).order_by(QuizRun.id))] == [1, 0]


def test_unpublished_courses_and_short_answers_stay_out_of_practice(member_client, add_q, course, db):
    add_q("简答题", "主观题", [], "")
    html = member_client.post("/quiz/practice/daily/start", follow_redirects=True).get_data(as_text=True)
    assert "还没有可用于练习的题目" in html
    add_q("判断题", "判断", [], "对")
    course.status = "draft"
    db.session.commit()
    assert db.session.scalars(services.practice_pool_query()).all() == []


def test_leaderboards_rank_people_and_branches(client, users, login_as, add_q, db, org):
    bank(add_q, 3)
    for user, points in ((users.member, 5), (users.member_a2, 3), (users.member_b, 4), (users.secretary, 1)):
        run = QuizRun(user_id=user.id, kind="daily", day=services.beijing_today(), status="finished")
        db.session.add(run)
        db.session.flush()
        db.session.add(QuizPoints(user_id=user.id, org_unit_id=user.org_unit_id, source="daily", run_id=run.id,
                                  points=points))
    db.session.commit()
    people = services.person_board("month")
    assert [r[1] for r in people] == ["李党员", "王同学", "赵同学", "刘书记"]
    branches = services.branch_board("all")
    assert [(r[1], r[2], r[3]) for r in branches] == [
        ("计算机学院教工党支部", 6, 2), ("文学院学生党支部", 4, 1), ("计算机学院学生第一党支部", 3, 1)]
    login_as(client, users.member)
    html = client.get("/quiz/leaderboard?period=week").get_data(as_text=True)
    assert "计算机学院教工党支部" in html and "我的积分：5" in html
    assert "不计入学时" in client.get("/quiz/practice").get_data(as_text=True)


def test_someone_elses_run_is_not_found(client, users, login_as, add_q, db):
    bank(add_q)
    login_as(client, users.member)
    rid = start_run(client, "daily")
    login_as(client, users.member_b)
    assert client.get(f"/quiz/run/{rid}").status_code == 404
    assert client.post(f"/quiz/run/{rid}/answer", data={}).status_code == 404
    assert db.session.scalar(select(QuizQuestion.id)) is not None
