"""Figures of the statistics dashboards, read from the projections (enrolment, lesson progress, credit ledger).

Every figure is one aggregate query over the people of a subtree, restricted and grouped through the
closure table (`org_unit_closure`), so its cost grows with people and courses, never with statements.
A dashboard is drawn for one org unit (a "node"): its rows are the node's child units (and the people
attached to the node itself), or the node's people when it has no children (a branch).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, and_, case, cast, func, literal, or_, select, text

from lms.accounts.models import RoleAssignment, User
from lms.authz import VIEW, can, scope_roots
from lms.courses.models import Course, Enrollment, Lesson, LessonProgress
from lms.credits.models import CreditEntry, CreditExemption, CreditRequirement
from lms.extensions import db
from lms.org.models import OrgUnit, OrgUnitClosure
from lms.timeutil import utcnow

log = logging.getLogger(__name__)
_TZ = ZoneInfo("Asia/Shanghai")

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


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The naive-UTC instants where the Beijing calendar year starts and ends."""
    start = datetime(year, 1, 1, tzinfo=_TZ).astimezone(UTC).replace(tzinfo=None)
    end = datetime(year + 1, 1, 1, tzinfo=_TZ).astimezone(UTC).replace(tzinfo=None)
    return start, end


def rate(part: int, whole: int) -> float | None:
    return None if not whole else part / whole


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


# --- grouping through the closure table -----------------------------------------------------------------
def scope_people(node_id: int, by: str):
    """A materialized CTE (user_id, key) of the active people of the node's subtree and the row each counts in.

    by="child": key = the node's child unit containing the person (the node itself for its direct people);
    by="unit": key = the person's own unit; by="person": key = the person. Materializing it first lets every
    figure start from the (indexed) closure rows of the subtree instead of from a whole fact table.
    """
    c = OrgUnitClosure.__table__.alias("rowc")
    if by == "child":
        children = select(OrgUnit.id).where(OrgUnit.parent_id == node_id)
        cond = or_(c.c.ancestor_id.in_(children), and_(c.c.ancestor_id == node_id, c.c.depth == 0))
        key = c.c.ancestor_id
    elif by in ("unit", "person"):
        cond = c.c.ancestor_id == node_id
        key = User.org_unit_id if by == "unit" else User.id
    else:
        raise ValueError(f"stats grouping must be child, unit or person, not {by!r}")
    q = (select(User.id.label("user_id"), key.label("key"))
         .select_from(c).join(User, User.org_unit_id == c.c.descendant_id)
         .where(cond, User.is_active_account.is_(True)))
    return q.cte(f"people_{by}").prefix_with("MATERIALIZED")


def _grouped(q, user_col, node_id: int, by: str):
    """Join `q` (over a fact table whose person is `user_col`) to the scope's people; returns (q, key column)."""
    people = scope_people(node_id, by)
    return q.join(people, people.c.user_id == user_col), people.c.key


@dataclass
class PersonRow:
    id: int
    name: str
    login_id: str
    org_unit_id: int
    category: str
    key: int  # the row of the dashboard this person is counted in
    hours: Decimal = Decimal("0.00")
    requirement: Decimal = Decimal("0.00")
    exempt: bool = False
    enrolled: int = 0
    completed: int = 0
    quiz_count: int = 0
    quiz_sum: float = 0.0

    @property
    def met(self) -> bool:
        return self.hours >= self.requirement

    @property
    def shortfall(self) -> Decimal:
        return max(Decimal("0.00"), self.requirement - self.hours)

    @property
    def share(self) -> float:
        return 1.0 if self.requirement <= 0 else float(self.hours) / float(self.requirement)

    @property
    def bucket(self) -> str:
        return share_bucket(self.hours, self.requirement)

    @property
    def completion_rate(self) -> float | None:
        return rate(self.completed, self.enrolled)

    @property
    def quiz_avg(self) -> float | None:
        return None if not self.quiz_count else self.quiz_sum / self.quiz_count


def share_bucket(hours: Decimal, requirement: Decimal) -> str:
    if hours >= requirement:
        return "met"
    if hours <= 0:
        return "none"
    share = float(hours) / float(requirement)
    return "lt25" if share < .25 else "lt50" if share < .5 else "lt75" if share < .75 else "lt100"


def people_of(node_id: int, by: str, year: int | None = None) -> list[PersonRow]:
    """Figure: the active people of the subtree, the row each is counted in and, with `year`, their credit
    hours of that year from the ledger — one statement (the scope's people are materialized once)."""
    people = scope_people(node_id, by)
    q = (select(User.id, User.name, User.login_id, User.org_unit_id, User.category, people.c.key)
         .select_from(people).join(User, User.id == people.c.user_id))
    if year is not None:
        hours = (select(CreditEntry.user_id.label("user_id"), func.sum(CreditEntry.hours).label("hours"))
                 .join(people, people.c.user_id == CreditEntry.user_id)
                 .where(CreditEntry.year == year).group_by(CreditEntry.user_id).subquery())
        q = q.add_columns(hours.c.hours).outerjoin(hours, hours.c.user_id == User.id)
    else:
        q = q.add_columns(literal(None))
    q = q.order_by(User.org_unit_id, User.login_id)
    return [PersonRow(id=i, name=n, login_id=lid, org_unit_id=u, category=cat, key=k,
                      hours=q2(h) if h is not None else Decimal("0.00"))
            for i, n, lid, u, cat, k, h in db.session.execute(q)]


def requirements(node_id: int, year: int, people: list[PersonRow]) -> None:
    """Fill each person's yearly requirement like lms.credits.services.requirement_for, in bulk.

    Secretaries and committee members owe the secretary requirement; the nearest unit override for the
    year (closure depth) replaces the configured figure; an exemption lowers it for one person.
    """
    base = {"member": q2(current_app.config["DEFAULT_YEARLY_REQUIREMENT"]),
            "secretary": q2(current_app.config["SECRETARY_YEARLY_REQUIREMENT"])}
    q = select(RoleAssignment.user_id)
    q, _ = _grouped(q, RoleAssignment.user_id, node_id, "person")
    secretaries = set(db.session.scalars(q.where(RoleAssignment.role.in_(SECRETARY_ROLES))))
    # overrides: nearest ancestor with a row for the category wins
    sub = select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == node_id)
    rows = db.session.execute(
        select(OrgUnitClosure.descendant_id, OrgUnitClosure.depth, CreditRequirement.category,
               CreditRequirement.hours)
        .join(CreditRequirement, CreditRequirement.org_unit_id == OrgUnitClosure.ancestor_id)
        .where(CreditRequirement.year == year, OrgUnitClosure.descendant_id.in_(sub))
    ).all()
    override: dict[tuple[int, str], tuple[int, Decimal]] = {}
    for unit_id, depth, category, hours in rows:
        key = (unit_id, category)
        if key not in override or depth < override[key][0]:
            override[key] = (depth, q2(hours))
    q = select(CreditExemption.user_id, CreditExemption.reduced_hours)
    q, _ = _grouped(q, CreditExemption.user_id, node_id, "person")
    exemptions = {uid: q2(h) for uid, h in db.session.execute(q.where(CreditExemption.year == year))}
    for p in people:
        category = "secretary" if p.id in secretaries else "member"
        req = override.get((p.org_unit_id, category), (0, base[category]))[1]
        if p.id in exemptions:
            req = min(req, exemptions[p.id])
            p.exempt = True
        p.requirement = req


def completion(node_id: int, year: int, by: str, per_course: bool = True) -> dict[tuple, tuple[int, int]]:
    """Figure: enrolments active in the year and those completed in it, per (row, course) or per row.

    Active in the year: enrolled before its end and not completed before its start.
    """
    start, end = year_bounds(year)
    done = func.sum(case((and_(Enrollment.completed_at >= start, Enrollment.completed_at < end), 1), else_=0))
    q = select(func.count(Enrollment.id), done)
    q, key = _grouped(q, Enrollment.user_id, node_id, by)
    cols = [key, Enrollment.course_id] if per_course else [key]
    q = q.add_columns(*cols).where(
        Enrollment.enrolled_at < end,
        or_(Enrollment.completed_at.is_(None), Enrollment.completed_at >= start),
    ).group_by(*cols)
    out = {}
    for row in db.session.execute(q):
        out[tuple(row[2:])] = (int(row[0] or 0), int(row[1] or 0))
    return out


def _score_bucket():
    pct = LessonProgress.score * 100
    return case((pct < 60, literal("lt60")), (pct < 70, literal("60")), (pct < 80, literal("70")),
                (pct < 90, literal("80")), else_=literal("90"))


def quiz_scores(node_id: int, year: int, by: str) -> dict[tuple, tuple[int, float]]:
    """Figure: best quiz scores (lesson progress of test lessons seen in the year) per (row, score bucket)."""
    start, end = year_bounds(year)
    bucket = _score_bucket()
    q = (select(func.count(LessonProgress.id), func.sum(LessonProgress.score))
         .join(Lesson, Lesson.id == LessonProgress.lesson_id))
    q, key = _grouped(q, LessonProgress.user_id, node_id, by)
    q = q.add_columns(key, bucket).where(
        Lesson.type.in_(TEST_LESSON_TYPES), LessonProgress.score.is_not(None),
        LessonProgress.last_seen_at >= start, LessonProgress.last_seen_at < end,
    ).group_by(key, bucket)
    return {(k, b): (int(n), float(s or 0)) for n, s, k, b in db.session.execute(q)}


def _month(col):
    """A grouping key for the Beijing calendar month of a naive-UTC column, and its decoder to 1–12.

    On SQLite the key is the UTC hour as stored ("YYYY-MM-DD HH", a cheap substring rather than a
    date function per row); Python shifts it to Beijing time. Elsewhere the database computes the month.
    """
    if db.engine.dialect.name == "sqlite":
        def decode(key):
            if not key:
                return None
            return (datetime.strptime(key, "%Y-%m-%d %H") + timedelta(hours=8)).month
        return func.substr(col, 1, 13), decode
    return cast(func.extract("month", col + text("INTERVAL '8 hours'")), Integer), \
        (lambda key: int(key) if key is not None else None)


def monthly(node_id: int, year: int) -> dict[str, list]:
    """Figure: credit hours earned and courses completed per month of the year (two grouped queries)."""
    start, end = year_bounds(year)
    month, decode = _month(CreditEntry.earned_at)
    q = select(month, func.sum(CreditEntry.hours))
    q, _ = _grouped(q, CreditEntry.user_id, node_id, "person")
    hours = [Decimal("0")] * 12
    for key, h in db.session.execute(q.where(CreditEntry.year == year).group_by(month)):
        m = decode(key)
        if m and 1 <= m <= 12:
            hours[m - 1] += Decimal(str(h or 0))
    hours = [q2(h) for h in hours]
    month, decode = _month(Enrollment.completed_at)
    q = select(month, func.count(Enrollment.id))
    q, _ = _grouped(q, Enrollment.user_id, node_id, "person")
    done = [0] * 12
    for key, n in db.session.execute(q.where(Enrollment.completed_at >= start, Enrollment.completed_at < end)
                                     .group_by(month)):
        m = decode(key)
        if m and 1 <= m <= 12:
            done[m - 1] += int(n)
    return {"hours": hours, "completions": done}


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


@dataclass
class AssignmentStat:
    id: int
    title: str
    due_on: object
    courses: int
    targeted: int = 0
    completed: int = 0

    @property
    def completion_rate(self) -> float | None:
        return rate(self.completed, self.targeted)


def assignment_completion(node_id: int, year: int, by: str) -> tuple[list[AssignmentStat], dict]:
    """Figure: for each active assignment running in the year, the people of the subtree it reached and those
    who completed every one of its courses, per (row, assignment). Two queries (list, figures)."""
    tables = _assignment_tables()
    if tables is None:
        return [], {}
    a, ac, t = tables
    start, end = year_bounds(year)
    y_start, y_end = start.date(), end.date()
    n_courses = (select(ac.c.assignment_id, func.count().label("n")).group_by(ac.c.assignment_id).subquery())
    done = (select(t.c.assignment_id, t.c.user_id, func.count(Enrollment.id).label("done"))
            .select_from(t)
            .join(ac, ac.c.assignment_id == t.c.assignment_id)
            .outerjoin(Enrollment, and_(Enrollment.user_id == t.c.user_id, Enrollment.course_id == ac.c.course_id,
                                        Enrollment.completed_at.is_not(None)))
            .group_by(t.c.assignment_id, t.c.user_id).subquery())
    q = (select(func.count(), func.sum(case((done.c.done >= n_courses.c.n, 1), else_=0)))
         .select_from(done)
         .join(n_courses, n_courses.c.assignment_id == done.c.assignment_id)
         .join(a, a.c.id == done.c.assignment_id))
    q, key = _grouped(q, done.c.user_id, node_id, by)
    q = q.add_columns(key, done.c.assignment_id).where(
        a.c.status == "active", a.c.starts_on < y_end, a.c.due_on >= y_start,
    ).group_by(key, done.c.assignment_id)
    figures = {(k, aid): (int(n), int(d or 0)) for n, d, k, aid in db.session.execute(q)}
    ids = {aid for _, aid in figures}
    stats = {}
    if ids:
        for aid, title, due_on, n in db.session.execute(
                select(a.c.id, a.c.title, a.c.due_on, n_courses.c.n)
                .join(n_courses, n_courses.c.assignment_id == a.c.id).where(a.c.id.in_(ids))):
            stats[aid] = AssignmentStat(aid, title, due_on, int(n))
    for (_k, aid), (n, d) in figures.items():
        if aid in stats:
            stats[aid].targeted += n
            stats[aid].completed += d
    ordered = sorted(stats.values(), key=lambda x: (x.due_on, x.id))
    return ordered, figures


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

    @property
    def selected_assignment(self) -> AssignmentStat | None:
        return next((a for a in self.assignments if a.id == self.assignment_id), None)

    @cached_property
    def behind(self) -> list[PersonRow]:
        return sorted((p for p in self.people if not p.met), key=lambda p: (-p.shortfall, p.login_id))

    @property
    def distribution(self) -> list[tuple[str, str, int]]:
        return [(k, label, self.total.buckets[k]) for k, label in SHARE_BUCKETS]

    @property
    def score_distribution(self) -> list[tuple[str, str, int]]:
        return [(k, label, self.scores.get(k, 0)) for k, label in SCORE_BUCKETS]

    @property
    def selected_course(self) -> CourseStat | None:
        return next((c for c in self.courses if c.course_id == self.course_id), None)


def person_figures(node_id: int, year: int, by: str) -> list[PersonRow]:
    """Everyone of the subtree with hours, requirement, completion and quiz figures (4 + 3 queries)."""
    people = people_of(node_id, by, year)
    requirements(node_id, year, people)
    return people


def dashboard(node: OrgUnit, year: int, course_id: int | None = None,
              assignment_id: int | None = None) -> Dashboard:
    """The figures of one node for a year; `course_id` / `assignment_id` narrow the completion columns."""
    kids = children_of(node.id)
    by = "child" if kids else "person"
    people = person_figures(node.id, year, by)
    rows: dict[int, Row] = {}
    if by == "child":
        for u in kids:
            rows[u.id] = Row(key=u.id, label=u.name, kind="unit")
    for p in people:
        if by == "person":
            rows[p.id] = Row(key=p.id, label=p.name, kind="person", person=p)
        elif p.key not in rows:  # people attached to the node itself
            rows[p.key] = Row(key=p.key, label=f"{node.name}（直属）", kind="unit")
        r = rows[p.key]
        r.people += 1
        r.hours += p.hours
        r.met += p.met
        r.buckets[p.bucket] += 1
    courses: dict[int, list[int]] = {}
    for (key, cid), (n, done) in completion(node.id, year, by).items():
        c = courses.setdefault(cid, [0, 0])
        c[0] += n
        c[1] += done
        if key in rows and (course_id is None or cid == course_id):
            rows[key].enrolled += n
            rows[key].completed += done
    titles = course_titles(courses)
    course_list = sorted((CourseStat(cid, titles.get(cid, ""), n, d) for cid, (n, d) in courses.items()),
                         key=lambda c: (-c.enrolled, c.course_id))
    scores: dict[str, int] = {}
    for (key, bucket), (n, s) in quiz_scores(node.id, year, by).items():
        scores[bucket] = scores.get(bucket, 0) + n
        if key in rows:
            rows[key].quiz_count += n
            rows[key].quiz_sum += s
    assignments, a_figures = assignment_completion(node.id, year, by)
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
    if course_id is not None and course_id not in courses:
        course_id = None
    return Dashboard(node=node, year=year, by=by, rows=ordered, total=total, people=people, courses=course_list,
                     course_id=course_id, scores=scores, score_count=total.quiz_count,
                     score_avg=total.quiz_avg, months=monthly(node.id, year), assignments=assignments,
                     assignment_id=assignment_id)


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
def remind_behind(actor, node: OrgUnit, year: int, *, url: str) -> dict:
    """Notify every active member of the node's subtree who is behind the yearly requirement (in-app).

    People reminded in the last STATS_REMIND_COOLDOWN_HOURS are skipped; writes one audit row.
    Runs in the caller's transaction (the caller commits).
    """
    from lms import audit
    from lms.notifications.models import Notification
    from lms.notifications.services import notify

    people = person_figures(node.id, year, "person")
    behind = [p for p in people if not p.met]
    cutoff = utcnow() - timedelta(hours=current_app.config["STATS_REMIND_COOLDOWN_HOURS"])
    q = select(Notification.user_id)
    q, _ = _grouped(q, Notification.user_id, node.id, "person")
    recent = set(db.session.scalars(q.where(Notification.kind == "system", Notification.url == url,
                                            Notification.created_at >= cutoff)))
    sent, skipped = [], 0
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([p.id for p in behind])))} \
        if behind else {}
    for p in behind:
        if p.id in recent:
            skipped += 1
            continue
        title = f"学时提醒：{year} 年度还差 {_fmt(p.shortfall)} 学时"
        body = (f"您 {year} 年度已获 {_fmt(p.hours)} 学时，年度要求 {_fmt(p.requirement)} 学时，"
                f"还差 {_fmt(p.shortfall)} 学时。请及时参加学习。（{node.name}）")
        if notify(users[p.id], title=title, body=body, url=url, kind="system") is not None:
            sent.append(p.id)
    audit.log("stats.remind", node, actor=actor,
              details={"year": year, "behind": len(behind), "sent": len(sent), "skipped": skipped,
                       "people": sent[:500]})
    return {"behind": len(behind), "sent": len(sent), "skipped": skipped}


def _fmt(value) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")
