"""Teachers' side: who may manage a bank, results with export, item statistics, sharing banks, the editor pages."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from lms.audit.models import AuditLog
from plugins.quiz import services
from plugins.quiz.models import QuizBankShare, QuizQuestion


def _attempt(paper, user, answers: dict, db):
    a = services.start_attempt(paper, user)
    if answers:
        services.save_answers(a, {str(k): v for k, v in answers.items()})
    services.submit_attempt(a)
    return a


def test_only_course_teachers_and_admins_manage_the_bank(client, users, login_as, course, make_user, org, add_q,
                                                          make_lesson):
    lesson = make_lesson()
    other_teacher = make_user("外课老师", org.b1, roles=["teacher"])
    urls = [f"/quiz/course/{course.id}/bank", f"/quiz/course/{course.id}/bank/new",
            f"/quiz/course/{course.id}/bank/export.xlsx", f"/quiz/lesson/{lesson.id}/paper",
            f"/quiz/lesson/{lesson.id}/results", f"/quiz/lesson/{lesson.id}/results.xlsx",
            f"/quiz/lesson/{lesson.id}/stats"]
    for who, expected in ((users.member, 403), (other_teacher, 403), (users.secretary, 403),
                          (users.teacher, 200), (users.org_admin, 200)):
        login_as(client, who)
        for url in urls:
            assert client.get(url).status_code == expected, (who.name, url)
    client.get("/logout")
    anon = client.application.test_client()
    assert anon.get(urls[0]).status_code == 302


def test_teacher_creates_a_question_with_errors_beside_fields(client, users, login_as, course, db):
    login_as(client, users.teacher)
    resp = client.post(f"/quiz/course/{course.id}/bank/new", data={
        "qtype": "single", "stem": "一大召开于？", "option_a": "1919", "option_b": "1921", "answer": "C",
        "score": "2", "difficulty": "2", "tags": "党史"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "答案“C”不在已填写的选项中" in html
    assert db.session.scalar(select(QuizQuestion)) is None
    resp = client.post(f"/quiz/course/{course.id}/bank/new", data={
        "qtype": "single", "stem": "一大召开于？", "option_a": "1919", "option_b": "1921", "answer": "b",
        "explanation": "1921年", "score": "2", "difficulty": "1", "tags": "党史，党章", "loose_match": "y"})
    assert resp.status_code == 302
    q = db.session.scalar(select(QuizQuestion))
    assert q.answer == [1] and q.tags == ["党史", "党章"] and q.difficulty == 1
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "quiz.question_create"))
    page = client.get(f"/quiz/question/{q.id}/edit").get_data(as_text=True)
    assert 'value="B"' in page and "党史，党章" in page


def test_results_export_is_formula_safe_and_audited(client, users, login_as, fixed_paper, make_user, org, db):
    lesson, paper, qs = fixed_paper
    evil = make_user("=HYPERLINK(\"http://x\")", org.a1)
    _attempt(paper, evil, {qs["single"].id: 1}, db)
    _attempt(paper, users.member, {qs["single"].id: 0}, db)
    login_as(client, users.teacher)
    html = client.get(f"/quiz/lesson/{lesson.id}/results").get_data(as_text=True)
    assert "李党员" in html and "已交卷 2 份" in html
    resp = client.get(f"/quiz/lesson/{lesson.id}/results.xlsx")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(resp.data)).active
    cells = [c for r in ws.iter_rows() for c in r]
    assert all(c.data_type != "f" for c in cells)
    assert any(c.value == "'=HYPERLINK(\"http://x\")" for c in cells)
    assert {r[0] for r in ws.iter_rows(min_row=2, values_only=True)} == {"李党员", "'=HYPERLINK(\"http://x\")"}
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "quiz.results_export"))
    assert row is not None and row.details["rows"] == 2 and row.details["ids"] == "masked"


def test_results_export_masks_login_ids_for_a_teacher_and_is_watermarked(client, users, login_as, fixed_paper, db):
    """PI-05: a teacher does not administer the members: their login ids are masked (an administrator of their
    unit sees them in clear); the workbook names who exported it and when."""
    lesson, paper, qs = fixed_paper
    _attempt(paper, users.member, {qs["single"].id: 1}, db)
    login_as(client, users.teacher)
    wb = load_workbook(io.BytesIO(client.get(f"/quiz/lesson/{lesson.id}/results.xlsx").data))
    row = next(wb.active.iter_rows(min_row=2, values_only=True))
    login = users.member.login_id
    assert row[0] == users.member.name and row[1] == login[0] + "*" * (len(login) - 2) + login[-1]
    assert f"导出人：{users.teacher.name}" in wb.active.oddHeader.right.text
    assert wb.properties.creator.startswith(users.teacher.name)
    login_as(client, users.sysadmin)
    wb = load_workbook(io.BytesIO(client.get(f"/quiz/lesson/{lesson.id}/results.xlsx").data))
    assert next(wb.active.iter_rows(min_row=2, values_only=True))[1] == login


def test_item_statistics_flag_weak_questions_and_name_the_most_chosen_wrong_option(
        client, users, login_as, make_lesson, add_q, make_user, org, db):
    from plugins.quiz.models import QuizPaperItem

    easy = add_q("单选题", "人人会的题", ["对的", "错的"], "A")
    hard = add_q("单选题", "大家都选C的题", ["甲", "乙", "丙", "丁"], "A")
    good = add_q("判断题", "区分题", [], "对")
    lesson = make_lesson(shuffle_options=True)
    paper = services.paper_for(lesson)
    for q in (easy, hard, good):
        paper.items.append(QuizPaperItem(question_id=q.id))
    services.publish_paper(paper)
    db.session.commit()
    people = [make_user(f"学员{i}", org.a1) for i in range(8)]
    for i, u in enumerate(people):
        strong = i >= 4
        _attempt(paper, u, {easy.id: 0, hard.id: 0 if i == 7 else 2, good.id: strong}, db)
    stats = {s.question.id: s for s in services.item_statistics(paper)}
    assert stats[easy.id].facility == 1.0 and "偏易" in stats[easy.id].flags
    assert stats[hard.id].facility == 1 / 8 and "偏难" in stats[hard.id].flags
    assert stats[hard.id].wrong_option.startswith("C（7 人")
    assert stats[good.id].discrimination == 1.0 and not stats[good.id].flags
    login_as(client, users.teacher)
    html = client.get(f"/quiz/lesson/{lesson.id}/stats").get_data(as_text=True)
    assert "大家都选C的题" in html and "C（7 人，88%）" in html and "偏难" in html


def test_bank_shared_with_another_course_of_the_teacher(client, users, login_as, course, add_q, make_lesson, db):
    from lms.courses.models import Course

    second = Course(title="党史专题", status="published")
    second.teachers.append(users.teacher)
    foreign = Course(title="别人的课", status="published")
    db.session.add_all([second, foreign])
    db.session.commit()
    q = add_q("单选题", "共享题目", ["甲", "乙"], "A", tags="党史")
    login_as(client, users.teacher)
    page = client.get(f"/quiz/course/{course.id}/bank").get_data(as_text=True)
    assert "党史专题" in page and "别人的课" not in page  # only courses the teacher manages
    assert client.post(f"/quiz/course/{course.id}/bank/share", data={"course_id": foreign.id}).status_code == 302
    assert db.session.scalar(select(QuizBankShare)) is None
    client.post(f"/quiz/course/{course.id}/bank/share", data={"course_id": second.id})
    assert db.session.get(QuizBankShare, (services.bank_for(course).id, second.id)) is not None
    lesson = make_lesson(c=second)
    editor = client.get(f"/quiz/lesson/{lesson.id}/paper").get_data(as_text=True)
    assert "共享题目" in editor
    client.post(f"/quiz/lesson/{lesson.id}/paper/items", data={"question_id": [str(q.id)]})
    assert [it.question_id for it in services.paper_for(lesson).items] == [q.id]


def test_paper_settings_validation_and_publish_from_the_editor(client, users, login_as, make_lesson, add_q, db):
    add_q()
    lesson = make_lesson()
    login_as(client, users.teacher)
    resp = client.post(f"/quiz/lesson/{lesson.id}/paper", data={
        "mode": "exam", "selection": "fixed", "time_limit_minutes": "0", "pass_percent": "150",
        "reveal": "after_close"})
    html = resp.get_data(as_text=True)
    assert "限时应在 1 到 600 分钟之间" in html and "及格线应在 0 到 100 之间" in html
    resp = client.post(f"/quiz/lesson/{lesson.id}/paper", data={
        "mode": "exam", "selection": "fixed", "time_limit_minutes": "45", "pass_percent": "80",
        "reveal": "after_close"})
    assert "需要设置关闭时间" in resp.get_data(as_text=True)
    resp = client.post(f"/quiz/lesson/{lesson.id}/paper", data={
        "mode": "exam", "selection": "fixed", "time_limit_minutes": "45", "pass_percent": "80",
        "reveal": "after_close", "closes_at": "2030-01-01T18:00", "shuffle_questions": "y"})
    assert resp.status_code == 302
    paper = services.paper_for(lesson)
    assert paper.time_limit_minutes == 45 and paper.closes_at.hour == 10  # 18:00 Beijing = 10:00 UTC
    html = client.post(f"/quiz/lesson/{lesson.id}/paper/publish", follow_redirects=True).get_data(as_text=True)
    assert "试卷还没有题目" in html
    q = db.session.scalar(select(QuizQuestion))
    client.post(f"/quiz/lesson/{lesson.id}/paper/items", data={"question_id": [str(q.id)]})
    html = client.post(f"/quiz/lesson/{lesson.id}/paper/publish", follow_redirects=True).get_data(as_text=True)
    assert "测验已发布" in html


def test_grading_queue_is_scoped_to_the_teachers_courses(client, users, login_as, fixed_paper, make_user, org, db):
    lesson, paper, qs = fixed_paper
    _attempt(paper, users.member, {qs["short"].id: "我的回答"}, db)
    other = make_user("外课老师", org.b1, roles=["teacher"])
    login_as(client, other)
    assert "没有待批阅的答案" in client.get("/quiz/grading").get_data(as_text=True)
    from plugins.quiz.models import QuizAnswer

    answer = db.session.scalar(select(QuizAnswer).where(QuizAnswer.needs_grading.is_(True)))
    assert client.post(f"/quiz/answer/{answer.id}/grade", data={"points": "2"}).status_code == 403
    login_as(client, users.teacher)
    assert "简述三会一课" in client.get("/quiz/grading").get_data(as_text=True)


def test_teacher_pages_render(client, users, login_as, fixed_paper, db):
    lesson, paper, qs = fixed_paper
    a = _attempt(paper, users.member, {qs["single"].id: 1}, db)
    login_as(client, users.teacher)
    for url in ("/quiz/teach", f"/quiz/course/{paper.course_id}/bank?type=fill&tag=x&q=%25_",
                f"/quiz/lesson/{lesson.id}/paper", f"/quiz/attempt/{a.id}/review", "/quiz/grading"):
        resp = client.get(url)
        assert resp.status_code == 200, url


def test_quiz_is_a_lesson_type_with_the_paper_editor(app, users, make_lesson, add_q, db):
    from lms.courses import lesson_types

    lesson = make_lesson()
    qtype = lesson_types.get("quiz")
    assert qtype is not None and str(qtype.label) == "测验"
    with app.test_request_context():
        assert qtype.editor_url(lesson) == f"/quiz/lesson/{lesson.id}/paper"
        html = str(qtype.render(lesson, users.member, None))
    assert "该测验尚未发布" in html and "开始作答" not in html
    assert qtype.summary(lesson) == "0 题"


def test_demo_data_has_a_published_random_exam_members_can_take(app, runner, db, monkeypatch):
    from werkzeug.security import generate_password_hash

    import lms.auth.services as auth_services
    from lms.courses.models import Lesson
    from lms.demo import DemoData  # noqa: F401  (the hook's argument type)

    monkeypatch.setattr(auth_services, "hash_password",
                        lambda pw: generate_password_hash(pw, method="pbkdf2:sha256:1000"))
    result = runner.invoke(args=["lms", "demo"])
    assert result.exit_code == 0, result.output
    exam = db.session.scalar(select(Lesson).where(Lesson.title == "党史知识测验（随机组卷）"))
    paper = services.paper_for(exam)
    assert paper.is_published and services.publish_problems(paper) == []
    from lms.accounts.models import User

    member = db.session.scalar(select(User).where(User.login_id == "2025010101")) or \
        db.session.scalars(select(User)).first()
    attempt = services.start_attempt(paper, member)
    assert len(attempt.layout) == 8 and attempt.max_score == 100
    assert services.person_board("all")
