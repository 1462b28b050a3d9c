"""Figures of the statistics dashboards, read from the projections (enrolment, lesson progress, credit ledger).

Every figure is one aggregate query over the people of a subtree, restricted and grouped through the
closure table (`org_unit_closure`), so its cost grows with people and courses, never with statements.
A dashboard is drawn for one org unit (a "node"): its rows are the node's child units (and the people
attached to the node itself), or the node's people when it has no children (a branch).
"""
from __future__ import annotations

import functools
import gc
import heapq
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

from lms.accounts.models import RoleAssignment, User
from lms.authz import VIEW, can, scope_roots
from lms.courses.models import Course, Enrollment, Lesson, LessonProgress
from lms.credits.models import CreditEntry, CreditExemption, CreditRequirement
from lms.extensions import db
from lms.notifications.services import message, register
from lms.org.models import OrgUnit, OrgUnitClosure
from lms.timeutil import utcnow

log = logging.getLogger(__name__)
_TZ = ZoneInfo("Asia/Shanghai")
# Reminder texts: stored in Chinese, shown in the reader's language (lms.notifications.services.shown).
N_HOURS = register("学时提醒：%(year)s 年度还差 %(short)s 学时")
N_HOURS_BODY = register("您 %(year)s 年度已获 %(hours)s 学时，年度要求 %(req)s 学时，还差 %(short)s 学时。"
                        "请及时参加学习。（%(unit)s）")
N_TASK_OVERDUE = register("学习任务提醒：《%(title)s》已逾期")
N_TASK_SOON = register("学习任务提醒：《%(title)s》即将截止")
N_TASK_BODY = register("《%(title)s》截止日期 %(date)s，已完成 %(done)s/%(n)s 门必修课程。请尽快完成学习。（%(unit)s）")
N_TASKS = register("学习任务提醒：%(n)s 项学习任务尚未完成")
N_TASKS_BODY = register("%(n)s 项学习任务的必修课程尚未完成：%(tasks)s。请尽快完成学习。（%(unit)s）")

TEST_LESSON_TYPES = ("quiz", "exam", "test")
# Roles that owe the higher yearly requirement (as lms.credits.services.requirement_category).
SECRETARY_ROLES = ("secretary", "committee_member")
# Share of the yearly requirement reached → bucket of the distribution chart.
SHARE_BUCKETS = (
    ("none", _l("未开始")),
    ("lt25", _l("不足25%")),
    ("lt50", _l("25%–50%")),
    ("lt75", _l("50%–75%")),
    ("lt100", _l("75%–100%")),
    ("met", _l("已达标")),
)
# Scaled quiz score × 100 → bucket.
SCORE_BUCKETS = (
    ("lt60", _l("60分以下")),
    ("60", _l("60–69分")),
    ("70", _l("70–79分")),
    ("80", _l("80–89分")),
    ("90", _l("90分及以上")),
)


class StatsError(ValueError):
    """A request the statistics cannot answer; the message is for the user."""


def q2(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def local_year(dt: datetime | None = None) -> int:
    dt = dt or utcnow()
    return dt.replace(tzinfo=UTC).astimezone(_TZ).year


def local_today() -> date:
    return utcnow().replace(tzinfo=UTC).astimezone(_TZ).date()


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The naive-UTC instants where the Beijing calendar year starts and ends."""
    start = datetime(year, 1, 1, tzinfo=_TZ).astimezone(UTC).replace(tzinfo=None)
    end = datetime(year + 1, 1, 1, tzinfo=_TZ).astimezone(UTC).replace(tzinfo=None)
    return start, end


def rate(part: int, whole: int) -> float | None:
    return None if not whole else part / whole


class stored(GenericFunction):
    """A column compared as it is stored: on SQLite `+col`, elsewhere the column itself.

    SQLite gives DATETIME columns NUMERIC affinity, so comparing one with a bound value first tries to turn
    the value into a number — a string-to-float conversion for every row and comparison that fails each
    time (timestamps are stored as text). The unary plus drops the column's affinity: the comparison is a
    plain text comparison (same result, about 40% fewer instructions for the figures that compare dates
    per row). Use it where the figure filters rows it already reached through another index.
    """

    inherit_cache = True
    name = "stored"


@compiles(stored)
def _stored(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(stored, "sqlite")
def _stored_sqlite(element, compiler, **kw):
    return "+" + compiler.process(element.clauses, **kw)


def _as_stored(col):
    return stored(col, type_=col.type)


# --- who may see what ----------------------------------------------------------------------------------
def may_use(user) -> bool:
    """Organization admins, branch secretaries and system administrators use the statistics."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_sysadmin or bool(scope_roots(user, VIEW))


def top_units(user) -> list[OrgUnit]:
    """The units at the top of `user`'s statistics scope (a root is dropped when another one contains it)."""
    if user.is_sysadmin:
        return list(db.session.scalars(select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id)))
    roots = set(scope_roots(user, VIEW))
    if not roots:
        return []
    inner = set(db.session.scalars(
        select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id.in_(roots),
                                                   OrgUnitClosure.descendant_id.in_(roots),
                                                   OrgUnitClosure.depth > 0)))
    keep = roots - inner
    return list(db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(keep))
                                   .order_by(OrgUnit.sort_order, OrgUnit.id)))


def can_view_unit(user, unit: OrgUnit | None) -> bool:
    return unit is not None and may_use(user) and can(user, VIEW, unit)


def can_view_person(user, person: User | None) -> bool:
    """Managers see the people of their scope (lms.authz decides)."""
    if person is None or not may_use(user):
        return False
    return can(user, VIEW, person)


def trail(user, unit: OrgUnit) -> list[OrgUnit]:
    """The drill-down path from the top of `user`'s scope down to `unit` (for breadcrumbs)."""
    chain = unit.ancestors() + [unit]
    tops = {u.id for u in top_units(user)}
    for i, u in enumerate(chain):
        if u.id in tops:
            return chain[i:]
    return [unit]


def children_of(unit_id: int) -> list[OrgUnit]:
    return list(db.session.scalars(select(OrgUnit).where(OrgUnit.parent_id == unit_id)
                                   .order_by(OrgUnit.sort_order, OrgUnit.id)))


# --- the scope: the people a page counts, resolved once per request ------------------------------------
# The active people of the node's subtree and the dashboard row each counts in are written once per request
# into a temporary table of the database connection, `stats_scope (row_key, user_id)`, with its size known
# to the planner (ANALYZE), and every figure joins it: the subtree is resolved once instead of in every
# query, and figures grouped per row stream in key order (no sort). Temporary tables belong to the
# connection (nothing is written to the database file, no lock is taken on it); the rows are replaced on each
# use (PostgreSQL also drops them at commit).
SCOPE = Table("stats_scope", MetaData(), Column("row_key", Integer, nullable=False),
              Column("user_id", Integer, nullable=False))
# On SQLite the statements that fill it name the temp schema, so the queued writers (lms.database) see that
# they lock nothing in the database file.
_SCOPE_TEMP = Table("stats_scope", MetaData(), Column("row_key", Integer, nullable=False),
                    Column("user_id", Integer, nullable=False), schema="temp")
# Keyed by person (the look-up of every fact row), with the rows in key order in an index (figures per row).
_SCOPE_DDL = {
    "sqlite": ("CREATE TEMP TABLE IF NOT EXISTS stats_scope (user_id INTEGER PRIMARY KEY, row_key INTEGER NOT NULL)",
               "CREATE INDEX IF NOT EXISTS temp.ix_stats_scope_key ON stats_scope (row_key, user_id)"),
    "postgresql": ("CREATE TEMP TABLE IF NOT EXISTS stats_scope (user_id INTEGER PRIMARY KEY, row_key INTEGER NOT NULL) "
                   "ON COMMIT DELETE ROWS",
                   "CREATE INDEX IF NOT EXISTS ix_stats_scope_key ON stats_scope (row_key, user_id)"),
}
_SCOPE_ANALYZE = {"sqlite": "ANALYZE temp.stats_scope", "postgresql": "ANALYZE stats_scope"}
GROUPINGS = ("child", "unit", "person")


@dataclass(frozen=True)
class Scope:
    """The people of `node_id`'s subtree, now in `stats_scope`; `by` says what `row_key` is: the node's child
    unit containing the person (the node itself for its direct people), the person's own unit, or the person."""

    node_id: int
    by: str
    size: int


def _scope_rows(node_id: int, by: str):
    c = OrgUnitClosure.__table__.alias("rowc")
    if by == "child":
        children = select(OrgUnit.id).where(OrgUnit.parent_id == node_id)
        cond = or_(c.c.ancestor_id.in_(children), and_(c.c.ancestor_id == node_id, c.c.depth == 0))
        key = c.c.ancestor_id
    elif by in ("unit", "person"):
        cond = c.c.ancestor_id == node_id
        key = User.org_unit_id if by == "unit" else User.id
    else:
        raise ValueError(f"stats grouping must be one of {GROUPINGS}, not {by!r}")
    return (select(key, User.id).select_from(c).join(User, User.org_unit_id == c.c.descendant_id)
            .where(cond, User.is_active_account.is_(True)))


def count_scope_people(node_id: int) -> int:
    """The number of people of the subtree (the rows of its member ledger), from one COUNT."""
    return db.session.scalar(select(func.count()).select_from(_scope_rows(node_id, "person").subquery())) or 0


def open_scope(node_id: int, by: str) -> Scope:
    """Resolve the subtree's people into `stats_scope` (replacing what was there) in the session's
    connection; every figure of the request then joins it. Call it once per page, before the figures."""
    conn = db.session.connection()
    dialect = conn.dialect.name
    if dialect not in _SCOPE_DDL:
        raise StatsError(f"statistics need SQLite or PostgreSQL, not {dialect}")
    for ddl in _SCOPE_DDL[dialect]:
        conn.exec_driver_sql(ddl)
    table = _SCOPE_TEMP if dialect == "sqlite" else SCOPE
    conn.execute(table.delete())
    size = conn.execute(table.insert().from_select(["row_key", "user_id"], _scope_rows(node_id, by))).rowcount
    conn.exec_driver_sql(_SCOPE_ANALYZE[dialect])
    return Scope(node_id, by, size)


def end_scope() -> None:
    """End the transaction the scope was written in, before the request writes to the database.

    On SQLite the scope's rows begin a transaction that reads one snapshot of the database; a write in it
    would fail ("database is locked", SQLITE_BUSY_SNAPSHOT) once another connection had committed since.
    Only the temporary rows were written in it, so committing costs nothing and takes no lock.
    """
    db.session.commit()


def _in_scope(q, user_col):
    """Join `q` (over a fact table whose person is `user_col`) to the scope's people; returns (q, row key)."""
    return q.join(SCOPE, SCOPE.c.user_id == user_col), SCOPE.c.row_key


def cents(value) -> int:
    """Hours (two decimals) as an exact integer number of hundredths."""
    return int(q2(value).scaleb(2))


def from_cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


@dataclass(slots=True)
class PersonRow:
    """One person of a dashboard or ledger. Hours are kept in hundredths (exact integers: comparing and summing
    20,000 of them stays cheap); `hours`, `requirement` and `shortfall` give them as two-decimal Decimals."""

    id: int
    name: str
    login_id: str
    org_unit_id: int
    category: str
    key: int  # the row of the dashboard this person is counted in
    hours_c: int = 0
    requirement_c: int = 0
    exempt: bool = False
    enrolled: int = 0
    completed: int = 0
    quiz_count: int = 0
    quiz_sum: float = 0.0
    secretary: bool = False  # holds a secretary or committee-member role (the higher requirement)
    reduced_c: int | None = None  # the exemption's reduced hours for the year
    tasks: int = 0  # assignments (学习任务) of the year that reached the person
    tasks_done: int = 0  # … of which every required course is completed

    @property
    def hours(self) -> Decimal:
        return from_cents(self.hours_c)

    @property
    def requirement(self) -> Decimal:
        return from_cents(self.requirement_c)

    @property
    def met(self) -> bool:
        return self.hours_c >= self.requirement_c

    @property
    def shortfall(self) -> Decimal:
        return from_cents(max(0, self.requirement_c - self.hours_c))

    @property
    def share(self) -> float:
        return 1.0 if self.requirement_c <= 0 else self.hours_c / self.requirement_c

    @property
    def bucket(self) -> str:
        return _bucket_c(self.hours_c, self.requirement_c)

    @property
    def completion_rate(self) -> float | None:
        return rate(self.completed, self.enrolled)

    @property
    def quiz_avg(self) -> float | None:
        return None if not self.quiz_count else self.quiz_sum / self.quiz_count


def _bucket_c(hours_c: int, requirement_c: int) -> str:
    if hours_c >= requirement_c:
        return "met"
    if hours_c <= 0:
        return "none"
    share = hours_c / requirement_c
    return "lt25" if share < .25 else "lt50" if share < .5 else "lt75" if share < .75 else "lt100"


def share_bucket(hours: Decimal, requirement: Decimal) -> str:
    return _bucket_c(cents(hours), cents(requirement))


def people_of(scope: Scope, year: int | None = None) -> list[PersonRow]:
    """Figure: the people of the scope and the row each is counted in; with `year`, also their credit hours
    of that year from the ledger and what their requirement depends on (a secretary or committee role, an
    exemption). One statement for the people (per person an indexed look-up of their hours), one each for
    the few roles and exemptions."""
    q = select(User.id, User.name, User.login_id, User.org_unit_id, User.category, SCOPE.c.row_key) \
        .select_from(SCOPE).join(User, User.id == SCOPE.c.user_id)
    if year is not None:
        # hours in hundredths, an exact integer (ledger lines have two decimals): no decimal conversion per row
        hundredths = (select(func.round(func.sum(CreditEntry.hours) * 100))
                      .where(CreditEntry.user_id == User.id, CreditEntry.year == year).scalar_subquery())
        q = q.add_columns(type_coerce(hundredths, Integer))
    else:
        q = q.add_columns(literal(None))
    if scope.by != "child":  # people are listed (a branch's rows, the ledger); per child unit only counted
        q = q.order_by(User.org_unit_id, User.login_id)
    conn = db.session.connection()
    people = [PersonRow(i, n, lid, u, cat, k, int(c) if c else 0)
              for i, n, lid, u, cat, k, c in conn.execute(q).all()]
    if year is not None:
        secretaries = set(conn.execute(
            select(RoleAssignment.user_id).join(SCOPE, SCOPE.c.user_id == RoleAssignment.user_id)
            .where(RoleAssignment.role.in_(SECRETARY_ROLES))).scalars())
        reduced = dict(conn.execute(
            select(CreditExemption.user_id, CreditExemption.reduced_hours)
            .join(SCOPE, SCOPE.c.user_id == CreditExemption.user_id).where(CreditExemption.year == year)).all())
        if secretaries or reduced:
            for p in people:
                p.secretary = p.id in secretaries
                if p.id in reduced:
                    p.reduced_c = cents(reduced[p.id])
    return people


def requirements(node_id: int, year: int, people: list[PersonRow]) -> None:
    """Fill each person's yearly requirement like lms.credits.services.requirement_for, in bulk.

    Secretaries and committee members owe the secretary requirement; the nearest unit override for the
    year (closure depth) replaces the configured figure; an exemption lowers it for one person. The roles
    and exemptions come with the people (`people_of`); the overrides are one small query.
    """
    base = {"member": cents(current_app.config["DEFAULT_YEARLY_REQUIREMENT"]),
            "secretary": cents(current_app.config["SECRETARY_YEARLY_REQUIREMENT"])}
    # overrides: nearest ancestor with a row for the category wins
    sub = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == node_id)
    rows = db.session.execute(
        select(OrgUnitClosure.descendant_id, OrgUnitClosure.depth, CreditRequirement.category,
               CreditRequirement.hours)
        .join(CreditRequirement, CreditRequirement.org_unit_id == OrgUnitClosure.ancestor_id)
        .where(CreditRequirement.year == year, OrgUnitClosure.descendant_id.in_(sub))
    ).all()
    override: dict[tuple[int, str], tuple[int, int]] = {}
    for unit_id, depth, category, hours in rows:
        key = (unit_id, category)
        if key not in override or depth < override[key][0]:
            override[key] = (depth, cents(hours))
    for p in people:
        category = "secretary" if p.secretary else "member"
        req = override[(p.org_unit_id, category)][1] if (p.org_unit_id, category) in override else base[category]
        if p.reduced_c is not None:
            req = min(req, p.reduced_c)
            p.exempt = True
        p.requirement_c = req


def _active_enrolments(year: int):
    """(count, completed-in-the-year) aggregates and the filter of enrolments active in the year: enrolled
    before its end and not completed before its start."""
    start, end = year_bounds(year)
    completed_at, enrolled_at = _as_stored(Enrollment.completed_at), _as_stored(Enrollment.enrolled_at)
    done = func.sum(case((and_(completed_at >= start, completed_at < end), 1), else_=0))
    active = and_(enrolled_at < end, or_(Enrollment.completed_at.is_(None), completed_at >= start))
    return [func.count(Enrollment.id), done], active


def completion(scope: Scope, year: int, course_id: int | None = None) -> dict[int, tuple[int, int]]:
    """Figure: enrolments active in the year and those completed in it, per row (of one course when given)."""
    aggregates, active = _active_enrolments(year)
    q = (select(SCOPE.c.row_key, *aggregates).select_from(SCOPE)
         .join(Enrollment, Enrollment.user_id == SCOPE.c.user_id).where(active))
    if course_id is not None:
        q = q.where(Enrollment.course_id == course_id)
    q = q.group_by(SCOPE.c.row_key)
    return {k: (int(n or 0), int(d or 0)) for k, n, d in db.session.execute(q)}


def completion_by_course(scope: Scope, year: int) -> dict[int, tuple[int, int]]:
    """Figure: enrolments active in the year and those completed in it, per course, over the whole scope."""
    aggregates, active = _active_enrolments(year)
    q = (select(Enrollment.course_id, *aggregates).select_from(SCOPE)
         .join(Enrollment, Enrollment.user_id == SCOPE.c.user_id).where(active).group_by(Enrollment.course_id))
    return {cid: (int(n or 0), int(d or 0)) for cid, n, d in db.session.execute(q)}


@dataclass
class QuizFigure:
    count: int = 0
    total: float = 0.0  # sum of the scaled scores
    buckets: dict = field(default_factory=dict)  # score bucket → count


def quiz_scores(scope: Scope, year: int) -> dict[int, QuizFigure]:
    """Figure: best quiz scores (lesson progress of test lessons seen in the year) per row: how many, their
    sum and how many in each 10-point band (one pass, no grouping by band)."""
    start, end = year_bounds(year)
    pct = LessonProgress.score * 100
    below = [func.sum(case((pct < bound, 1), else_=0)) for bound in (60, 70, 80, 90)]
    tests = select(Lesson.id).where(Lesson.type.in_(TEST_LESSON_TYPES))
    q = (select(SCOPE.c.row_key, func.count(LessonProgress.id), func.sum(LessonProgress.score), *below)
         .select_from(SCOPE).join(LessonProgress, LessonProgress.user_id == SCOPE.c.user_id)
         .where(LessonProgress.score.is_not(None), LessonProgress.last_seen_at >= start,
                LessonProgress.last_seen_at < end, LessonProgress.lesson_id.in_(tests))
         .group_by(SCOPE.c.row_key))
    out = {}
    for k, n, s, b60, b70, b80, b90 in db.session.execute(q):
        running = [int(b or 0) for b in (b60, b70, b80, b90)] + [int(n)]
        counts = [running[0]] + [running[i] - running[i - 1] for i in range(1, 5)]
        out[k] = QuizFigure(int(n), float(s or 0), {b: c for (b, _), c in zip(SCORE_BUCKETS, counts, strict=True)
                                                     if c})
    return out


def month_starts(year: int) -> list[datetime]:
    """The naive-UTC instants where the Beijing months of `year` start, and where the next year starts (13)."""
    return [datetime(year + (m > 12), (m - 1) % 12 + 1, 1, tzinfo=_TZ).astimezone(UTC).replace(tzinfo=None)
            for m in range(1, 14)]


@functools.cache
def _monthly_statements():
    """The two statements of `monthly`, built once: twelve scalar sub-queries each, over bound month ranges."""
    edge = [bindparam(f"m{i}", type_=DateTime()) for i in range(13)]
    year = bindparam("year", type_=Integer())
    hours = [select(func.sum(CreditEntry.hours)).select_from(SCOPE)
             .join(CreditEntry, CreditEntry.user_id == SCOPE.c.user_id)
             .where(CreditEntry.year == year, CreditEntry.earned_at >= edge[i], CreditEntry.earned_at < edge[i + 1])
             .scalar_subquery() for i in range(12)]
    done = [select(func.count(Enrollment.id)).select_from(SCOPE)
            .join(Enrollment, Enrollment.user_id == SCOPE.c.user_id)
            .where(Enrollment.completed_at >= edge[i], Enrollment.completed_at < edge[i + 1])
            .scalar_subquery() for i in range(12)]
    return select(*hours), select(*done)


def monthly(scope: Scope, year: int) -> dict[str, list]:
    """Figure: credit hours earned and courses completed per Beijing month of the year.

    Each month is a range of the naive-UTC timestamps (no date function or time-zone arithmetic per row);
    for a large scope the ranges are read from the indexes on (year, earned_at) and (completed_at).
    Two statements of twelve scalar sub-queries.
    """
    params = {f"m{i}": edge for i, edge in enumerate(month_starts(year))} | {"year": year}
    hours, done = _monthly_statements()
    return {"hours": [q2(h) for h in db.session.execute(hours, params).one()],
            "completions": [int(n or 0) for n in db.session.execute(done, params).one()]}


# --- assignments (from the party_school plugin, when it is on) -----------------------------------------
# party_school publishes no read service for its assignments; its tables are read here, read-only, through
# the shared metadata (no import of its modules): party_school_assignment (id, title, due_on, starts_on,
# status), party_school_assignment_course (assignment_id, course_id), party_school_assignment_target
# (assignment_id, user_id: the people an assignment reached). With the plugin off, completion is per course.
ASSIGNMENT_TABLES = ("party_school_assignment", "party_school_assignment_course", "party_school_assignment_target")


def _assignment_tables():
    from lms.plugins import plugin_enabled

    if not plugin_enabled("party_school") or any(t not in db.metadata.tables for t in ASSIGNMENT_TABLES):
        return None
    return [db.metadata.tables[t] for t in ASSIGNMENT_TABLES]


def assignments_available() -> bool:
    """Whether assignments (学习任务) are counted: the party_school plugin is on."""
    return _assignment_tables() is not None


@dataclass
class AssignmentStat:
    id: int
    title: str
    due_on: date
    courses: int
    starts_on: date | None = None
    targeted: int = 0
    completed: int = 0

    @property
    def completion_rate(self) -> float | None:
        return rate(self.completed, self.targeted)


def running_assignments(year: int) -> list[AssignmentStat]:
    """The active assignments running in the (Beijing) year, by deadline, with their number of courses."""
    tables = _assignment_tables()
    if tables is None:
        return []
    a, ac, _t = tables
    n = func.count(ac.c.course_id)
    q = (select(a.c.id, a.c.title, a.c.due_on, a.c.starts_on, n).join(ac, ac.c.assignment_id == a.c.id)
         .where(a.c.status == "active", a.c.starts_on <= date(year, 12, 31), a.c.due_on >= date(year, 1, 1))
         .group_by(a.c.id, a.c.title, a.c.due_on, a.c.starts_on).order_by(a.c.due_on, a.c.id))
    return [AssignmentStat(aid, title, due_on, int(k), starts_on) for aid, title, due_on, starts_on, k
            in db.session.execute(q)]


def assignment_progress(scope: Scope, assignments: list[AssignmentStat]) -> list[tuple[int, int, int, int]]:
    """Figure: every person of the scope an assignment reached, as (row key, person, assignment, courses of it
    completed — at any time: a course done before the assignment counts). One statement; the completions are
    counted from the enrolment index by (course, person), per target."""
    tables = _assignment_tables()
    if tables is None or not assignments:
        return []
    _a, ac, t = tables
    done = (select(func.count()).select_from(ac)
            .join(Enrollment, and_(Enrollment.course_id == ac.c.course_id, Enrollment.user_id == t.c.user_id))
            .where(ac.c.assignment_id == t.c.assignment_id, _as_stored(Enrollment.completed_at).is_not(None))
            .scalar_subquery())
    q = (select(SCOPE.c.row_key, t.c.user_id, t.c.assignment_id, done).select_from(SCOPE)
         .join(t, t.c.user_id == SCOPE.c.user_id).where(t.c.assignment_id.in_([x.id for x in assignments])))
    return [(k, uid, aid, int(d)) for k, uid, aid, d in db.session.connection().execute(q).all()]


def assignment_completion(scope: Scope, year: int, progress: list | None = None,
                          running: list[AssignmentStat] | None = None) -> tuple[list[AssignmentStat], dict]:
    """The running assignments of the year that reached the scope, with its totals, and the figures per
    (row, assignment): (people reached, people who completed every course). `running` and `progress`: from
    `running_assignments(year)` and `assignment_progress` over them, when the caller has them."""
    assignments = running_assignments(year) if running is None else running
    if progress is None:
        progress = assignment_progress(scope, assignments)
    stats = {x.id: x for x in assignments}
    figures: dict[tuple, list[int]] = {}
    for key, _uid, aid, done in progress:
        f = figures.setdefault((key, aid), [0, 0])
        f[0] += 1
        f[1] += done >= stats[aid].courses
    for (_k, aid), (n, d) in figures.items():
        stats[aid].targeted += n
        stats[aid].completed += d
    return [x for x in assignments if x.targeted], {k: (n, d) for k, (n, d) in figures.items()}


def due_soon_days() -> int:
    return int(current_app.config["STATS_ASSIGNMENT_DUE_DAYS"])


def pressing(assignments: list[AssignmentStat], today: date | None = None) -> list[AssignmentStat]:
    """Assignments past their deadline or due within STATS_ASSIGNMENT_DUE_DAYS days (and already started)."""
    today = today or local_today()
    horizon = today + timedelta(days=due_soon_days())
    return [x for x in assignments if (x.starts_on is None or x.starts_on <= today) and x.due_on <= horizon]


@dataclass
class TaskBehind:
    """A member who has not completed the required courses of an assignment that is due soon or overdue."""

    person: PersonRow
    assignment: AssignmentStat
    done: int  # courses of the assignment completed
    today: date

    @property
    def days_left(self) -> int:
        return (self.assignment.due_on - self.today).days

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


def tasks_behind(scope: Scope, year: int, people: list[PersonRow] | None = None,
                 assignments: list[AssignmentStat] | None = None, progress: list | None = None) -> list[TaskBehind]:
    """Every (member, assignment) of the scope where the member was reached by an assignment that is overdue
    or due soon and has not completed all its courses: overdue first, then the nearest deadline.
    `progress`: from `assignment_progress`, when the caller has it (it covers `assignments`)."""
    if _assignment_tables() is None:
        return []
    today = local_today()
    urgent = {x.id: x for x in pressing(running_assignments(year) if assignments is None else assignments, today)}
    if not urgent:
        return []
    if progress is None:
        progress = assignment_progress(scope, list(urgent.values()))
    rows = [(uid, aid, done) for _k, uid, aid, done in progress if aid in urgent and done < urgent[aid].courses]
    if not rows:
        return []
    if people is None:
        people = people_of(scope)
    persons = {p.id: p for p in people}
    out = [TaskBehind(persons[uid], urgent[aid], done, today) for uid, aid, done in rows if uid in persons]
    out.sort(key=lambda b: (b.assignment.due_on, b.assignment.id, b.person.login_id))
    return out


def course_titles(ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(Course.id, Course.title).where(Course.id.in_(ids))).all())


# --- the dashboard ----------------------------------------------------------------------------------------
@dataclass
class Row:
    key: int
    label: str
    kind: str  # unit | person
    people: int = 0
    hours: Decimal = Decimal("0.00")
    met: int = 0
    enrolled: int = 0
    completed: int = 0
    quiz_count: int = 0
    quiz_sum: float = 0.0
    targeted: int = 0  # people reached by the selected assignment(s)
    assigned_done: int = 0
    buckets: dict = field(default_factory=lambda: {k: 0 for k, _ in SHARE_BUCKETS})
    person: PersonRow | None = None

    @property
    def behind(self) -> int:
        return self.people - self.met

    @property
    def met_rate(self) -> float | None:
        return rate(self.met, self.people)

    @property
    def avg_hours(self) -> Decimal:
        return q2(self.hours / self.people) if self.people else Decimal("0.00")

    @property
    def completion_rate(self) -> float | None:
        return rate(self.completed, self.enrolled)

    @property
    def quiz_avg(self) -> float | None:
        return None if not self.quiz_count else self.quiz_sum / self.quiz_count

    @property
    def assignment_rate(self) -> float | None:
        return rate(self.assigned_done, self.targeted)


@dataclass
class CourseStat:
    course_id: int
    title: str
    enrolled: int
    completed: int

    @property
    def completion_rate(self) -> float | None:
        return rate(self.completed, self.enrolled)


def _behind_order(p: PersonRow):
    return (p.hours_c - p.requirement_c, p.login_id)


@dataclass
class Dashboard:
    node: OrgUnit
    year: int
    by: str  # child | person
    rows: list[Row]
    total: Row
    people: list[PersonRow]
    courses: list[CourseStat]
    course_id: int | None
    scores: dict[str, int]
    score_count: int
    score_avg: float | None
    months: dict[str, list]
    assignments: list[AssignmentStat] = field(default_factory=list)
    assignment_id: int | None = None
    tasks_behind: list[TaskBehind] = field(default_factory=list)  # overdue or due-soon assignments not done

    @property
    def selected_assignment(self) -> AssignmentStat | None:
        return next((a for a in self.assignments if a.id == self.assignment_id), None)

    @cached_property
    def behind(self) -> list[PersonRow]:
        """The people behind the requirement, largest shortfall first (hours − requirement ascending)."""
        return sorted((p for p in self.people if p.hours_c < p.requirement_c), key=_behind_order)

    def behind_first(self, n: int) -> list[PersonRow]:
        """The first `n` of `behind` (a partial sort: the page shows a few hundred of thousands)."""
        return heapq.nsmallest(n, (p for p in self.people if p.hours_c < p.requirement_c), key=_behind_order)

    @property
    def distribution(self) -> list[tuple[str, str, int]]:
        return [(k, label, self.total.buckets[k]) for k, label in SHARE_BUCKETS]

    @property
    def score_distribution(self) -> list[tuple[str, str, int]]:
        return [(k, label, self.scores.get(k, 0)) for k, label in SCORE_BUCKETS]

    @property
    def selected_course(self) -> CourseStat | None:
        return next((c for c in self.courses if c.course_id == self.course_id), None)


def person_figures(node_id: int, year: int, by: str, scope: Scope | None = None) -> list[PersonRow]:
    """Everyone of the subtree with hours and requirement (opens the scope unless given one)."""
    scope = scope or open_scope(node_id, by)
    people = people_of(scope, year)
    requirements(node_id, year, people)
    return people


@contextmanager
def bulk_figures():
    """No cyclic garbage collection while a page's figures are built.

    A whole university is tens of thousands of rows and objects made in a few hundred milliseconds; every
    700 allocations Python's collector would walk the young objects and, as they pile up, the whole heap
    (about a sixth of the page's time). Reference counting still frees everything; cycles made meanwhile wait
    for the next collection. The collector is switched back on only if it was on (another thread may be in
    here too), so it is never left off.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def dashboard(node: OrgUnit, year: int, course_id: int | None = None,
              assignment_id: int | None = None) -> Dashboard:
    """The figures of one node for a year; `course_id` / `assignment_id` narrow the completion columns.

    The subtree's people are resolved once (`open_scope`); then one statement per figure: people with
    hours and requirements, completion per row and per course, quiz scores, monthly trends (two), and with
    party_school the assignments (list, progress of each person reached: figures and members behind).
    """
    with bulk_figures():
        return _dashboard(node, year, course_id, assignment_id)


def _dashboard(node: OrgUnit, year: int, course_id: int | None, assignment_id: int | None) -> Dashboard:
    kids = children_of(node.id)
    by = "child" if kids else "person"
    scope = open_scope(node.id, by)
    people = person_figures(node.id, year, by, scope)
    rows: dict[int, Row] = {}
    if by == "child":
        for u in kids:
            rows[u.id] = Row(key=u.id, label=u.name, kind="unit")
    hours_c: dict[int, int] = {}
    for p in people:
        if by == "person":
            rows[p.id] = Row(key=p.id, label=p.name, kind="person", person=p)
        elif p.key not in rows:  # people attached to the node itself
            rows[p.key] = Row(key=p.key, label=f"{node.name}（直属）", kind="unit")
        r = rows[p.key]
        r.people += 1
        hours_c[p.key] = hours_c.get(p.key, 0) + p.hours_c
        r.met += p.hours_c >= p.requirement_c
        r.buckets[_bucket_c(p.hours_c, p.requirement_c)] += 1
    for key, c in hours_c.items():
        rows[key].hours = from_cents(c)
    courses = completion_by_course(scope, year)
    if course_id is not None and course_id not in courses:
        course_id = None
    for key, (n, done) in completion(scope, year, course_id).items():
        if key in rows:
            rows[key].enrolled += n
            rows[key].completed += done
    titles = course_titles(courses)
    course_list = sorted((CourseStat(cid, titles.get(cid, ""), n, d) for cid, (n, d) in courses.items()),
                         key=lambda c: (-c.enrolled, c.course_id))
    scores: dict[str, int] = {}
    for key, fig in quiz_scores(scope, year).items():
        for bucket, n in fig.buckets.items():
            scores[bucket] = scores.get(bucket, 0) + n
        if key in rows:
            rows[key].quiz_count += fig.count
            rows[key].quiz_sum += fig.total
    running = running_assignments(year)
    progress = assignment_progress(scope, running)
    assignments, a_figures = assignment_completion(scope, year, progress, running)
    if assignment_id is not None and assignment_id not in {a.id for a in assignments}:
        assignment_id = None
    for (key, aid), (n, done) in a_figures.items():
        if key in rows and (assignment_id is None or aid == assignment_id):
            rows[key].targeted += n
            rows[key].assigned_done += done
    ordered = list(rows.values())
    total = Row(key=node.id, label=node.name, kind="unit")
    for r in ordered:
        total.people += r.people
        total.hours += r.hours
        total.met += r.met
        total.enrolled += r.enrolled
        total.completed += r.completed
        total.quiz_count += r.quiz_count
        total.quiz_sum += r.quiz_sum
        total.targeted += r.targeted
        total.assigned_done += r.assigned_done
        for k, v in r.buckets.items():
            total.buckets[k] += v
    return Dashboard(node=node, year=year, by=by, rows=ordered, total=total, people=people, courses=course_list,
                     course_id=course_id, scores=scores, score_count=total.quiz_count,
                     score_avg=total.quiz_avg, months=monthly(scope, year), assignments=assignments,
                     assignment_id=assignment_id,
                     tasks_behind=tasks_behind(scope, year, people, assignments, progress) if assignments else [])


# --- chart data (ECharts options built here; the page passes them in data-* attributes) --------------
def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def charts(d: Dashboard, labels) -> dict[str, dict]:
    """ECharts options for the four charts; `labels` translates the fixed captions."""
    names = [r.label for r in d.rows]
    tooltip = {"trigger": "axis", "renderMode": "richText"}
    grid = {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True}
    return {
        "assignment": {
            "tooltip": tooltip, "grid": grid,
            "xAxis": {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}},
            "yAxis": {"type": "category", "data": names[::-1], "axisLabel": {"width": 140, "overflow": "truncate"}},
            "series": [{"type": "bar", "name": labels["assignment"],
                        "data": [_pct(r.assignment_rate) for r in d.rows][::-1],
                        "label": {"show": True, "position": "right", "formatter": "{c}%"}}],
        },
        "completion": {
            "tooltip": tooltip, "grid": grid,
            "xAxis": {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}},
            "yAxis": {"type": "category", "data": names[::-1], "axisLabel": {"width": 140, "overflow": "truncate"}},
            "series": [{"type": "bar", "name": labels["completion"],
                        "data": [_pct(r.completion_rate) for r in d.rows][::-1],
                        "label": {"show": True, "position": "right", "formatter": "{c}%"}}],
        },
        "distribution": {
            "tooltip": {"trigger": "item", "renderMode": "richText"},
            "legend": {"bottom": 0, "type": "scroll"},
            "series": [{"type": "pie", "radius": ["35%", "65%"], "name": labels["distribution"],
                        "data": [{"name": str(label), "value": n} for _, label, n in d.distribution]}],
        },
        "scores": {
            "tooltip": tooltip, "grid": grid,
            "xAxis": {"type": "category", "data": [str(label) for _, label, _ in d.score_distribution]},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [{"type": "bar", "name": labels["scores"],
                        "data": [n for _, _, n in d.score_distribution]}],
        },
        "monthly": {
            "tooltip": tooltip, "grid": {**grid, "bottom": 36},
            "legend": {"bottom": 0},
            "xAxis": {"type": "category", "data": labels.get("months") or [f"{m}月" for m in range(1, 13)]},
            "yAxis": [{"type": "value", "name": labels["hours"]}, {"type": "value", "name": labels["done"],
                                                                   "minInterval": 1}],
            "series": [
                {"type": "bar", "name": labels["hours"], "data": [float(h) for h in d.months["hours"]]},
                {"type": "line", "name": labels["done"], "yAxisIndex": 1, "data": d.months["completions"]},
            ],
        },
    }


# --- one member ---------------------------------------------------------------------------------------------
@dataclass
class Member:
    person: User
    year: int
    hours: Decimal
    requirement: Decimal
    exempt: bool
    entries: list[CreditEntry]
    enrollments: list[tuple[Enrollment, str]]
    scores: list[tuple[LessonProgress, Lesson]]

    @property
    def met(self) -> bool:
        return self.hours >= self.requirement


def member(person: User, year: int) -> Member:
    from lms.credits import services as credits

    s = credits.summary(person, year)
    start, end = year_bounds(year)
    enrs = db.session.execute(
        select(Enrollment, Course.title).join(Course, Course.id == Enrollment.course_id)
        .where(Enrollment.user_id == person.id, Enrollment.enrolled_at < end,
               or_(Enrollment.completed_at.is_(None), Enrollment.completed_at >= start))
        .order_by(Enrollment.enrolled_at.desc())).all()
    scores = db.session.execute(
        select(LessonProgress, Lesson).join(Lesson, Lesson.id == LessonProgress.lesson_id)
        .where(LessonProgress.user_id == person.id, Lesson.type.in_(TEST_LESSON_TYPES),
               LessonProgress.score.is_not(None), LessonProgress.last_seen_at >= start,
               LessonProgress.last_seen_at < end)
        .order_by(LessonProgress.last_seen_at.desc())).all()
    return Member(person=person, year=year, hours=s.total, requirement=s.requirement.hours,
                  exempt=s.requirement.exemption is not None, entries=s.entries,
                  enrollments=[(e, t) for e, t in enrs], scores=[(p, ls) for p, ls in scores])


def entry_activity(entry: CreditEntry) -> str | None:
    """The xAPI activity whose statements stand behind a ledger line (course and lesson completions)."""
    from lms.events import activity_iri

    if entry.source_type in ("course", "lesson"):
        return activity_iri(entry.source_type, entry.source_id)
    return None


# --- reminders ------------------------------------------------------------------------------------------
def _send(actor, node: OrgUnit, *, url: str, messages: dict[int, tuple[str, str]], details: dict) -> dict:
    """Notify each person of `messages` (id → title, body) in-app, linking to `url`, except those who got a
    reminder with the same link in the last STATS_REMIND_COOLDOWN_HOURS; writes one audit row `stats.remind`
    with `details` and who was reminded. The read transaction of the figures is ended first (`end_scope`);
    the notifications and the audit row are left for the caller to commit."""
    from lms import audit
    from lms.notifications.models import Notification
    from lms.notifications.services import notify

    cutoff = utcnow() - timedelta(hours=current_app.config["STATS_REMIND_COOLDOWN_HOURS"])
    q, _ = _in_scope(select(Notification.user_id), Notification.user_id)  # the caller opened the scope
    recent = set(db.session.scalars(q.where(Notification.kind == "system", Notification.url == url,
                                            Notification.created_at >= cutoff)))
    due = [pid for pid in messages if pid not in recent]
    end_scope()  # the figures are read; what follows writes
    users = {}
    for i in range(0, len(due), 5000):  # bounded IN lists (SQLite's limit on bound values)
        users.update((u.id, u) for u in db.session.scalars(select(User).where(User.id.in_(due[i:i + 5000]))))
    sent = []
    for pid in due:
        title, body = messages[pid]
        if pid in users and notify(users[pid], title=title, body=body, url=url, kind="system") is not None:
            sent.append(pid)
    result = {"behind": len(messages), "sent": len(sent), "skipped": len(messages) - len(due)}
    audit.log("stats.remind", node, actor=actor, details={**details, **result, "people": sent[:500]})
    return result


def remind_behind(actor, node: OrgUnit, year: int, *, url: str) -> dict:
    """Notify every active member of the node's subtree who is behind the yearly requirement (in-app).

    People reminded in the last STATS_REMIND_COOLDOWN_HOURS are skipped; writes one audit row.
    The caller commits (see `_send`).
    """
    people = person_figures(node.id, year, "person")  # opens the scope _send uses
    messages = {}
    for p in people:
        if p.met:
            continue
        messages[p.id] = (message(N_HOURS, year=year, short=_fmt(p.shortfall)),
                          message(N_HOURS_BODY, year=year, hours=_fmt(p.hours), req=_fmt(p.requirement),
                                  short=_fmt(p.shortfall), unit=node.name))
    return _send(actor, node, url=url, messages=messages, details={"kind": "hours", "year": year})


def remind_tasks(actor, node: OrgUnit, year: int, *, url: str) -> dict:
    """Notify every active member of the node's subtree who has not completed the required courses of an
    assignment that is overdue or due within STATS_ASSIGNMENT_DUE_DAYS days (in-app, one notice per person
    listing their assignments). Same cooldown, audit row (`stats.remind`, kind "assignments") and commit by
    the caller as `remind_behind`."""
    items: dict[int, list[TaskBehind]] = {}
    for b in tasks_behind(open_scope(node.id, "person"), year):
        items.setdefault(b.person.id, []).append(b)
    messages = {}
    for pid, mine in items.items():
        if len(mine) == 1:
            b = mine[0]
            title = message(N_TASK_OVERDUE if b.overdue else N_TASK_SOON, title=b.assignment.title)
            body = message(N_TASK_BODY, title=b.assignment.title, date=b.assignment.due_on.isoformat(), done=b.done,
                           n=b.assignment.courses, unit=node.name)
        else:
            title = message(N_TASKS, n=len(mine))
            body = message(N_TASKS_BODY, n=len(mine), unit=node.name,
                           tasks="、".join(f"《{b.assignment.title}》（{b.assignment.due_on.isoformat()}）" for b in mine))
        messages[pid] = (title[:200], body)
    assignments = sorted({b.assignment.id for mine in items.values() for b in mine})
    return _send(actor, node, url=url, messages=messages,
                 details={"kind": "assignments", "year": year, "assignments": assignments})


def _fmt(value) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")
