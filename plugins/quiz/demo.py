"""Demo content of the quiz plugin: a 党史 bank, an exam drawn by rules, a practice quiz and some points."""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from lms.extensions import db
from lms.timeutil import utcnow
from plugins.quiz import importers, services
from plugins.quiz.models import QuizDrawRule, QuizPaperItem, QuizPoints, QuizQuestion, QuizRun

HISTORY = [
    ("单选题", "中国共产党第一次全国代表大会召开于哪一年？", ["1919年", "1921年", "1927年", "1949年"], "B",
     "1921年7月23日，中共一大在上海开幕，后转移到浙江嘉兴南湖继续举行。", "简单", "党史"),
    ("单选题", "中共一大最后一天的会议在哪里举行？", ["上海", "北京", "嘉兴南湖", "广州"], "C", "", "简单", "党史"),
    ("单选题", "八七会议确立了什么总方针？", ["土地革命和武装反抗国民党反动派", "联合抗日", "农村包围城市",
                                   "和平建国"], "A", "", "中等", "党史"),
    ("单选题", "中国共产党历史上第一次独立自主地解决党内重大问题的会议是？", ["八七会议", "古田会议", "遵义会议",
                                                     "洛川会议"], "C", "遵义会议是党的历史上一个生死攸关的转折点。",
     "中等", "党史"),
    ("单选题", "党的十一届三中全会召开于？", ["1976年", "1978年", "1982年", "1992年"], "B", "", "简单", "党史"),
    ("单选题", "“两个确立”是党在新时代取得的重大政治成果，是在哪次会议上提出的？",
     ["十九届六中全会", "十八届三中全会", "二十大", "十九大"], "A", "", "困难", "党史，党的理论"),
    ("多选题", "新民主主义革命时期的“三大法宝”是？", ["统一战线", "武装斗争", "党的建设", "土地改革"], "ABC",
     "", "中等", "党史"),
    ("多选题", "“四个意识”包括？", ["政治意识", "大局意识", "核心意识", "看齐意识"], "ABCD", "", "简单", "党的理论"),
    ("判断题", "遵义会议确立了毛泽东同志在红军和党中央的领导地位。", [], "对", "", "简单", "党史"),
    ("判断题", "中共二大第一次提出了彻底的反帝反封建的民主革命纲领。", [], "对", "", "中等", "党史"),
    ("判断题", "改革开放是从1992年开始的。", [], "错", "1978年党的十一届三中全会开启了改革开放。", "简单", "党史"),
    ("填空题", "中国共产党的根本宗旨是____。", [], "全心全意为人民服务", "", "简单", "党章"),
    ("填空题", "党的最高理想和最终目标是实现____。", [], "共产主义", "", "简单", "党章"),
    ("简答题", "结合实际，谈谈你对伟大建党精神的理解。", [], "坚持真理、坚守理想，践行初心、担当使命，"
                                         "不怕牺牲、英勇斗争，对党忠诚、不负人民", "", "困难", "党史"),
]


def load(demo) -> None:
    course = demo.courses.get("history")
    if course is None:
        return
    bank = services.bank_for(course)
    has = db.session.scalar(select(func.count(QuizQuestion.id)).where(QuizQuestion.bank_id == bank.id))
    if not has:
        teacher = course.teachers[0] if course.teachers else None
        for qtype, stem, opts, answer, expl, diff, tags in HISTORY:
            data, errors = importers.build_question({"type": qtype, "stem": stem, "options": opts, "answer": answer,
                                                     "explanation": expl, "score": 10 if qtype == "简答题" else 2,
                                                     "difficulty": diff, "tags": tags,
                                                     "partial": "是" if qtype == "多选题" else "否"})
            if not errors:
                services.save_question(bank, data, teacher)
                demo.count("quiz questions")
    exam, created = demo.lesson("history", 1, "党史知识测验（随机组卷）", "quiz")
    if created:
        paper = services.paper_for(exam)
        paper.selection = "random"
        paper.time_limit_minutes = 20
        paper.max_attempts = 3
        paper.pass_percent = 60
        paper.rules = [QuizDrawRule(count=4, qtype="single", tag="党史", score_each=10),
                       QuizDrawRule(count=2, qtype="multiple", score_each=15),
                       QuizDrawRule(count=2, qtype="truefalse", score_each=15)]
        services.publish_paper(paper)
    practice, created = demo.lesson("history", 2, "党章知识练习", "quiz")
    if created:
        paper = services.paper_for(practice)
        paper.mode = "practice"
        for n, q in enumerate(db.session.scalars(select(QuizQuestion).where(
                QuizQuestion.bank_id == bank.id, QuizQuestion.type.in_(["fill", "truefalse"])))):
            paper.items.append(QuizPaperItem(question_id=q.id, position=n))
        services.publish_paper(paper)
    if not db.session.scalar(select(func.count(QuizPoints.id))) and demo.members:
        rng = random.Random(2026)  # noqa: S311  (reproducible demo answers, nothing secret)
        now = utcnow()
        for user in rng.sample(demo.members, min(40, len(demo.members))):
            for d in range(rng.randint(1, 8)):
                when = now - timedelta(days=d)
                correct = rng.randint(2, 5)
                run = QuizRun(user_id=user.id, kind="daily", day=services.beijing_today(when), status="finished",
                              correct_count=correct, points=correct, started_at=when, finished_at=when)
                db.session.add(run)
                db.session.flush()
                db.session.add(QuizPoints(user_id=user.id, org_unit_id=user.org_unit_id, source="daily",
                                          run_id=run.id, points=correct, earned_at=when))
        demo.count("quiz point records")
