"""Quiz logic without request objects: banks, imports, papers, drawing, attempts, grading, statistics, points.

Functions here never commit, except the attempt write paths that must be short transactions
(`start_attempt`, `save_answers`, `submit_attempt`, `submit_with_answers`, `finalize_overdue`,
`grade_attempt`, the practice runs), which say so.
"""
from __future__ import annotations

import logging
import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, exists, func, insert, inspect, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from lms import audit, events, integrity
from lms.accounts.models import User
from lms.courses.models import Course, Lesson, course_teacher
from lms.extensions import db
from lms.timeutil import utcnow
from plugins.quiz.grading import LETTERS, TYPES
from plugins.quiz.models import (
    DIFFICULTIES,
    QuizAnswer,
    QuizAttempt,
    QuizBank,
    QuizBankShare,
    QuizDrawRule,
    QuizPaper,
    QuizPaperItem,
    QuizPoints,
    QuizQuestion,
    QuizQuestionTag,
    QuizRun,
)

log = logging.getLogger(__name__)
_TZ = ZoneInfo("Asia/Shanghai")
GRADED = ("pending", "graded")  # machine-graded; "pending" still waits for a teacher
QUIZ_ACTIVITY = "http://adlnet.gov/expapi/activities/assessment"
INTERACTION_ACTIVITY = "http://adlnet.gov/expapi/activities/cmi.interaction"


class QuizError(ValueError):
    """A rule of the quiz was broken; the message is a sentence for the user."""


def cfg(key: str):
    return current_app.config[f"QUIZ_{key}"]


# --- banks ---------------------------------------------------------------------------------------------
def bank_for(course: Course) -> QuizBank:
    bank = db.session.scalar(select(QuizBank).where(QuizBank.course_id == course.id))
    if bank is None:
        bank = QuizBank(course_id=course.id)
        db.session.add(bank)
        db.session.flush()
    return bank


def usable_bank_ids(course: Course) -> list[int]:
    """The course's own bank and every bank shared with it."""
    own = bank_for(course).id
    shared = db.session.scalars(select(QuizBankShare.bank_id).where(QuizBankShare.course_id == course.id))
    return [own, *shared]


def managed_courses(user) -> list[Course]:
    """Courses whose banks and quizzes `user` may manage (teachers: theirs; admins: their scope)."""
    from lms.authz import MANAGE, can

    if user.is_sysadmin:
        return list(db.session.scalars(select(Course).order_by(Course.id.desc())))
    ids = set(db.session.scalars(select(course_teacher.c.course_id).where(course_teacher.c.user_id == user.id)))
    units = user.role_units("org_admin")
    if units:
        from lms.org.models import OrgUnitClosure

        ids |= set(db.session.scalars(
            select(Course.id).where(Course.owner_unit_id.in_(
                select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id.in_(units))))
        ))
    courses = db.session.scalars(select(Course).where(Course.id.in_(ids or [-1])).order_by(Course.id.desc()))
    return [c for c in courses if can(user, MANAGE, c)]


def share_bank(bank: QuizBank, course: Course, actor) -> None:
    if course.id == bank.course_id:
        raise QuizError(_("不能共享给题库所属的课程本身"))
    exists = db.session.get(QuizBankShare, (bank.id, course.id))
    if exists is None:
        db.session.add(QuizBankShare(bank_id=bank.id, course_id=course.id, shared_by_id=actor.id))
        audit.log("quiz.bank_share", bank, details={"course_id": course.id})


def unshare_bank(bank: QuizBank, course_id: int) -> None:
    row = db.session.get(QuizBankShare, (bank.id, course_id))
    if row is not None:
        db.session.delete(row)
        audit.log("quiz.bank_unshare", bank, details={"course_id": course_id})


def set_tags(question: QuizQuestion, tags: list[str]) -> None:
    clean = list(dict.fromkeys(t for t in tags if t))
    question.tags = clean
    question.tag_rows = [QuizQuestionTag(tag=t) for t in clean]


def save_question(bank: QuizBank, data: dict, actor, question: QuizQuestion | None = None) -> QuizQuestion:
    """Create or update a question from validated data (see `grading.validate_question`)."""
    if question is None:
        question = QuizQuestion(bank_id=bank.id, created_by_id=getattr(actor, "id", None))
        db.session.add(question)
    question.type = data["type"]
    question.stem = data["stem"]
    question.options = list(data.get("options") or [])
    question.answer = data["answer"]
    question.explanation = data.get("explanation") or ""
    question.score = float(data["score"])
    question.difficulty = int(data["difficulty"])
    question.partial_credit = bool(data.get("partial_credit"))
    question.loose_match = bool(data.get("loose_match", True))
    set_tags(question, data.get("tags") or [])
    db.session.flush()
    return question


def import_questions(bank: QuizBank, result, actor, source: str) -> int:
    """Write an import that passed its dry run (all or nothing: the caller commits once)."""
    if result.errors:
        raise QuizError(_("导入文件中有错误，未导入任何题目"))
    for data in result.questions:
        save_question(bank, data, actor)
    audit.log("quiz.bank_import", bank, details={"count": len(result.questions), "format": source})
    return len(result.questions)


def question_query(bank_ids: list[int], *, qtype=None, tag=None, difficulty=None, text=None):
    q = select(QuizQuestion).where(QuizQuestion.bank_id.in_(bank_ids), QuizQuestion.archived.is_(False))
    if qtype:
        q = q.where(QuizQuestion.type == qtype)
    if difficulty:
        q = q.where(QuizQuestion.difficulty == int(difficulty))
    if tag:
        q = q.where(QuizQuestion.id.in_(select(QuizQuestionTag.question_id).where(QuizQuestionTag.tag == tag)))
    if text:
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(QuizQuestion.stem.like(like, escape="\\"))
    return q.order_by(QuizQuestion.id.desc())


def bank_tags(bank_ids: list[int]) -> list[str]:
    q = (select(QuizQuestionTag.tag).join(QuizQuestion, QuizQuestion.id == QuizQuestionTag.question_id)
         .where(QuizQuestion.bank_id.in_(bank_ids), QuizQuestion.archived.is_(False))
         .group_by(QuizQuestionTag.tag).order_by(QuizQuestionTag.tag))
    return list(db.session.scalars(q))


# --- papers --------------------------------------------------------------------------------------------
def paper_for(lesson: Lesson) -> QuizPaper:
    paper = db.session.scalar(select(QuizPaper).where(QuizPaper.lesson_id == lesson.id))
    if paper is None:
        paper = QuizPaper(lesson_id=lesson.id, course_id=lesson.course_id)
        db.session.add(paper)
        db.session.flush()
    return paper


def rule_label(rule: QuizDrawRule) -> str:
    parts = [str(TYPES[rule.qtype].label) if rule.qtype else _("任意题型")]
    if rule.tag:
        parts.append(_("标签“%(t)s”", t=rule.tag))
    if rule.difficulty:
        parts.append(str(DIFFICULTIES[rule.difficulty]))
    return _("，").join(parts)


def rule_candidates(paper: QuizPaper, rule: QuizDrawRule, bank_ids: list[int] | None = None) -> list[int]:
    if bank_ids is None:
        bank_ids = usable_bank_ids(db.session.get(Course, paper.course_id))
    q = question_query(bank_ids, qtype=rule.qtype, tag=rule.tag, difficulty=rule.difficulty)
    return list(db.session.scalars(q.with_only_columns(QuizQuestion.id)))


def all_rule_candidates(paper: QuizPaper) -> list[list[int]]:
    """The candidate question ids of every rule of the paper (the usable banks looked up once)."""
    bank_ids = usable_bank_ids(db.session.get(Course, paper.course_id))
    return [rule_candidates(paper, r, bank_ids) for r in paper.rules]


def _assign(rules: list[QuizDrawRule], candidates: list[list[int]], rng: random.Random | None) -> list[list[int]] | None:
    """Pick distinct questions for every rule's slots (bipartite matching); None when impossible.

    With `rng` the candidate orders are shuffled, so a feasible paper comes out differently per person.
    """
    slots = [r for r, rule in enumerate(rules) for _ in range(rule.count)]
    cands = [list(c) for c in candidates]
    if rng is not None:
        for c in cands:
            rng.shuffle(c)
    owner: dict[int, int] = {}  # question id -> slot index

    def try_slot(s: int, seen: set[int]) -> bool:
        for qid in cands[slots[s]]:
            if qid in seen:
                continue
            seen.add(qid)
            if qid not in owner or try_slot(owner[qid], seen):
                owner[qid] = s
                return True
        return False

    for s in range(len(slots)):
        if not try_slot(s, set()):
            return None
    picked: list[list[int]] = [[] for _ in rules]
    for qid, s in sorted(owner.items(), key=lambda kv: kv[1]):
        picked[slots[s]].append(qid)
    return picked


def live_items(paper: QuizPaper) -> list[QuizPaperItem]:
    """The paper's items whose questions are still in the bank."""
    db.session.flush()  # items just appended get their question loaded
    items = paper.items
    # One query for all the questions; `it.question` then comes from the identity map (no query per item).
    missing = [it.question_id for it in items if "question" not in inspect(it).dict]
    if missing:
        list(db.session.scalars(select(QuizQuestion).where(QuizQuestion.id.in_(missing))))
    return [it for it in items if not it.question.archived]


def publish_problems(paper: QuizPaper) -> list[str]:
    """Why the paper cannot be published (Chinese sentences); empty when it can."""
    problems: list[str] = []
    if paper.reveal == "after_close" and paper.mode == "exam" and not paper.closes_at:
        problems.append(_("“关闭后公布答案”需要设置关闭时间"))
    if paper.opens_at and paper.closes_at and paper.closes_at <= paper.opens_at:
        problems.append(_("关闭时间必须晚于开放时间"))
    if paper.selection == "fixed":
        if not live_items(paper):
            problems.append(_("试卷还没有题目"))
        return problems
    if not paper.rules:
        problems.append(_("随机组卷还没有抽题规则"))
        return problems
    candidates = all_rule_candidates(paper)
    short = False
    for n, (rule, cands) in enumerate(zip(paper.rules, candidates, strict=True), start=1):
        if len(cands) < rule.count:
            short = True
            problems.append(_("规则%(n)s（%(label)s）需要 %(need)s 道题，题库中只有 %(have)s 道符合条件的题目",
                              n=n, label=rule_label(rule), need=rule.count, have=len(cands)))
    if not short and _assign(paper.rules, candidates, None) is None:
        need = sum(r.count for r in paper.rules)
        have = len(set().union(*map(set, candidates)))
        problems.append(_("各规则合计需要 %(need)s 道不同的题目，但规则之间有重叠，符合条件的不同题目只有 %(have)s 道",
                          need=need, have=have))
    return problems


def publish_paper(paper: QuizPaper) -> None:
    problems = publish_problems(paper)
    if problems:
        raise QuizError(_("；").join(problems))
    paper.status = "published"
    paper.published_at = paper.published_at or utcnow()
    audit.log("quiz.paper_publish", paper)


def paper_max_score(paper: QuizPaper) -> float:
    if paper.selection == "fixed":
        return sum(it.score or it.question.score for it in live_items(paper))
    total = 0.0
    for r in paper.rules:
        if r.score_each:
            total += r.score_each * r.count
        else:
            return 0.0  # depends on the questions drawn
    return total


def paper_question_count(paper: QuizPaper) -> int:
    if paper.selection == "fixed":
        return len(live_items(paper))
    return sum(r.count for r in paper.rules)


# --- attempts ------------------------------------------------------------------------------------------
def attempts_of(paper: QuizPaper, user) -> list[QuizAttempt]:
    return list(db.session.scalars(
        select(QuizAttempt).where(QuizAttempt.paper_id == paper.id, QuizAttempt.user_id == user.id)
        .order_by(QuizAttempt.number)
    ))


def open_attempt(paper: QuizPaper, user) -> QuizAttempt | None:
    return db.session.scalar(select(QuizAttempt).where(
        QuizAttempt.paper_id == paper.id, QuizAttempt.user_id == user.id, QuizAttempt.status == "open"))


def start_problem(paper: QuizPaper, user, now: datetime | None = None) -> str | None:
    """Why `user` cannot start a new attempt now, or None."""
    now = now or utcnow()
    if not paper.is_published:
        return _("该测验尚未发布")
    if paper.opens_at and now < paper.opens_at:
        return _("该测验尚未开放")
    if paper.closes_at and now >= paper.closes_at:
        return _("该测验已关闭")
    if paper.max_attempts:
        used = db.session.scalar(select(func.count(QuizAttempt.id)).where(
            QuizAttempt.paper_id == paper.id, QuizAttempt.user_id == user.id)) or 0
        if used >= paper.max_attempts:
            return _("您已用完全部 %(n)s 次作答机会", n=paper.max_attempts)
    return None


def _draw_layout(paper: QuizPaper, rng: random.Random) -> list[dict]:
    """This person's paper: question ids, points and option orders (one query for a fixed paper)."""
    cols = (QuizQuestion.id, QuizQuestion.score, QuizQuestion.type, QuizQuestion.options)
    entries: list[dict] = []
    if paper.selection == "fixed":
        rows = db.session.execute(
            select(QuizPaperItem.score.label("item_score"), *cols)
            .join(QuizQuestion, QuizQuestion.id == QuizPaperItem.question_id)
            .where(QuizPaperItem.paper_id == paper.id, QuizQuestion.archived.is_(False))
            .order_by(QuizPaperItem.position, QuizPaperItem.id)).all()
        questions = {r.id: r for r in rows}
        entries = [{"q": r.id, "s": float(r.item_score or r.score)} for r in rows]
    else:
        picked = _assign(paper.rules, all_rule_candidates(paper), rng)
        if picked is None:
            raise QuizError(_("题库中的题目已变化，无法按规则组卷，请联系任课教师"))
        questions = {r.id: r for r in db.session.execute(
            select(*cols).where(QuizQuestion.id.in_([i for p in picked for i in p])))}
        for rule, ids in zip(paper.rules, picked, strict=True):
            for qid in ids:
                entries.append({"q": qid, "s": float(rule.score_each or questions[qid].score)})
    if paper.shuffle_questions:
        rng.shuffle(entries)
    for e in entries:
        q = questions[e["q"]]
        order = list(range(len(q.options or [])))
        if paper.shuffle_options and q.type in ("single", "multiple"):
            rng.shuffle(order)
        e["o"] = order
    return entries


def start_attempt(paper: QuizPaper, user, now: datetime | None = None) -> QuizAttempt:
    """Resume the open attempt or start a new one (commits). The deadline is fixed here, once."""
    now = now or utcnow()
    finalize_overdue(paper_id=paper.id, user_id=user.id, now=now)
    current = open_attempt(paper, user)
    if current is not None:
        return current
    problem = start_problem(paper, user, now)
    if problem:
        raise QuizError(problem)
    number = (db.session.scalar(select(func.max(QuizAttempt.number)).where(
        QuizAttempt.paper_id == paper.id, QuizAttempt.user_id == user.id)) or 0) + 1
    rng = random.Random(secrets.randbits(64))  # noqa: S311  (seeded from secrets; shuffles, not keys)
    layout = _draw_layout(paper, rng)
    deadline = None
    if paper.time_limit_minutes:
        deadline = now + timedelta(minutes=paper.time_limit_minutes)
    if paper.closes_at and (deadline is None or paper.closes_at < deadline):
        deadline = paper.closes_at
    attempt = QuizAttempt(paper_id=paper.id, user_id=user.id, number=number, status="open", started_at=now,
                          deadline=deadline, layout=layout, max_score=sum(e["s"] for e in layout))
    contest = _shares_closing_time(paper, deadline)
    db.session.add(attempt)
    try:
        # A contest start is one short INSERT (hundreds start within seconds); its statement follows at grading.
        db.session.flush()
        if not contest:
            _record_attempted(attempt)
        db.session.commit()
    except IntegrityError:
        # Another request of the same person started it a moment ago (double click): use that one.
        db.session.rollback()
        current = open_attempt(paper, user)
        if current is None:
            raise
        return current
    return attempt


def registration(attempt: QuizAttempt) -> str:
    """The xAPI registration of an attempt: one stable UUID tying its statements together."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, events.activity_iri("quiz-attempt", attempt.id)))


def _record_attempted(attempt: QuizAttempt) -> None:
    lesson = attempt.paper.lesson
    events.record(events.LearningEvent(
        user=attempt.user, verb="attempted", object_id=events.activity_iri("lesson", lesson.id),
        object_type=QUIZ_ACTIVITY, object_name={"zh-CN": lesson.title},
        context={"extensions": {events.activity_iri("quiz-attempt", "number"): attempt.number}},
        course_id=lesson.course_id, lesson_id=lesson.id, timestamp=attempt.started_at,
        registration=registration(attempt),
    ))
    attempt.attempted_recorded = True


def is_past_deadline(attempt: QuizAttempt, now: datetime | None = None) -> bool:
    if attempt.deadline is None:
        return False
    grace = timedelta(seconds=cfg("DEADLINE_GRACE_SECONDS"))
    return (now or utcnow()) > attempt.deadline + grace


def layout_questions(attempt: QuizAttempt) -> dict[int, QuizQuestion]:
    ids = [e["q"] for e in attempt.layout]
    return {q.id: q for q in db.session.scalars(select(QuizQuestion).where(QuizQuestion.id.in_(ids)))}


def saved_answers(attempt_id: int) -> dict[int, QuizAnswer]:
    return {a.question_id: a for a in db.session.scalars(
        select(QuizAnswer).where(QuizAnswer.attempt_id == attempt_id))}


def public_view(attempt: QuizAttempt, questions: dict[int, QuizQuestion], answers: dict[int, QuizAnswer]) -> list[dict]:
    """What the browser gets before submission: stems, options in this person's order, saved responses.

    Never the key or the explanation (answers of questions already checked in practice mode excepted).
    """
    out = []
    type_labels = {k: str(t.label) for k, t in TYPES.items()}
    for n, e in enumerate(attempt.layout, start=1):
        q = questions[e["q"]]
        a = answers.get(q.id)
        item = {
            "id": q.id, "n": n, "type": q.type, "type_label": type_labels[q.type], "stem": q.stem,
            "score": e["s"],
            "options": [{"value": i, "label": LETTERS[pos], "text": q.options[i]} for pos, i in enumerate(e["o"])],
            "blanks": len(q.answer) if q.type == "fill" else 0,
            "response": a.response if a else None,
            "locked": bool(a and a.graded_at and attempt.paper.mode == "practice" and attempt.status == "open"),
        }
        if item["locked"]:
            item["feedback"] = feedback(q, a, e)
        out.append(item)
    return out


def feedback(q: QuizQuestion, a: QuizAnswer | None, entry: dict) -> dict:
    """Per-question feedback after it was answered (practice check, or results after reveal)."""
    order = entry.get("o") or list(range(len(q.options or [])))
    shown = {orig: LETTERS[pos] for pos, orig in enumerate(order)}
    if q.type in ("single", "multiple"):
        key = "".join(sorted(shown[i] for i in q.answer))
        given = "".join(sorted(shown[i] for i in ((a.response if a else None) or [])
                               if isinstance(i, int))) if q.type == "multiple" else (
            shown.get(a.response, "") if a and a.response is not None else "")
    else:
        key = TYPES[q.type].answer_text(q)
        given = TYPES[q.type].response_text(q, a.response if a else None)
    return {"correct": a.correct if a else False, "points": a.points if a else 0.0, "key": key, "given": given,
            "explanation": q.explanation, "comment": a.comment if a else ""}


def save_answers(attempt: QuizAttempt, raw: dict, now: datetime | None = None) -> int:
    """Store responses of an open attempt (upsert per question; commits). Raises QuizError when refused.

    This is the autosave of every member every few seconds, so it is one short write transaction: on
    SQLite a single prepared upsert (run once per answered question) whose rows go in only while the
    attempt is open, then the commit. Everything else (checking the answers, reading the questions)
    happens before the write.
    """
    now = now or utcnow()
    rows = _answer_rows(attempt, raw, now)
    if not rows:
        return 0
    return _write_answers(attempt.id, rows, commit=True)


def _answer_rows(attempt: QuizAttempt, raw: dict, now: datetime) -> list[dict]:
    """The checked rows to write for `raw`, or QuizError (closed, too late: then submitted, malformed)."""
    if attempt.status != "open":
        raise QuizError(_("本次作答已交卷，不能再修改答案"))
    if is_past_deadline(attempt, now):
        submit_attempt(attempt, now=now, auto=True)
        raise QuizError(_("考试时间已到，这次的修改没有保存；系统已按已保存的答案自动交卷"))
    if not isinstance(raw, dict):
        raise QuizError(_("答案格式不正确"))
    allowed = {str(e["q"]) for e in attempt.layout}
    wanted = {k: v for k, v in raw.items() if str(k) in allowed}
    if len(wanted) != len(raw):
        raise QuizError(_("答案中包含不属于本试卷的题目"))
    if not wanted:
        return []
    # Only what cleaning a response needs (type, options, blanks), not whole question objects.
    shapes = {r.id: r for r in db.session.execute(
        select(QuizQuestion.id, QuizQuestion.type, QuizQuestion.options, QuizQuestion.answer)
        .where(QuizQuestion.id.in_([int(k) for k in wanted])))}
    rows = []
    for k, v in wanted.items():
        q = shapes[int(k)]
        try:
            response = TYPES[q.type].clean_response(q, v)
        except (ValueError, TypeError) as exc:
            raise QuizError(_("第 %(n)s 题的答案格式不正确", n=_position(attempt, q.id))) from exc
        row = {"attempt_id": attempt.id, "question_id": q.id, "response": response, "saved_at": now}
        # An answer of an open attempt is ungraded (graded ones are not overwritten): sealed as such (PI-04).
        row["seal"] = integrity.seal_values("quiz_answer", {**row, "needs_grading": False})
        rows.append(row)
    return rows


def _write_answers(attempt_id: int, rows: list[dict], commit: bool) -> int:
    """The upsert of checked rows; without `commit` the transaction stays open (a submit closes it)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        # The attempt's row lock: a concurrent submit either committed first (we see it closed) or waits
        # for this commit and then grades these answers too.
        still_open = db.session.scalar(select(QuizAttempt.status).where(QuizAttempt.id == attempt_id)
                                       .with_for_update()) == "open"
        if still_open:
            db.session.execute(_answer_upsert(dialect), rows)
    else:
        # SQLite has one writer at a time: the check "attempt still open" is inside the upsert itself, so a
        # concurrent submit either committed before (no row goes in) or waits for this commit.
        written = db.session.execute(_answer_upsert(dialect), rows).rowcount
        # Fewer rows than sent: the attempt was closed meanwhile, or practice answers already checked
        # (those stay as they were). The write lock is still ours, so the status read is current.
        still_open = written == len(rows) or db.session.scalar(
            select(QuizAttempt.status).where(QuizAttempt.id == attempt_id)) == "open"
    if not still_open:
        db.session.rollback()
        raise QuizError(_("本次作答已交卷，不能再修改答案"))
    if commit:
        db.session.commit()
    return len(rows)


_UPSERTS: dict[str, object] = {}


def _answer_upsert(dialect: str):
    """The autosave statement, built once per dialect and run with one parameter set per answer."""
    stmt = _UPSERTS.get(dialect)
    if stmt is not None:
        return stmt
    table = QuizAnswer.__table__
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert

        ins = dialect_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert

        attempt_id = bindparam("attempt_id", type_=table.c.attempt_id.type)
        values = select(attempt_id, bindparam("question_id", type_=table.c.question_id.type),
                        bindparam("response", type_=table.c.response.type),
                        bindparam("saved_at", type_=table.c.saved_at.type), literal(False), literal(""),
                        bindparam("seal", type_=table.c.seal.type))
        open_attempt_ = exists().where(QuizAttempt.id == attempt_id, QuizAttempt.status == "open")
        ins = dialect_insert(table).from_select(
            ["attempt_id", "question_id", "response", "saved_at", "needs_grading", "comment", "seal"],
            values.where(open_attempt_))
    # Practice answers already checked (graded_at set) stay as they were.
    stmt = ins.on_conflict_do_update(
        index_elements=[table.c.attempt_id, table.c.question_id],
        set_={"response": ins.excluded.response, "saved_at": ins.excluded.saved_at, "seal": ins.excluded.seal},
        where=table.c.graded_at.is_(None),
    )
    _UPSERTS[dialect] = stmt
    return stmt


def _position(attempt: QuizAttempt, qid: int) -> int:
    for n, e in enumerate(attempt.layout, start=1):
        if e["q"] == qid:
            return n
    return 0


def check_practice_answer(attempt: QuizAttempt, qid: int, raw, now: datetime | None = None) -> dict:
    """Practice mode: grade one question now and lock it; returns its feedback (commits)."""
    if attempt.paper.mode != "practice":
        raise QuizError(_("考试模式下不能逐题查看答案"))
    entry = next((e for e in attempt.layout if e["q"] == qid), None)
    if entry is None:
        raise QuizError(_("答案中包含不属于本试卷的题目"))
    save_answers(attempt, {str(qid): raw}, now=now)
    a = db.session.scalar(select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id,
                                                   QuizAnswer.question_id == qid))
    q = db.session.get(QuizQuestion, qid)
    if a.graded_at is None:
        _grade_answer(q, a, entry["s"])
        a.graded_at = utcnow()
        db.session.commit()
    return feedback(q, a, entry)


def _grade_answer(q: QuizQuestion, a: QuizAnswer, full: float) -> None:
    g = TYPES[q.type].grade(q, a.response, full)
    a.points, a.correct, a.needs_grading = g.points, g.correct, g.needs_grading


def submit_attempt(attempt: QuizAttempt, now: datetime | None = None, auto: bool = False) -> bool:
    """Close an open attempt exactly once and grade it when grading is due (commits).

    Returns False when it was already closed. The open → closed change is a conditional UPDATE: of two
    concurrent submits only one matches the row, so an attempt is closed, and later graded, once.
    """
    now = now or utcnow()
    contest = is_contest(attempt)  # asked before the commit expires the attempt (no reload afterwards)
    if not _close(attempt, now, auto):
        db.session.refresh(attempt)
        return False
    if not contest:
        grade_attempt(attempt, now)
    return True


def _close(attempt: QuizAttempt, now: datetime, auto: bool) -> bool:
    """The conditional open → closed UPDATE and its commit (with the answers written before it, if any)."""
    submitted_at = now
    if attempt.deadline is not None and now > attempt.deadline:
        submitted_at = attempt.deadline if auto else now
    res = db.session.execute(
        update(QuizAttempt).where(QuizAttempt.id == attempt.id, QuizAttempt.status == "open")
        .values(status="closed", submitted_at=submitted_at, auto_submitted=auto,
                seal=integrity.seal_object(attempt, status="closed", submitted_at=submitted_at))
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        db.session.rollback()
        return False
    db.session.commit()
    return True


def submit_with_answers(attempt: QuizAttempt, raw: dict | None, now: datetime | None = None) -> str | None:
    """A member's submit: the last answers and the close in one transaction (commits).

    Returns why the last answers were not taken (closed already, too late, malformed), or None. What was
    saved before counts either way.
    """
    now = now or utcnow()
    message = None
    contest = is_contest(attempt)
    rows = []
    if raw:
        try:
            rows = _answer_rows(attempt, raw, now)  # checked first: the transaction is only the writes
        except QuizError as exc:
            db.session.rollback()
            message = str(exc)
    if rows:
        try:
            _write_answers(attempt.id, rows, commit=False)
        except QuizError as exc:  # closed meanwhile
            message = str(exc)
    closed = attempt.status == "open" and _close(attempt, now, auto=is_past_deadline(attempt, now))
    if closed and not contest:
        grade_attempt(attempt, now)
    elif not closed:
        db.session.refresh(attempt)
    return message


def is_contest(attempt: QuizAttempt) -> bool:
    """Is everyone's deadline the quiz's shared closing time (a knowledge contest)?

    Then starting and submitting are single short writes (SQLite has one writer and hundreds of people
    start and submit within seconds); grading and the statements it records follow the close, in the
    periodic task.
    """
    return _shares_closing_time(attempt.paper, attempt.deadline)


def _shares_closing_time(paper: QuizPaper, deadline: datetime | None) -> bool:
    return bool(cfg("GRADE_AFTER_CLOSE") and paper.closes_at is not None and deadline == paper.closes_at)


def grading_due(attempt: QuizAttempt, now: datetime | None = None) -> bool:
    """May a closed attempt be graded now? A contest's attempts wait until the quiz has closed."""
    return not is_contest(attempt) or (now or utcnow()) >= attempt.paper.closes_at


@dataclass
class _Graded:
    """An answer as grading sees it (plain values: no ORM object per answer)."""

    response: object
    points: float | None
    correct: bool | None
    needs_grading: bool


_GRADING_COLUMNS = (QuizQuestion.id, QuizQuestion.type, QuizQuestion.stem, QuizQuestion.options,
                    QuizQuestion.answer, QuizQuestion.partial_credit, QuizQuestion.loose_match)


def _grading_questions(ids: list[int], cache: dict | None) -> dict:
    """The questions grading needs, as plain rows; `cache` keeps them across the attempts of one run."""
    cache = {} if cache is None else cache
    missing = [i for i in ids if i not in cache]
    if missing:
        cache.update({r.id: r for r in db.session.execute(
            select(*_GRADING_COLUMNS).where(QuizQuestion.id.in_(missing)))})
    return cache


def grade_attempt(attempt: QuizAttempt, now: datetime | None = None, cache: dict | None = None) -> bool:
    """Machine-grade a closed attempt once, record its statements and progress (one transaction, commits).

    The answers are read with one query and written with one INSERT (never-answered questions) and one
    UPDATE (the rest), each run for all rows at once; `cache` shares the questions between attempts.
    """
    now = now or utcnow()
    res = db.session.execute(
        update(QuizAttempt).where(QuizAttempt.id == attempt.id, QuizAttempt.status == "closed")
        .values(status="pending", seal=integrity.seal_object(attempt, status="pending"))
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        db.session.rollback()
        db.session.refresh(attempt)
        return False
    layout = attempt.layout  # (loads the attempt when a commit expired it)
    set_committed_value(attempt, "status", "pending")  # what the UPDATE wrote, without reading it back
    questions = _grading_questions([e["q"] for e in layout], cache)
    table = QuizAnswer.__table__
    stored = {r.question_id: r for r in db.session.execute(
        select(table.c.id, table.c.question_id, table.c.response, table.c.points, table.c.correct,
               table.c.needs_grading, table.c.graded_at).where(table.c.attempt_id == attempt.id))}
    answers: dict[int, _Graded] = {}
    inserts, updates = [], []
    for e in layout:
        q = questions[e["q"]]
        row = stored.get(q.id)
        if row is not None and row.graded_at is not None and row.points is not None:
            # checked already (practice mode): kept as it was
            answers[q.id] = _Graded(row.response, row.points, row.correct, row.needs_grading)
            continue
        response = row.response if row is not None else None
        g = TYPES[q.type].grade(q, response, e["s"])
        answers[q.id] = _Graded(response, g.points, g.correct, g.needs_grading)
        values = {"points": g.points, "correct": g.correct, "needs_grading": g.needs_grading,
                  "graded_at": None if g.needs_grading else now}
        values["seal"] = integrity.seal_values("quiz_answer", {"attempt_id": attempt.id, "question_id": q.id,
                                                              "response": response, **values})
        if row is None:
            inserts.append({"attempt_id": attempt.id, "question_id": q.id, "response": None,
                            "saved_at": attempt.submitted_at, "comment": "", **values})
        else:
            updates.append({"answer_id": row.id, **{f"new_{k}": v for k, v in values.items()}})
    if inserts:
        db.session.execute(insert(table), inserts)
    if updates:
        db.session.execute(
            update(table).where(table.c.id == bindparam("answer_id"))
            .values({c: bindparam(f"new_{c}") for c in ("points", "correct", "needs_grading", "graded_at", "seal")}),
            updates)
    user = attempt.user
    lesson = attempt.paper.lesson
    if not attempt.attempted_recorded:
        _record_attempted(attempt)
    ctx = _AnsweredContext(user, lesson, attempt)
    for e in layout:
        _record_answered(ctx, questions[e["q"]], answers[e["q"]], e)
    _finish_if_graded(attempt, answers)
    db.session.commit()
    return True


def grade_due_attempts(now: datetime | None = None, limit: int = 500) -> int:
    """Grade closed attempts whose grading is due (the periodic task; each attempt in its own commit)."""
    now = now or utcnow()
    ids = list(db.session.scalars(select(QuizAttempt.id).where(QuizAttempt.status == "closed")
                                  .order_by(QuizAttempt.submitted_at).limit(limit)))
    done = 0
    questions: dict = {}  # a contest's attempts share their questions: read once per run
    for attempt_id in ids:
        attempt = db.session.get(QuizAttempt, attempt_id)
        if not grading_due(attempt, now):
            continue
        try:
            if grade_attempt(attempt, now, cache=questions):
                done += 1
        except Exception:
            db.session.rollback()
            log.exception("grading of quiz attempt %s failed", attempt_id)
    return done


class _AnsweredContext:
    """What every "answered" statement of one attempt shares (computed once per attempt)."""

    def __init__(self, user, lesson, attempt):
        self.user, self.lesson = user, lesson
        self.attempt_id = attempt.id
        self.registration = registration(attempt)
        self.parent = events.activity_iri("lesson", lesson.id)
        self.attempt_key = events.activity_iri("quiz-attempt", "id")


def _record_answered(ctx: _AnsweredContext, q, a, entry) -> None:
    definition = {"name": {"zh-CN": q.stem[:200]}, "type": INTERACTION_ACTIVITY}
    definition.update(TYPES[q.type].interaction_definition(q))
    result: dict = {"response": TYPES[q.type].xapi_response(q, a.response)}
    if a.points is not None:
        result["score"] = {"raw": a.points, "min": 0, "max": entry["s"]}
        if entry["s"]:
            result["score"]["scaled"] = round(a.points / entry["s"], 4)
        result["success"] = bool(a.correct)
    lesson = ctx.lesson
    events.record(events.LearningEvent(
        user=ctx.user, verb="answered", object_id=events.activity_iri("quiz-question", q.id),
        object_type=INTERACTION_ACTIVITY, object_name={"zh-CN": q.stem[:200]}, result=result,
        context={"contextActivities": {"parent": [{"id": ctx.parent}]},
                 "extensions": {ctx.attempt_key: ctx.attempt_id}},
        course_id=lesson.course_id, lesson_id=lesson.id, registration=ctx.registration,
        # The full cmi.interaction definition (with correctResponsesPattern) lives only in the stored statement.
        object_definition=definition,
    ))


def _finish_if_graded(attempt: QuizAttempt, answers: dict[int, QuizAnswer]) -> None:
    """Total the points; once nothing waits for a teacher, decide pass/fail and record it."""
    pending = any(a.needs_grading for a in answers.values())
    attempt.score = round(sum(a.points or 0.0 for a in answers.values()), 2)
    lesson = attempt.paper.lesson
    user = attempt.user
    if pending:
        return
    attempt.status = "graded"
    scaled = attempt.scaled or 0.0
    attempt.passed = scaled * 100 >= (attempt.paper.pass_percent or 0) - 1e-9
    score = {"raw": attempt.score, "min": 0, "max": attempt.max_score, "scaled": round(scaled, 4)}
    events.record(events.LearningEvent(
        user=user, verb="completed", object_id=events.activity_iri("lesson", lesson.id), object_type=QUIZ_ACTIVITY,
        object_name={"zh-CN": lesson.title}, result={"completion": True, "score": score},
        course_id=lesson.course_id, lesson_id=lesson.id, registration=registration(attempt),
    ))
    events.record(events.LearningEvent(
        user=user, verb="passed" if attempt.passed else "failed", object_id=events.activity_iri("lesson", lesson.id),
        object_type=QUIZ_ACTIVITY, object_name={"zh-CN": lesson.title},
        result={"success": attempt.passed, "completion": True, "score": score},
        course_id=lesson.course_id, lesson_id=lesson.id, registration=registration(attempt),
    ))
    from lms.courses.services import update_progress

    update_progress(user, lesson, score=round(scaled, 4), success=attempt.passed, complete=attempt.passed)


def finalize_overdue(paper_id: int | None = None, user_id: int | None = None, now: datetime | None = None) -> int:
    """Submit every open attempt past its deadline with what was saved (each in its own commit)."""
    now = now or utcnow()
    grace = timedelta(seconds=cfg("DEADLINE_GRACE_SECONDS"))
    q = select(QuizAttempt.id).where(QuizAttempt.status == "open", QuizAttempt.deadline.is_not(None),
                                     QuizAttempt.deadline < now - grace)
    if paper_id is not None:
        q = q.where(QuizAttempt.paper_id == paper_id)
    if user_id is not None:
        q = q.where(QuizAttempt.user_id == user_id)
    done = 0
    for attempt_id in list(db.session.scalars(q)):
        attempt = db.session.get(QuizAttempt, attempt_id)
        try:
            if submit_attempt(attempt, now=now, auto=True):
                done += 1
        except Exception:
            db.session.rollback()
            log.exception("auto-submit of quiz attempt %s failed", attempt_id)
    return done


def reveal_allowed(attempt: QuizAttempt, now: datetime | None = None) -> bool:
    """May the person see the key and explanations of this submitted attempt?"""
    if attempt.status not in GRADED:
        return False
    paper = attempt.paper
    if paper.mode == "practice" or paper.reveal == "immediately":
        return True
    if paper.reveal == "after_close":
        return bool(paper.closes_at and (now or utcnow()) >= paper.closes_at)
    return False


# --- teachers: grading, results, statistics ------------------------------------------------------------
def grading_queue(course_ids: list[int]):
    return (select(QuizAnswer).join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
            .join(QuizPaper, QuizPaper.id == QuizAttempt.paper_id)
            .where(QuizAnswer.needs_grading.is_(True), QuizAttempt.status.in_(GRADED),
                   QuizPaper.course_id.in_(course_ids or [-1]))
            .order_by(QuizAttempt.submitted_at, QuizAnswer.id))


def grade_short_answer(answer: QuizAnswer, points: float, comment: str, grader) -> None:
    attempt = answer.attempt
    entry = next(e for e in attempt.layout if e["q"] == answer.question_id)
    if points < 0 or points > entry["s"]:
        raise QuizError(_("得分应在 0 到 %(m)s 之间", m=fmt_points(entry["s"])))
    was_pending = answer.needs_grading
    answer.points = round(points, 2)
    answer.correct = points >= entry["s"]
    answer.comment = comment
    answer.needs_grading = False
    answer.graded_by_id = grader.id
    answer.graded_at = utcnow()
    audit.log("quiz.grade", answer, details={"attempt_id": attempt.id, "points": answer.points})
    db.session.flush()
    answers = saved_answers(attempt.id)
    if was_pending and attempt.status == "pending":
        _finish_if_graded(attempt, answers)
    else:
        attempt.score = round(sum(a.points or 0.0 for a in answers.values()), 2)
        if attempt.status == "graded":
            scaled = attempt.scaled or 0.0
            attempt.passed = scaled * 100 >= (attempt.paper.pass_percent or 0) - 1e-9


def fmt_points(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def results(paper: QuizPaper) -> list[QuizAttempt]:
    return list(db.session.scalars(
        select(QuizAttempt).where(QuizAttempt.paper_id == paper.id, QuizAttempt.status != "open")
        .order_by(QuizAttempt.submitted_at.desc())
    ))


@dataclass
class ItemStat:
    question: QuizQuestion
    n: int
    facility: float | None  # mean share of the points earned, 0..1
    discrimination: float | None  # upper 27% facility − lower 27% facility
    wrong_option: str | None  # "C（12 人，30%）"
    flags: list[str]


def item_statistics(paper: QuizPaper) -> list[ItemStat]:
    """Classical item analysis over the submitted attempts (only the first attempt of each person)."""
    attempts = [a for a in db.session.scalars(
        select(QuizAttempt).where(QuizAttempt.paper_id == paper.id, QuizAttempt.status.in_(GRADED))
        .order_by(QuizAttempt.number))]
    first: dict[int, QuizAttempt] = {}
    for a in attempts:
        first.setdefault(a.user_id, a)
    attempts = list(first.values())
    if not attempts:
        return []
    ids = [a.id for a in attempts]
    rows = list(db.session.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id.in_(ids))))
    by_q: dict[int, list[QuizAnswer]] = {}
    for r in rows:
        by_q.setdefault(r.question_id, []).append(r)
    maxes = {(a.id, e["q"]): e["s"] for a in attempts for e in a.layout}
    totals = {a.id: (a.scaled or 0.0) for a in attempts}
    order = sorted(ids, key=lambda i: totals[i])
    k = max(1, round(len(order) * 0.27))
    lower, upper = set(order[:k]), set(order[-k:])
    questions = {q.id: q for q in db.session.scalars(select(QuizQuestion).where(QuizQuestion.id.in_(list(by_q))))}
    out = []
    for qid, answers in by_q.items():
        q = questions[qid]
        graded = [a for a in answers if a.points is not None]
        if not graded:
            out.append(ItemStat(q, len(answers), None, None, None, [_("待批阅")]))
            continue

        shares = {a.attempt_id: a.points / maxes[(a.attempt_id, qid)] for a in graded
                  if maxes.get((a.attempt_id, qid))}
        facility, hi, lo = (_mean([v for k, v in shares.items() if k in group]) for group in (set(ids), upper, lower))
        disc = (hi - lo) if hi is not None and lo is not None and len(order) >= 4 else None
        wrong = None
        if q.type in ("single", "multiple"):
            counts: dict[int, int] = {}
            for a in graded:
                chosen = [a.response] if q.type == "single" else (a.response or [])
                for i in chosen:
                    if isinstance(i, int) and i not in q.answer:
                        counts[i] = counts.get(i, 0) + 1
            if counts:
                i, c = max(counts.items(), key=lambda kv: kv[1])
                wrong = _("%(l)s（%(c)s 人，%(p)s%%）", l=LETTERS[i], c=c, p=round(100 * c / len(graded)))
        flags = []
        if facility is not None and facility < 0.3:
            flags.append(_("偏难"))
        if facility is not None and facility > 0.95:
            flags.append(_("偏易"))
        if disc is not None and disc < 0.2:
            flags.append(_("区分度低"))
        out.append(ItemStat(q, len(answers), facility, disc, wrong, flags))
    out.sort(key=lambda s: (not s.flags, s.facility if s.facility is not None else 1))
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def results_workbook(paper: QuizPaper, viewer=None, stamp=None) -> tuple[bytes, int]:
    """The results sheet and its row count. With a `viewer`, login ids of people the viewer does not administer
    are masked (a teacher sees 2021****1234), and `stamp` (who exported, when) watermarks it (lms.exports)."""
    from lms.exports.services import id_masker
    from plugins.quiz.importers import write_workbook

    show_id = id_masker(viewer) if viewer is not None else (lambda _unit_id, value: value)
    rows = []
    for a in results(paper):
        u = a.user
        rows.append([u.name, show_id(u.org_unit_id, u.login_id), u.org_unit.name if u.org_unit else "", a.number,
                     _local(a.started_at), _local(a.submitted_at), a.score, a.max_score,
                     round(100 * (a.scaled or 0), 1),
                     {True: _("通过"), False: _("未通过")}.get(a.passed, _("待批阅")),
                     _("是") if a.auto_submitted else _("否")])
    headers = [_("姓名"), _("学号/工号"), _("所在支部"), _("第几次"), _("开始时间"), _("交卷时间"), _("得分"),
               _("满分"), _("百分制"), _("结果"), _("超时自动交卷")]
    return write_workbook([(_("成绩"), headers, rows)], stamp=stamp), len(rows)


def _local(dt: datetime | None) -> str:
    from lms.templating import local_dt

    return local_dt(dt, "%Y-%m-%d %H:%M:%S")


# --- daily practice, challenge, points -------------------------------------------------------------------
def beijing_today(now: datetime | None = None) -> date:
    from datetime import UTC

    return (now or utcnow()).replace(tzinfo=UTC).astimezone(_TZ).date()


def practice_pool_query():
    return (select(QuizQuestion.id).join(QuizBank, QuizBank.id == QuizQuestion.bank_id)
            .join(Course, Course.id == QuizBank.course_id)
            .where(QuizBank.use_in_practice.is_(True), Course.status == "published",
                   QuizQuestion.archived.is_(False), QuizQuestion.type.in_(["single", "multiple", "truefalse", "fill"])))


def runs_today(user, kind: str, now: datetime | None = None) -> list[QuizRun]:
    return list(db.session.scalars(select(QuizRun).where(
        QuizRun.user_id == user.id, QuizRun.kind == kind, QuizRun.day == beijing_today(now)).order_by(QuizRun.id)))


def start_run(user, kind: str, now: datetime | None = None) -> QuizRun:
    """Start (or resume) today's 每日一练, or a new 挑战 run. Commits."""
    now = now or utcnow()
    today = runs_today(user, kind, now)
    for r in today:
        if r.status == "open":
            expire_challenge(r, now)
            if r.status == "open":
                return r
    if kind == "daily" and today:
        raise QuizError(_("今天的每日一练已经完成，明天再来吧"))
    pool = list(db.session.scalars(practice_pool_query()))
    if not pool:
        raise QuizError(_("题库中还没有可用于练习的题目"))
    rng = random.Random(secrets.randbits(64))  # noqa: S311  (seeded from secrets; shuffles, not keys)
    rng.shuffle(pool)
    if kind == "daily":
        ids = pool[: cfg("DAILY_COUNT")]
    else:
        ids = pool[: cfg("CHALLENGE_MAX")]
    run = QuizRun(user_id=user.id, kind=kind, day=beijing_today(now), question_ids=ids, started_at=now,
                  question_deadline=now + timedelta(seconds=cfg("CHALLENGE_SECONDS")) if kind == "challenge" else None)
    db.session.add(run)
    db.session.commit()
    return run


def current_question(run: QuizRun) -> QuizQuestion | None:
    if run.status != "open" or run.position >= len(run.question_ids):
        return None
    return db.session.get(QuizQuestion, run.question_ids[run.position])


def expire_challenge(run: QuizRun, now: datetime) -> None:
    if run.kind == "challenge" and run.status == "open" and run.question_deadline and now > run.question_deadline + \
            timedelta(seconds=cfg("DEADLINE_GRACE_SECONDS")):
        run.log = [*run.log, {"q": run.question_ids[run.position], "ok": False, "timeout": True}]
        _finish_run(run, now)
        db.session.commit()


def answer_run(run: QuizRun, raw, now: datetime | None = None) -> dict:
    """Answer the current question of a run; returns its feedback. Commits."""
    now = now or utcnow()
    if run.status != "open":
        raise QuizError(_("本轮答题已结束"))
    expire_challenge(run, now)
    if run.status != "open":
        raise QuizError(_("答题超时，本轮挑战结束"))
    q = current_question(run)
    try:
        response = TYPES[q.type].clean_response(q, raw)
    except (ValueError, TypeError) as exc:
        raise QuizError(_("答案格式不正确")) from exc
    g = TYPES[q.type].grade(q, response, 1.0)
    ok = bool(g.correct)
    run.log = [*run.log, {"q": q.id, "ok": ok, "r": response}]
    run.position += 1
    if ok:
        run.correct_count += 1
    if (run.kind == "challenge" and not ok) or run.position >= len(run.question_ids):
        _finish_run(run, now)
    elif run.kind == "challenge":
        run.question_deadline = now + timedelta(seconds=cfg("CHALLENGE_SECONDS"))
    db.session.commit()
    fb = feedback(q, QuizAnswer(response=response, correct=ok, points=1.0 if ok else 0.0), {})
    return fb


def _finish_run(run: QuizRun, now: datetime) -> None:
    run.status = "finished"
    run.finished_at = now
    if run.kind == "daily":
        points = run.correct_count * cfg("DAILY_POINTS_PER_CORRECT")
        if run.correct_count == len(run.question_ids):
            points += cfg("DAILY_BONUS_ALL_CORRECT")
    else:
        earned_runs = db.session.scalar(select(func.count(QuizPoints.id)).where(
            QuizPoints.user_id == run.user_id, QuizPoints.source == "challenge",
            QuizPoints.run_id.in_(select(QuizRun.id).where(QuizRun.day == run.day, QuizRun.kind == "challenge")))) or 0
        points = run.correct_count * cfg("CHALLENGE_POINTS_PER_CORRECT") \
            if earned_runs < cfg("CHALLENGE_SCORED_RUNS_PER_DAY") else 0
    run.points = points
    if points:
        user = db.session.get(User, run.user_id)
        db.session.add(QuizPoints(user_id=run.user_id, org_unit_id=user.org_unit_id if user else None,
                                  source=run.kind, run_id=run.id, points=points, earned_at=now))


def _period_start(period: str, now: datetime | None = None) -> datetime | None:
    if period == "all":
        return None
    today = beijing_today(now)
    first = today.replace(day=1) if period == "month" else today - timedelta(days=today.weekday())
    local = datetime(first.year, first.month, first.day, tzinfo=_TZ)
    from datetime import UTC

    return local.astimezone(UTC).replace(tzinfo=None)


def person_board(period: str = "month", limit: int = 50, now: datetime | None = None) -> list[tuple]:
    """[(user_id, name, unit name, points)] best first."""
    from lms.org.models import OrgUnit

    since = _period_start(period, now)
    total = func.sum(QuizPoints.points).label("total")
    q = (select(User.id, User.name, OrgUnit.name, total).join(User, User.id == QuizPoints.user_id)
         .outerjoin(OrgUnit, OrgUnit.id == User.org_unit_id).group_by(User.id, User.name, OrgUnit.name)
         .order_by(total.desc(), User.id).limit(limit))
    if since is not None:
        q = q.where(QuizPoints.earned_at >= since)
    return list(db.session.execute(q))


def branch_board(period: str = "month", limit: int = 50, now: datetime | None = None) -> list[tuple]:
    """[(unit id, unit name, points, people who earned, points per person)] best first."""
    from lms.org.models import OrgUnit

    since = _period_start(period, now)
    total = func.sum(QuizPoints.points).label("total")
    people = func.count(func.distinct(QuizPoints.user_id)).label("people")
    q = (select(OrgUnit.id, OrgUnit.name, total, people).join(OrgUnit, OrgUnit.id == QuizPoints.org_unit_id)
         .group_by(OrgUnit.id, OrgUnit.name).order_by(total.desc(), OrgUnit.id).limit(limit))
    if since is not None:
        q = q.where(QuizPoints.earned_at >= since)
    return [(r[0], r[1], r[2], r[3], round(r[2] / r[3], 1) if r[3] else 0) for r in db.session.execute(q)]


def my_points(user, period: str = "month", now: datetime | None = None) -> int:
    since = _period_start(period, now)
    q = select(func.coalesce(func.sum(QuizPoints.points), 0)).where(QuizPoints.user_id == user.id)
    if since is not None:
        q = q.where(QuizPoints.earned_at >= since)
    return int(db.session.scalar(q) or 0)

