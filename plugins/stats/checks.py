"""The recompute check: rebuild the dashboard figures from the xAPI statements and list every difference.

The dashboards read projections (enrolments, lesson progress, the credit ledger). This check reads the
statement store instead — the `xapi_statement` table the xAPI plugin keeps (its indexed columns
person_id, verb_id, object_key, voided, timestamp and the statement JSON in `data`) — and compares, for a
year and a subtree: course enrolments and completions (the completion-rate figures), best quiz scores
(the score distribution) and the ledger's course/lesson lines (each must rest on a completion statement).
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, or_, select

from lms.accounts.models import User
from lms.courses.models import Enrollment, Lesson, LessonProgress
from lms.credits.models import CreditEntry
from lms.extensions import db
from lms.org.models import OrgUnitClosure
from lms.org.services import paths_for
from plugins.stats.services import TEST_LESSON_TYPES, course_titles, year_bounds

ADL = "http://adlnet.gov/expapi/verbs/"
REGISTERED, COMPLETED, PASSED, FAILED = ADL + "registered", ADL + "completed", ADL + "passed", ADL + "failed"
SCORE_TOLERANCE = 1e-6


class CheckUnavailable(RuntimeError):
    """The statements cannot be read (the xAPI plugin is not enabled)."""


@dataclass
class Difference:
    kind: str  # enrolled | completed | score | ledger
    user_id: int
    subject: str  # course/lesson title
    projection: str
    statements: str


@dataclass
class Report:
    year: int
    checked: dict = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _statements_table():
    from lms.plugins import plugin_enabled

    if not plugin_enabled("xapi") or "xapi_statement" not in db.metadata.tables:
        raise CheckUnavailable("学习记录插件（xapi）未启用，无法从语句核对统计数据。")
    return db.metadata.tables["xapi_statement"]


def _prefix(kind: str) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/xapi/activities/{kind}/"


def _in_scope(col, unit_id: int | None):
    """People (by a user-id column) of the subtree, or everyone."""
    q = select(User.id)
    if unit_id is not None:
        q = q.join(OrgUnitClosure, OrgUnitClosure.descendant_id == User.org_unit_id).where(
            OrgUnitClosure.ancestor_id == unit_id)
    return col.in_(q)


def _ident(key: str, prefix: str) -> int | None:
    tail = key[len(prefix):]
    return int(tail) if tail.isdigit() else None


def _first_by_pair(st, verb: str, prefix: str, unit_id, start, end) -> dict[tuple[int, int], object]:
    """(person, course/lesson id) → first timestamp of a non-voided `verb` statement on it, within the year."""
    rows = db.session.execute(
        select(st.c.person_id, st.c.object_key, func.min(st.c.timestamp))
        .where(st.c.verb_id == verb, st.c.object_key.startswith(prefix, autoescape=True),
               st.c.voided.is_(False), st.c.person_id.is_not(None), _in_scope(st.c.person_id, unit_id))
        .group_by(st.c.person_id, st.c.object_key)
    )
    out = {}
    for pid, key, first in rows:
        ident = _ident(key, prefix)
        if ident is not None and start <= first < end:
            out[(pid, ident)] = first
    return out


def run(year: int, unit_id: int | None = None) -> Report:
    """Compare the projections with the statements for `year` (Beijing) and the subtree of `unit_id`."""
    st = _statements_table()
    start, end = year_bounds(year)
    report = Report(year=year)
    course_p, lesson_p = _prefix("course"), _prefix("lesson")

    # 1. enrolments begun in the year: `registered` statements ⇔ enrolment rows
    stmt_enr = _first_by_pair(st, REGISTERED, course_p, unit_id, start, end)
    proj_enr = {(u, c) for u, c in db.session.execute(
        select(Enrollment.user_id, Enrollment.course_id).where(
            Enrollment.enrolled_at >= start, Enrollment.enrolled_at < end, _in_scope(Enrollment.user_id, unit_id)))}
    # 2. course completions in the year: first `completed` statement ⇔ enrolment.completed_at
    stmt_done = _first_by_pair(st, COMPLETED, course_p, unit_id, start, end)
    proj_done = {(u, c) for u, c in db.session.execute(
        select(Enrollment.user_id, Enrollment.course_id).where(
            Enrollment.completed_at >= start, Enrollment.completed_at < end, _in_scope(Enrollment.user_id, unit_id)))}
    titles = course_titles({c for _, c in stmt_enr.keys() | proj_enr | stmt_done.keys() | proj_done})
    for pair in sorted(proj_enr - stmt_enr.keys()):
        report.differences.append(Difference("enrolled", pair[0], titles.get(pair[1], f"#{pair[1]}"), "已选课", "无选课语句"))
    for pair in sorted(stmt_enr.keys() - proj_enr):
        report.differences.append(Difference("enrolled", pair[0], titles.get(pair[1], f"#{pair[1]}"), "无选课记录", "有选课语句"))
    for pair in sorted(proj_done - stmt_done.keys()):
        report.differences.append(Difference("completed", pair[0], titles.get(pair[1], f"#{pair[1]}"), "已完成", "无完成语句"))
    for pair in sorted(stmt_done.keys() - proj_done):
        report.differences.append(Difference("completed", pair[0], titles.get(pair[1], f"#{pair[1]}"), "未完成", "有完成语句"))

    # 3. best quiz scores of test lessons: statements' best result.score ⇔ lesson_progress.score
    stmt_best: dict[tuple[int, int], float] = {}
    touched: set[tuple[int, int]] = set()
    rows = db.session.execute(
        select(st.c.person_id, st.c.object_key, st.c.timestamp, st.c.data)
        .where(st.c.verb_id.in_((COMPLETED, PASSED, FAILED)), st.c.object_key.startswith(lesson_p, autoescape=True),
               st.c.voided.is_(False), st.c.person_id.is_not(None), st.c.data.contains('"score"'),
               _in_scope(st.c.person_id, unit_id))
    ).yield_per(5000)
    for pid, key, ts, data in rows:
        ident = _ident(key, lesson_p)
        scaled = ((json.loads(data).get("result") or {}).get("score") or {}).get("scaled")
        if ident is None or not isinstance(scaled, (int, float)):
            continue
        pair = (pid, ident)
        stmt_best[pair] = max(stmt_best.get(pair, scaled), scaled)
        if start <= ts < end:
            touched.add(pair)
    proj_best = {}
    lesson_titles = {}
    for uid, lid, score, seen, title in db.session.execute(
        select(LessonProgress.user_id, LessonProgress.lesson_id, LessonProgress.score, LessonProgress.last_seen_at,
               Lesson.title)
        .join(Lesson, Lesson.id == LessonProgress.lesson_id)
        .where(Lesson.type.in_(TEST_LESSON_TYPES), _in_scope(LessonProgress.user_id, unit_id),
               or_(LessonProgress.score.is_not(None), LessonProgress.lesson_id.in_({p[1] for p in touched} or {-1})))
    ):
        lesson_titles[lid] = title
        proj_best[(uid, lid)] = score
        if score is not None and start <= seen < end:
            touched.add((uid, lid))
    for pair in sorted(touched):
        a, b = proj_best.get(pair), stmt_best.get(pair)
        if a is None and b is None:
            continue
        if a is None or b is None or abs(a - b) > SCORE_TOLERANCE:
            report.differences.append(Difference(
                "score", pair[0], lesson_titles.get(pair[1], f"#{pair[1]}"),
                "无成绩" if a is None else f"{a * 100:.2f}", "无成绩语句" if b is None else f"{b * 100:.2f}"))

    # 4. ledger lines for course/lesson completions must rest on a completion statement
    entries = db.session.execute(
        select(CreditEntry.user_id, CreditEntry.source_type, CreditEntry.source_id, CreditEntry.title,
               CreditEntry.hours)
        .where(CreditEntry.year == year, CreditEntry.source_type.in_(("course", "lesson")),
               _in_scope(CreditEntry.user_id, unit_id))
    ).all()
    if entries:
        keys = defaultdict(set)
        for _uid, kind, sid, _title, _h in entries:
            keys[kind].add(sid)
        backed = set()
        for kind, ids in keys.items():
            prefix = course_p if kind == "course" else lesson_p
            for pid, key in db.session.execute(
                select(st.c.person_id, st.c.object_key).distinct().where(
                    st.c.verb_id.in_((COMPLETED, PASSED)), st.c.voided.is_(False),
                    st.c.object_key.in_([prefix + s for s in ids]), _in_scope(st.c.person_id, unit_id))
            ):
                backed.add((pid, kind, key[len(prefix):]))
        for uid, kind, sid, title, hours in entries:
            if (uid, kind, sid) not in backed:
                report.differences.append(Difference("ledger", uid, title or f"#{sid}", f"{hours} 学时", "无完成语句"))

    report.checked = {"enrolments": len(proj_enr), "completions": len(proj_done), "scores": len(touched),
                      "ledger_lines": len(entries)}
    return report


KIND_LABELS = {"enrolled": "选课", "completed": "课程完成", "score": "测验成绩", "ledger": "学时台账"}


def describe(report: Report, limit: int = 200) -> list[str]:
    """Readable lines, one per difference: kind, unit, person, subject, projection vs statements."""
    ids = {d.user_id for d in report.differences[:limit]}
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    paths = paths_for({u.org_unit_id for u in people.values()})
    lines = []
    for d in report.differences[:limit]:
        u = people.get(d.user_id)
        who = f"{u.name}（{u.login_id}）" if u else f"#{d.user_id}"
        where = paths.get(u.org_unit_id, "") if u else ""
        lines.append(f"[{KIND_LABELS[d.kind]}] {where} {who} 《{d.subject}》：统计={d.projection}，语句={d.statements}")
    if len(report.differences) > limit:
        lines.append(f"……另有 {len(report.differences) - limit} 处差异未列出")
    return lines


__all__ = ["CheckUnavailable", "Report", "run", "describe"]
