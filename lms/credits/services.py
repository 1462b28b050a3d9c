"""Credit-hour logic (no request objects): rules, pricing, the ledger, requirements, recompute, transfer.

Other plugins award hours through `award(...)`; the courses area awards through the hooks in
`lms.credits.hooks`. Every function writes in the caller's transaction and never commits.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from lms.credits.models import (
    OFFLINE_KINDS,
    ONLINE_KINDS,
    REQUIREMENT_CATEGORIES,
    RULE_KINDS,
    CreditEntry,
    CreditExemption,
    CreditRequirement,
    CreditRule,
    scope_of_kind,
)
from lms.extensions import db
from lms.org.models import OrgUnitClosure
from lms.timeutil import utcnow

log = logging.getLogger(__name__)
_TZ = ZoneInfo("Asia/Shanghai")

DEFAULT_PARAMS = {
    "course_fixed": {},
    "media_tiers": {
        "tiers": [
            {"min_minutes": 30, "hours": 1},
            {"min_minutes": 15, "hours": 0.5},
            {"min_minutes": 0, "hours": 0.25},
        ],
        "passed_test": 0.5,
    },
    "effective_time": {"minutes_per_hour": 45, "step": 0.25},
    "in_person": {"full_day": 8, "half_day": 4, "per_hour": 1},
}
# Lesson types that are tests: under the tier rule a passed test earns the rule's `passed_test` hours.
TEST_LESSON_TYPES = ("quiz", "exam", "test")
DERIVED_SOURCES = ("course", "lesson")  # rebuilt from course progress by recompute
OFFLINE_SOURCES = ("training", "branch_life", "in_person")


class CreditError(ValueError):
    """A rule, requirement or record that cannot be accepted; the message is for the user."""


@dataclass(frozen=True)
class EffectiveRule:
    """The rule that applies: a stored version, or the built-in default (id None, version 0)."""

    kind: str
    params: dict
    id: int | None = None
    version: int = 0
    org_unit_id: int | None = None

    @property
    def kind_label(self) -> str:
        return RULE_KINDS.get(self.kind, self.kind)


def local_year(dt: datetime | None = None) -> int:
    """The calendar year in Beijing time of a naive-UTC timestamp (now when None)."""
    dt = dt or utcnow()
    return dt.replace(tzinfo=UTC).astimezone(_TZ).year


def _q(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- rules -----------------------------------------------------------------------------------------
def normalize_params(kind: str, params: dict | None) -> dict:
    """Validate and normalise the params of a rule kind; raises CreditError with a readable message."""
    if kind not in RULE_KINDS:
        raise CreditError(_("未知的学时规则类型：%(kind)s", kind=kind))
    params = dict(params or {})
    try:
        if kind == "course_fixed":
            return {}
        if kind == "media_tiers":
            tiers = []
            for t in params.get("tiers") or []:
                m, h = float(t["min_minutes"]), float(t["hours"])
                if m < 0 or h < 0 or h > 100:
                    raise CreditError(_("分档的时长与学时不能为负数，学时不能超过 100。"))
                tiers.append({"min_minutes": m, "hours": h})
            if not tiers:
                raise CreditError(_("请至少设置一个时长分档。"))
            tiers.sort(key=lambda t: -t["min_minutes"])
            passed = float(params.get("passed_test", 0) or 0)
            if passed < 0 or passed > 100:
                raise CreditError(_("测验通过的学时须在 0 到 100 之间。"))
            return {"tiers": tiers, "passed_test": passed}
        if kind == "effective_time":
            mph = float(params.get("minutes_per_hour", 0))
            step = float(params.get("step", 0.25) or 0)
            if mph <= 0 or mph > 600:
                raise CreditError(_("每学时对应的分钟数须在 1 到 600 之间。"))
            if step < 0 or step > 8:
                raise CreditError(_("取整单位须在 0 到 8 学时之间。"))
            return {"minutes_per_hour": mph, "step": step}
        if kind == "in_person":
            out = {}
            for key in ("full_day", "half_day", "per_hour"):
                v = float(params.get(key, DEFAULT_PARAMS["in_person"][key]))
                if v < 0 or v > 24:
                    raise CreditError(_("线下学习的学时须在 0 到 24 之间。"))
                out[key] = v
            return out
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CreditError):
            raise
        raise CreditError(_("学时规则的参数格式不正确。")) from exc
    raise CreditError(_("未知的学时规则类型：%(kind)s", kind=kind))


def default_rule(scope: str) -> EffectiveRule:
    kind = "in_person" if scope == "offline" else "course_fixed"
    return EffectiveRule(kind=kind, params=DEFAULT_PARAMS[kind])


def unit_rule(org_unit_id: int, year: int, scope: str = "online") -> CreditRule | None:
    """The latest version of the rule set on exactly this unit for the year."""
    return db.session.scalar(
        select(CreditRule)
        .where(CreditRule.org_unit_id == org_unit_id, CreditRule.year == year, CreditRule.scope == scope)
        .order_by(CreditRule.version.desc())
        .limit(1)
    )


def rule_versions(org_unit_id: int, year: int, scope: str) -> list[CreditRule]:
    return list(
        db.session.scalars(
            select(CreditRule)
            .where(CreditRule.org_unit_id == org_unit_id, CreditRule.year == year, CreditRule.scope == scope)
            .order_by(CreditRule.version.desc())
        )
    )


def rule_for(org_unit_id: int | None, year: int, scope: str = "online") -> EffectiveRule:
    """The rule of the nearest ancestor (self included) that has one for the year, else the default."""
    if org_unit_id is not None:
        latest = (
            select(CreditRule.org_unit_id, func.max(CreditRule.version).label("v"))
            .where(CreditRule.year == year, CreditRule.scope == scope)
            .group_by(CreditRule.org_unit_id)
            .subquery()
        )
        row = db.session.execute(
            select(CreditRule)
            .join(latest, (latest.c.org_unit_id == CreditRule.org_unit_id) & (latest.c.v == CreditRule.version))
            .join(OrgUnitClosure, OrgUnitClosure.ancestor_id == CreditRule.org_unit_id)
            .where(
                OrgUnitClosure.descendant_id == org_unit_id,
                CreditRule.year == year,
                CreditRule.scope == scope,
            )
            .order_by(OrgUnitClosure.depth)
            .limit(1)
        ).scalar_one_or_none()
        if row is not None:
            return EffectiveRule(kind=row.kind, params=row.params or {}, id=row.id, version=row.version,
                                 org_unit_id=row.org_unit_id)
    return default_rule(scope)


def save_rule(org_unit_id: int, year: int, kind: str, params: dict | None, *, user=None, note: str = "") -> CreditRule:
    """Store a new version of a unit's rule (rules are never edited in place) and audit it."""
    from lms import audit

    if year < 2000 or year > 2100:
        raise CreditError(_("年度不正确。"))
    clean = normalize_params(kind, params)
    scope = scope_of_kind(kind)
    prev = unit_rule(org_unit_id, year, scope)
    rule = CreditRule(
        org_unit_id=org_unit_id, year=year, scope=scope, version=(prev.version + 1) if prev else 1, kind=kind,
        params=clean, note=(note or "")[:200], created_by_id=getattr(user, "id", None),
    )
    db.session.add(rule)
    db.session.flush()
    audit.log("credits.rule_save", rule, actor=user,
              details={"unit": org_unit_id, "year": year, "kind": kind, "version": rule.version, "params": clean})
    return rule


# --- pricing ---------------------------------------------------------------------------------------
def tier_hours(params: dict, minutes: float) -> Decimal:
    for tier in sorted(params.get("tiers") or [], key=lambda t: -float(t["min_minutes"])):
        if minutes >= float(tier["min_minutes"]):
            return _q(tier["hours"])
    return _q(0)


def time_hours(params: dict, seconds: float) -> Decimal:
    mph = float(params.get("minutes_per_hour") or 45)
    raw = (seconds or 0) / 60.0 / mph
    step = float(params.get("step") or 0)
    if step > 0:
        raw = math.floor(raw / step + 1e-9) * step
    return _q(raw)


def price(rule: EffectiveRule, source_type: str, evidence: dict) -> Decimal:
    """Hours a source earns under `rule`, from the facts recorded in `evidence`."""
    ev = evidence or {}
    if source_type in OFFLINE_SOURCES:
        params = rule.params if rule.kind in OFFLINE_KINDS else DEFAULT_PARAMS["in_person"]
        session = ev.get("session")
        if session == "full_day":
            return _q(params.get("full_day", 8))
        if session == "half_day":
            return _q(params.get("half_day", 4))
        return _q(float(params.get("per_hour", 1)) * float(ev.get("hours_attended") or 0))
    kind, params = rule.kind, rule.params
    if source_type == "course":
        return _q(ev.get("credit_hours") or 0) if kind == "course_fixed" else _q(0)
    in_course = ev.get("course_id") is not None
    if kind == "course_fixed":
        if in_course:  # the course's fixed hours cover its lessons
            return _q(0)
        kind, params = "media_tiers", DEFAULT_PARAMS["media_tiers"]
    is_test = source_type == "quiz" or ev.get("lesson_type") in TEST_LESSON_TYPES
    if kind == "media_tiers":
        if is_test:
            return _q(params.get("passed_test", 0)) if ev.get("success") else _q(0)
        seconds = ev.get("duration_seconds") or ev.get("effective_seconds") or 0
        return tier_hours(params, float(seconds) / 60.0)
    if kind == "effective_time":
        return time_hours(params, float(ev.get("effective_seconds") or 0))
    return _q(0)


# --- the ledger ------------------------------------------------------------------------------------
def _entry(user_id: int, source_type: str, source_id) -> CreditEntry | None:
    return db.session.scalar(
        select(CreditEntry).where(
            CreditEntry.user_id == user_id,
            CreditEntry.source_type == source_type,
            CreditEntry.source_id == str(source_id),
        )
    )


def award(
    user,
    *,
    source_type: str,
    source_id,
    hours=None,
    evidence: dict,
    earned_at: datetime | None = None,
    title: str = "",
    course_id: int | None = None,
) -> CreditEntry | None:
    """Credit `user` for one source, once (idempotent per person × source); returns the entry.

    `hours=None` prices the source with the person's rule for the year (their branch's nearest rule);
    given hours are kept as they are (and not re-priced by recompute). `evidence` points at the
    records that prove the learning (progress ids, statement ids, sign-in sheet …). Course and lesson
    completions worth 0 hours under the rule leave no entry; other sources are kept at 0 for the record.
    """
    from lms.credits.models import SOURCE_TYPES

    if source_type not in SOURCE_TYPES:
        raise CreditError(_("未知的学时来源：%(source)s", source=source_type))
    existing = _entry(user.id, source_type, source_id)
    if existing is not None:
        return existing
    earned_at = earned_at or utcnow()
    year = local_year(earned_at)
    scope = "offline" if source_type in OFFLINE_SOURCES else "online"
    rule = rule_for(user.org_unit_id, year, scope)
    evidence = dict(evidence or {})
    if hours is None:
        value, fixed = price(rule, source_type, evidence), False
    else:
        value, fixed = _q(hours), True
        if value < 0:
            raise CreditError(_("学时不能为负数。"))
    if value == 0 and not fixed and source_type in DERIVED_SOURCES:
        return None
    entry = CreditEntry(
        user_id=user.id, year=year, org_unit_id=user.org_unit_id, source_type=source_type,
        source_id=str(source_id), course_id=course_id if course_id is not None else evidence.get("course_id"),
        title=(title or "")[:200], hours=value, hours_fixed=fixed, rule_id=rule.id,
        rule_version=rule.version, rule_kind=rule.kind, evidence=evidence, earned_at=earned_at,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def record_in_person(user, *, source_type: str, source_id, session: str, hours_attended: float = 0,
                     title: str = "", earned_at: datetime | None = None, evidence: dict | None = None):
    """Credit an in-person activity: `session` is "full_day" (8), "half_day" (4) or "hours" (per hour)."""
    if source_type not in OFFLINE_SOURCES:
        raise CreditError(_("线下学习的来源须为培训、支部学习或线下学习。"))
    if session not in ("full_day", "half_day", "hours"):
        raise CreditError(_("请选择全天、半天或按小时计。"))
    if session == "hours" and not (0 < float(hours_attended) <= 24):
        raise CreditError(_("学习时长须在 0 到 24 小时之间。"))
    ev = dict(evidence or {})
    ev.update({"session": session, "hours_attended": float(hours_attended or 0)})
    return award(user, source_type=source_type, source_id=source_id, evidence=ev, earned_at=earned_at, title=title)


def lesson_evidence(progress, lesson) -> dict:
    return {
        "lesson_progress_id": progress.id,
        "lesson_id": lesson.id,
        "course_id": lesson.course_id,
        "lesson_type": lesson.type,
        "duration_seconds": lesson.duration_seconds,
        "effective_seconds": progress.effective_seconds or 0,
        "success": progress.success,
        "score": progress.score,
    }


def course_evidence(enrollment, course) -> dict:
    return {
        "enrollment_id": enrollment.id,
        "course_id": course.id,
        "credit_hours": str(course.credit_hours),
    }


def award_lesson(progress) -> CreditEntry | None:
    lesson = progress.lesson
    return award(progress.user, source_type="lesson", source_id=lesson.id, evidence=lesson_evidence(progress, lesson),
                 earned_at=progress.completed_at, title=lesson.title, course_id=lesson.course_id)


def award_course(enrollment) -> CreditEntry | None:
    course = enrollment.course
    return award(enrollment.user, source_type="course", source_id=course.id,
                 evidence=course_evidence(enrollment, course), earned_at=enrollment.completed_at,
                 title=course.title, course_id=course.id)


# --- recompute -------------------------------------------------------------------------------------
def _year_bounds(year: int) -> tuple[datetime, datetime]:
    start = datetime(year, 1, 1, tzinfo=_TZ).astimezone(UTC).replace(tzinfo=None)
    end = datetime(year + 1, 1, 1, tzinfo=_TZ).astimezone(UTC).replace(tzinfo=None)
    return start, end


def recompute(org_unit_id: int | None, year: int) -> dict:
    """Re-price the year's entries of a subtree (all units when None) under the rules now in force.

    Entries priced by a rule get their hours, rule id and version from the current rule; course and
    lesson entries are rebuilt from the completions when a rule changed kind (course_fixed ⇄ per
    lesson). The evidence — progress rows, statements and each entry's evidence — is never changed.
    """
    from lms.accounts.models import User
    from lms.courses.models import Course, Enrollment, Lesson, LessonProgress
    from lms.org.services import subtree_ids

    units = subtree_ids(org_unit_id) if org_unit_id is not None else None
    stats = {"updated": 0, "created": 0, "removed": 0, "unchanged": 0}
    q = select(CreditEntry).where(CreditEntry.year == year)
    if units is not None:
        q = q.where(CreditEntry.org_unit_id.in_(units))
    entries = list(db.session.scalars(q))
    rules: dict[tuple, EffectiveRule] = {}

    def rule(unit_id, scope):
        key = (unit_id, scope)
        if key not in rules:
            rules[key] = rule_for(unit_id, year, scope)
        return rules[key]

    # 1. Re-price what is there.
    for e in entries:
        r = rule(e.org_unit_id, "offline" if e.source_type in OFFLINE_SOURCES else "online")
        if e.hours_fixed:
            continue
        new = price(r, e.source_type, e.evidence or {})
        if e.source_type in DERIVED_SOURCES and new == 0:
            db.session.delete(e)
            stats["removed"] += 1
            continue
        if new != _q(e.hours) or e.rule_id != r.id or e.rule_version != r.version:
            e.hours, e.rule_id, e.rule_version, e.rule_kind = new, r.id, r.version, r.kind
            stats["updated"] += 1
        else:
            stats["unchanged"] += 1
    db.session.flush()

    # 2. Completions of the year that the current rule prices but that have no entry yet.
    start, end = _year_bounds(year)
    people_q = select(User)
    if units is not None:
        with_entries = select(CreditEntry.user_id).where(CreditEntry.year == year,
                                                         CreditEntry.org_unit_id.in_(units))
        people_q = people_q.where(User.org_unit_id.in_(units) | User.id.in_(with_entries))
    for person in db.session.scalars(people_q):
        unit_id = db.session.scalar(
            select(CreditEntry.org_unit_id).where(CreditEntry.user_id == person.id, CreditEntry.year == year,
                                                  CreditEntry.source_type.in_(DERIVED_SOURCES)).limit(1)
        ) or person.org_unit_id
        if units is not None and unit_id not in units:
            continue
        r = rule(unit_id, "online")
        if r.kind == "course_fixed":
            rows = db.session.execute(
                select(Enrollment, Course).join(Course, Course.id == Enrollment.course_id).where(
                    Enrollment.user_id == person.id, Enrollment.completed_at >= start, Enrollment.completed_at < end)
            ).all()
            for enr, course in rows:
                if _entry(person.id, "course", course.id) is None:
                    stats["created"] += _create_derived(person, unit_id, year, r, "course", course.id,
                                                        course_evidence(enr, course), enr.completed_at,
                                                        course.title, course.id)
        else:
            rows = db.session.execute(
                select(LessonProgress, Lesson).join(Lesson, Lesson.id == LessonProgress.lesson_id).where(
                    LessonProgress.user_id == person.id, LessonProgress.status == "completed",
                    LessonProgress.completed_at >= start, LessonProgress.completed_at < end)
            ).all()
            for prog, lesson in rows:
                if _entry(person.id, "lesson", lesson.id) is None:
                    stats["created"] += _create_derived(person, unit_id, year, r, "lesson", lesson.id,
                                                        lesson_evidence(prog, lesson), prog.completed_at,
                                                        lesson.title, lesson.course_id)
    db.session.flush()
    log.info("credits recompute unit=%s year=%s %s", org_unit_id, year, stats)
    return stats


def _create_derived(person, unit_id, year, r: EffectiveRule, source_type, source_id, evidence, earned_at,
                    title, course_id) -> int:
    hours = price(r, source_type, evidence)
    if hours == 0:
        return 0
    db.session.add(CreditEntry(
        user_id=person.id, year=year, org_unit_id=unit_id, source_type=source_type, source_id=str(source_id),
        course_id=course_id, title=(title or "")[:200], hours=hours, hours_fixed=False, rule_id=r.id,
        rule_version=r.version, rule_kind=r.kind, evidence=evidence, earned_at=earned_at or utcnow(),
    ))
    return 1


# --- transfer (组织关系转接) ------------------------------------------------------------------------
def transfer(user, old_unit, new_unit, *, year: int | None = None) -> int:
    """Move this year's entries with the person to the new branch; earlier years stay where earned."""
    year = year or local_year()
    new_id = getattr(new_unit, "id", new_unit)
    rows = list(db.session.scalars(select(CreditEntry).where(CreditEntry.user_id == user.id,
                                                             CreditEntry.year == year)))
    for e in rows:
        e.org_unit_id = new_id
    db.session.flush()
    return len(rows)


# --- requirements ----------------------------------------------------------------------------------
@dataclass
class Requirement:
    category: str
    base: Decimal
    hours: Decimal
    exemption: CreditExemption | None = None
    source: str = "config"  # config | unit
    unit_id: int | None = None

    @property
    def category_label(self) -> str:
        return REQUIREMENT_CATEGORIES.get(self.category, self.category)


def requirement_category(user) -> str:
    """Branch secretaries and committee members (支委委员) owe the higher yearly requirement."""
    names = {r.role for r in user.roles}
    return "secretary" if names & {"secretary", "committee_member"} else "member"


def _config_requirement(category: str) -> Decimal:
    key = "SECRETARY_YEARLY_REQUIREMENT" if category == "secretary" else "DEFAULT_YEARLY_REQUIREMENT"
    return _q(current_app.config[key])


def requirement_override(org_unit_id: int | None, year: int, category: str) -> CreditRequirement | None:
    if org_unit_id is None:
        return None
    return db.session.scalar(
        select(CreditRequirement)
        .join(OrgUnitClosure, OrgUnitClosure.ancestor_id == CreditRequirement.org_unit_id)
        .where(OrgUnitClosure.descendant_id == org_unit_id, CreditRequirement.year == year,
               CreditRequirement.category == category)
        .order_by(OrgUnitClosure.depth)
        .limit(1)
    )


def requirement_for(user, year: int) -> Requirement:
    category = requirement_category(user)
    override = requirement_override(user.org_unit_id, year, category)
    if override is not None:
        req = Requirement(category, _q(override.hours), _q(override.hours), source="unit",
                          unit_id=override.org_unit_id)
    else:
        base = _config_requirement(category)
        req = Requirement(category, base, base)
    ex = db.session.scalar(select(CreditExemption).where(CreditExemption.user_id == user.id,
                                                         CreditExemption.year == year))
    if ex is not None:
        req.exemption = ex
        req.hours = min(req.base, _q(ex.reduced_hours))
    return req


def set_requirement(org_unit_id: int, year: int, category: str, hours, *, user=None) -> CreditRequirement:
    from lms import audit

    if category not in REQUIREMENT_CATEGORIES:
        raise CreditError(_("未知的人员类别。"))
    value = _q(hours)
    if value < 0 or value > 500:
        raise CreditError(_("年度学时要求须在 0 到 500 之间。"))
    row = db.session.scalar(select(CreditRequirement).where(
        CreditRequirement.org_unit_id == org_unit_id, CreditRequirement.year == year,
        CreditRequirement.category == category))
    old = None if row is None else str(row.hours)
    if row is None:
        row = CreditRequirement(org_unit_id=org_unit_id, year=year, category=category, hours=value)
        db.session.add(row)
    row.hours = value
    row.updated_by_id = getattr(user, "id", None)
    db.session.flush()
    audit.log("credits.requirement_set", row, actor=user,
              details={"unit": org_unit_id, "year": year, "category": category, "old": old, "new": str(value)})
    return row


def remove_requirement(row: CreditRequirement, *, user=None) -> None:
    from lms import audit

    audit.log("credits.requirement_remove", row, actor=user,
              details={"unit": row.org_unit_id, "year": row.year, "category": row.category, "hours": str(row.hours)})
    db.session.delete(row)
    db.session.flush()


def record_exemption(person, year: int, reason: str, reduced_hours, *, user=None) -> CreditExemption:
    """Record (or replace) a person's reduced requirement for a year; audited."""
    from lms import audit

    reason = (reason or "").strip()
    if not reason:
        raise CreditError(_("请填写减免原因。"))
    value = _q(reduced_hours)
    if value < 0:
        raise CreditError(_("减免后的学时要求不能为负数。"))
    base = requirement_for(person, year).base
    if value > base:
        raise CreditError(_("减免后的学时要求不能高于原要求（%(hours)s 学时）。", hours=base))
    row = db.session.scalar(select(CreditExemption).where(CreditExemption.user_id == person.id,
                                                          CreditExemption.year == year))
    if row is None:
        row = CreditExemption(user_id=person.id, year=year, reason=reason, reduced_hours=value)
        db.session.add(row)
    row.reason, row.reduced_hours, row.recorded_by_id = reason[:2000], value, getattr(user, "id", None)
    db.session.flush()
    audit.log("credits.exemption", row, actor=user,
              details={"person": person.id, "year": year, "reduced_hours": str(value)})
    return row


def remove_exemption(row: CreditExemption, *, user=None) -> None:
    from lms import audit

    audit.log("credits.exemption_remove", row, actor=user, details={"person": row.user_id, "year": row.year})
    db.session.delete(row)
    db.session.flush()


# --- what a person sees ------------------------------------------------------------------------------
SOURCE_GROUPS = {
    "video": "视频学习",
    "reading": "阅读学习",
    "quiz": "测验",
    "course": "课程学习",
    "training": "培训",
    "branch_life": "支部学习",
    "in_person": "线下学习",
    "other": "其他在线学习",
}


def source_group(entry: CreditEntry) -> str:
    if entry.source_type == "lesson":
        t = (entry.evidence or {}).get("lesson_type")
        if t == "video":
            return "video"
        if t in ("article", "document"):
            return "reading"
        if t in TEST_LESSON_TYPES:
            return "quiz"
        return "other"
    return entry.source_type if entry.source_type in SOURCE_GROUPS else "other"


@dataclass
class Summary:
    year: int
    total: Decimal
    requirement: Requirement
    entries: list[CreditEntry]
    by_course: list[dict] = field(default_factory=list)
    by_source: list[dict] = field(default_factory=list)

    @property
    def share(self) -> float:
        if self.requirement.hours <= 0:
            return 1.0
        return min(1.0, float(self.total) / float(self.requirement.hours))

    @property
    def remaining(self) -> Decimal:
        return max(_q(0), self.requirement.hours - self.total)

    @property
    def met(self) -> bool:
        return self.total >= self.requirement.hours


def total_hours(user_id: int, year: int) -> Decimal:
    value = db.session.scalar(select(func.coalesce(func.sum(CreditEntry.hours), 0)).where(
        CreditEntry.user_id == user_id, CreditEntry.year == year))
    return _q(value or 0)


def totals_for(user_ids: list[int], year: int) -> dict[int, Decimal]:
    """Each person's hours in a year (one grouped query)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(CreditEntry.user_id, func.sum(CreditEntry.hours))
        .where(CreditEntry.user_id.in_(user_ids), CreditEntry.year == year)
        .group_by(CreditEntry.user_id)
    ).all()
    return {uid: _q(total or 0) for uid, total in rows}


def summary(user, year: int) -> Summary:
    from lms.courses.models import Course

    entries = list(db.session.scalars(
        select(CreditEntry).where(CreditEntry.user_id == user.id, CreditEntry.year == year)
        .order_by(CreditEntry.earned_at.desc(), CreditEntry.id.desc())))
    total = _q(sum((Decimal(e.hours) for e in entries), Decimal(0)))
    courses: dict[int | None, dict] = {}
    sources: dict[str, dict] = {}
    course_ids = {e.course_id for e in entries if e.course_id}
    titles = {}
    if course_ids:
        titles = dict(db.session.execute(select(Course.id, Course.title).where(Course.id.in_(course_ids))).all())
    for e in entries:
        key = e.course_id
        c = courses.setdefault(key, {"course_id": key, "title": titles.get(key) or e.title if key else None,
                                     "hours": Decimal(0), "count": 0})
        c["hours"] += Decimal(e.hours)
        c["count"] += 1
        g = source_group(e)
        s = sources.setdefault(g, {"group": g, "label": SOURCE_GROUPS[g], "hours": Decimal(0), "count": 0})
        s["hours"] += Decimal(e.hours)
        s["count"] += 1
    by_course = sorted(courses.values(), key=lambda c: (c["course_id"] is None, -c["hours"]))
    by_source = sorted(sources.values(), key=lambda s: -s["hours"])
    return Summary(year=year, total=total, requirement=requirement_for(user, year), entries=entries,
                   by_course=by_course, by_source=by_source)


def all_kinds() -> dict:
    return dict(RULE_KINDS)


__all__ = [
    "ONLINE_KINDS", "OFFLINE_KINDS", "CreditError", "EffectiveRule", "award", "record_in_person", "recompute",
    "rule_for", "save_rule", "requirement_for", "record_exemption", "set_requirement", "summary", "transfer",
    "local_year", "price",
]
