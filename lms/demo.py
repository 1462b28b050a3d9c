"""`flask lms demo`: a realistic demo university (org tree, ~60 people, courses) for trying the product.

The core creates the organization, the people and the courses with their chapters; the enabled plugins
add lesson content through the `lms_load_demo_data(demo)` hook, inside the same transaction. Seeding is
idempotent: everything is looked up by its natural key first, so a second run changes nothing.
"""
from __future__ import annotations

import logging
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from lms import audit
from lms.accounts.models import RoleAssignment, User
from lms.cli import lms_group
from lms.courses.models import Chapter, Course, Enrollment, Lesson
from lms.extensions import db
from lms.org.models import OrgUnit
from lms.org.services import create_unit
from lms.timeutil import utcnow

log = logging.getLogger(__name__)

# One password for every demo account (listed in the README); it satisfies the 等保 password profile.
DEMO_PASSWORD = "Dangxiao@2026"  # noqa: S105  (demo only; seeding refuses to run in production)

# key, name, kind, parent key
UNITS = [
    ("university", "某某大学党委", "committee", None),
    ("marx", "马克思主义学院党委", "college_committee", "university"),
    ("cs", "计算机学院党委", "college_committee", "university"),
    ("admin_office", "机关党委", "college_committee", "university"),
    ("marx_staff", "马克思主义学院教工党支部", "branch", "marx"),
    ("marx_grad", "马克思主义学院研究生党支部", "branch", "marx"),
    ("cs_staff", "计算机学院教工第一党支部", "branch", "cs"),
    ("cs_undergrad", "计算机学院本科生党支部", "branch", "cs"),
    ("cs_grad", "计算机学院研究生党支部", "branch", "cs"),
    ("office_1", "机关第一党支部", "branch", "admin_office"),
    ("office_2", "机关第二党支部", "branch", "admin_office"),
    ("retired", "离退休教职工第一党支部", "branch", "admin_office"),
]
# What kind of people each branch has, and how many generated members it gets.
BRANCHES = {
    "marx_staff": ("staff", 5),
    "marx_grad": ("student", 6),
    "cs_staff": ("staff", 4),
    "cs_undergrad": ("undergrad", 9),
    "cs_grad": ("student", 6),
    "office_1": ("staff", 4),
    "office_2": ("staff", 3),
    "retired": ("retired", 6),
}


@dataclass(frozen=True)
class Account:
    """A demo account with a known login id (the rest of the people are generated)."""

    key: str
    login_id: str
    name: str
    unit: str
    roles: tuple[tuple[str, str | None], ...] = ()  # (role, unit key or None)
    category: str = "full"
    joined_on: date | None = date(2008, 6, 30)
    must_change_password: bool = False
    label: str = ""  # what the account demonstrates, for the logins table


ACCOUNTS = [
    Account("sysadmin", "sysadmin", "何建国", "office_1", (("sysadmin", None),), joined_on=date(2004, 7, 1),
            label="系统管理员"),
    Account("auditor", "auditor", "罗静", "office_1", (("auditor", None),), joined_on=date(2011, 6, 28),
            label="审计管理员"),
    Account("org_admin", "orgadmin", "吴建华", "office_2", (("org_admin", "university"),),
            joined_on=date(1999, 7, 1), label="组织管理员（全校）"),
    Account("reviewer", "reviewer", "郑晓燕", "office_2", (("reviewer", "university"),),
            joined_on=date(2009, 12, 20), label="审核员"),
    Account("teacher1", "teacher1", "陈思远", "marx_staff", (("teacher", None),), joined_on=date(2001, 6, 30),
            label="教师（马克思主义学院）"),
    Account("teacher2", "teacher2", "林晓梅", "marx_staff", (("teacher", None),), joined_on=date(2012, 5, 4),
            label="教师（马克思主义学院）"),
    Account("teacher3", "teacher3", "黄志强", "cs_staff", (("teacher", None),), joined_on=date(2006, 11, 8),
            label="教师（计算机学院）"),
    Account("member", "member", "李明", "cs_undergrad", category="full", joined_on=date(2024, 11, 20),
            label="党员/学员"),
    Account("first_login", "newmember", "王小雨", "cs_undergrad", category="probationary",
            joined_on=None, must_change_password=True, label="党员/学员（演示首次登录改密）"),
]
# One secretary per branch: (branch key, login id, name, joined on)
SECRETARIES = [
    ("marx_staff", "shuji01", "张卫东", date(1998, 7, 1)),
    ("marx_grad", "shuji02", "刘佳琪", date(2019, 6, 12)),
    ("cs_staff", "shuji03", "杨海涛", date(2003, 12, 26)),
    ("cs_undergrad", "shuji04", "赵子涵", date(2021, 5, 18)),
    ("cs_grad", "shuji05", "孙浩然", date(2020, 11, 3)),
    ("office_1", "shuji06", "周丽华", date(2002, 7, 1)),
    ("office_2", "shuji07", "徐国平", date(1996, 6, 30)),
    ("retired", "shuji08", "高德明", date(1978, 7, 1)),
]

# Teachers by course; courses by key. Chapters are created by the core, lessons by the plugins.
COURSES = [
    {
        "key": "theory",
        "title": "习近平新时代中国特色社会主义思想专题学习",
        "category": "theory",
        "owner": "marx",
        "teachers": ("teacher1",),
        "credit_hours": "4",
        "audience": "全体党员、发展对象、入党积极分子",
        "summary": "系统学习习近平新时代中国特色社会主义思想的核心要义、精神实质、丰富内涵和实践要求，"
                   "做到学思用贯通、知信行统一。",
        "status": "published",
        "chapters": ["第一讲 新时代坚持和发展中国特色社会主义", "第二讲 以中国式现代化全面推进中华民族伟大复兴",
                     "第三讲 全面从严治党永远在路上"],
    },
    {
        "key": "policy",
        "title": "2026年秋季学期形势与政策",
        "category": "policy",
        "owner": "marx",
        "teachers": ("teacher2",),
        "credit_hours": "2",
        "audience": "全体学生党员、入党积极分子",
        "summary": "围绕国内经济形势、高质量发展和国际形势与中国外交等专题，帮助党员正确认识世情国情党情。",
        "status": "published",
        "chapters": ["专题一 国内经济形势与高质量发展", "专题二 国际形势与中国外交"],
    },
    {
        "key": "history",
        "title": "党史学习教育专题：百年奋斗的光辉历程",
        "category": "history",
        "owner": "university",
        "teachers": ("teacher1", "teacher2"),
        "credit_hours": "6",
        "audience": "全体党员",
        "summary": "学党史、悟思想、办实事、开新局：从建党到新时代，回顾党团结带领人民进行的伟大奋斗。",
        "status": "published",
        "chapters": ["第一章 开天辟地：中国共产党的创建", "第二章 改天换地：新中国的成立与社会主义建设",
                     "第三章 翻天覆地：改革开放和社会主义现代化建设", "第四章 惊天动地：新时代的伟大变革"],
    },
    {
        "key": "party_work",
        "title": "党务工作实务（建设中）",
        "category": "practice",
        "owner": "cs",
        "teachers": ("teacher3",),
        "credit_hours": "2",
        "audience": "支部书记、支部委员",
        "summary": "发展党员工作流程、“三会一课”的组织与记录、党费收缴等支部日常工作的规范做法。",
        "status": "draft",
        "chapters": ["第一讲 发展党员工作流程", "第二讲 “三会一课”的组织与记录"],
    },
]

_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁"
             "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万严武戴孔汤")
# Given names by generation, so that a retired cadre is not called 子轩 and a student not 建国.
_GIVEN_OLDER = "秀英 桂英 建国 国庆 建军 红梅 玉兰 德华 淑珍 卫国 春生 立新 永红 建平 志明 秀兰 丽娟 海燕".split()
_GIVEN_ANY = "伟 芳 娜 敏 静 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 志远 文博 晓东 海涛 丽华".split()
_GIVEN_YOUNG = ("子轩 雨涵 梓涵 思彤 浩宇 一诺 欣怡 宇航 俊杰 佳怡 嘉豪 晨曦 若溪 泽宇 诗雨 明轩 雅琪 天宇 可馨 "
                "博文 婉清 梓萱 宇轩 子墨").split()
_GIVEN = {"retired": _GIVEN_OLDER, "staff": _GIVEN_OLDER + _GIVEN_ANY * 2,
          "student": _GIVEN_ANY + _GIVEN_YOUNG * 2, "undergrad": _GIVEN_YOUNG * 2 + _GIVEN_ANY}


@dataclass
class DemoData:
    """What `lms_load_demo_data(demo)` receives. Dicts are by key (see ACCOUNTS, UNITS, COURSES).

    `users` holds every demo person: the named accounts by their key ("sysadmin", "member",
    "secretary:cs_undergrad" …) and the generated members by login id; `members` lists the people who
    learn (generated members, secretaries and the two member accounts). `lesson()` creates a lesson in
    a course chapter once and returns it with `created=True` only the first time. `after_commit(fn)`
    runs `fn()` once the demo is committed (e.g. to hand a queue task rows it must be able to read);
    `note(text)` adds a line that `flask lms demo` prints (e.g. why a part was skipped).
    """

    units: dict[str, OrgUnit] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    teachers: dict[str, User] = field(default_factory=dict)
    courses: dict[str, Course] = field(default_factory=dict)
    chapters: dict[str, list[Chapter]] = field(default_factory=dict)
    members: list[User] = field(default_factory=list)
    password: str = DEMO_PASSWORD
    created: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    on_commit: list = field(default_factory=list)

    def count(self, what: str, n: int = 1) -> None:
        self.created[what] = self.created.get(what, 0) + n

    def note(self, text: str) -> None:
        self.notes.append(text)

    def after_commit(self, fn) -> None:
        self.on_commit.append(fn)

    def lesson(self, course_key: str, chapter_no: int, title: str, type: str, **fields) -> tuple[Lesson, bool]:
        """The lesson `title` of a course (found by title), created in chapter `chapter_no` (1-based)."""
        course = self.courses[course_key]
        found = db.session.scalar(select(Lesson).where(Lesson.course_id == course.id, Lesson.title == title))
        if found is not None:
            return found, False
        chapter = self.chapters[course_key][chapter_no - 1] if chapter_no else None
        position = db.session.scalar(
            select(func.coalesce(func.max(Lesson.position), 0)).where(Lesson.course_id == course.id)
        ) + 1
        lesson = Lesson(course_id=course.id, chapter_id=chapter.id if chapter else None, title=title, type=type,
                        position=position, **fields)
        db.session.add(lesson)
        db.session.flush()
        self.count("lessons")
        return lesson, True


class DemoRefused(click.ClickException):
    pass


def _unit(demo: DemoData, key: str, name: str, kind: str, parent_key: str | None, order: int) -> OrgUnit:
    parent = demo.units[parent_key] if parent_key else None
    q = select(OrgUnit).where(OrgUnit.name == name)
    q = q.where(OrgUnit.parent_id == parent.id) if parent else q.where(OrgUnit.parent_id.is_(None))
    unit = db.session.scalar(q)
    if unit is None:
        unit = create_unit(name, kind, parent, sort_order=order)
        demo.count("units")
    demo.units[key] = unit
    return unit


def _person(demo: DemoData, login_id: str, name: str, unit_key: str, *, category: str = "full",
            joined_on: date | None = None, must_change: bool = False, roles=()) -> User:
    from lms.auth.services import hash_password

    user = db.session.scalar(select(User).where(User.login_id == login_id))
    if user is None:
        user = User(login_id=login_id, name=name, org_unit_id=demo.units[unit_key].id, category=category,
                    joined_on=joined_on, password_hash=hash_password(DEMO_PASSWORD),
                    must_change_password=must_change, password_changed_at=utcnow())
        db.session.add(user)
        db.session.flush()
        from lms.accounts.privacy import record_basis

        record_basis(user, source="demo")  # as the organization would when entering the person (PI-02)
        demo.count("users")
    for role, role_unit in roles:
        unit_id = demo.units[role_unit].id if role_unit else None
        exists = db.session.scalar(
            select(RoleAssignment.id).where(RoleAssignment.user_id == user.id, RoleAssignment.role == role,
                                            RoleAssignment.org_unit_id.is_(None) if unit_id is None
                                            else RoleAssignment.org_unit_id == unit_id)
        )
        if exists is None:
            db.session.add(RoleAssignment(user_id=user.id, role=role, org_unit_id=unit_id))
            db.session.flush()
            demo.count("roles")
    return user


def _days_ago(rng: random.Random, low: int, high: int) -> date:
    """A date between `high` and `low` days before today (probationary members joined within the year)."""
    return date.today() - timedelta(days=rng.randint(low, high))


def _generated_people(rng: random.Random):
    """(branch key, login id, name, category, joined on) for the generated members, always the same."""
    used: set[str] = {a.name for a in ACCOUNTS} | {s[2] for s in SECRETARIES}
    staff_no = 100200
    student_no = {"marx_grad": 2024010300, "cs_undergrad": 2023040100, "cs_grad": 2024040500}
    for branch, (kind, count) in BRANCHES.items():
        for _ in range(count):
            while True:
                name = rng.choice(_SURNAMES) + rng.choice(_GIVEN[kind])
                if name not in used:
                    used.add(name)
                    break
            if kind in ("staff", "retired"):
                staff_no += rng.randint(3, 40)
                login_id = f"{staff_no:06d}" if kind == "staff" else f"0{staff_no % 100000:05d}"
                if kind == "retired":
                    joined = date(rng.randint(1972, 1992), rng.choice((1, 6, 7, 12)), rng.randint(1, 28))
                    category = "full"
                else:
                    category = rng.choices(("full", "probationary"), weights=(9, 1))[0]
                    joined = (date(rng.randint(1996, 2021), rng.randint(1, 12), rng.randint(1, 28))
                              if category == "full" else _days_ago(rng, 30, 330))
            else:
                student_no[branch] += rng.randint(1, 9)
                login_id = str(student_no[branch])
                weights = (4, 2, 2, 3) if kind == "undergrad" else (6, 2, 1, 1)
                category = rng.choices(("full", "probationary", "candidate", "activist"), weights=weights)[0]
                if category == "full":  # undergraduates join at university; graduates may have joined before
                    joined = _days_ago(rng, 400, 1000 if kind == "undergrad" else 2500)
                elif category == "probationary":  # 预备期 is one year
                    joined = _days_ago(rng, 30, 330)
                else:
                    joined = None  # not (yet) admitted: no date of joining the party
            yield branch, login_id, name, category, joined


def _course(demo: DemoData, spec: dict, creator: User) -> Course:
    from decimal import Decimal

    course = db.session.scalar(select(Course).where(Course.title == spec["title"]))
    if course is None:
        course = Course(title=spec["title"], summary=spec["summary"], category=spec["category"],
                        audience=spec["audience"], credit_hours=Decimal(spec["credit_hours"]),
                        status=spec["status"], owner_unit_id=demo.units[spec["owner"]].id,
                        created_by_id=creator.id,
                        published_at=utcnow() if spec["status"] == "published" else None)
        db.session.add(course)
        db.session.flush()
        demo.count("courses")
    for key in spec["teachers"]:
        teacher = demo.teachers[key]
        if teacher not in course.teachers:
            course.teachers.append(teacher)
    chapters = []
    for i, title in enumerate(spec["chapters"], start=1):
        ch = db.session.scalar(select(Chapter).where(Chapter.course_id == course.id, Chapter.title == title))
        if ch is None:
            ch = Chapter(course_id=course.id, title=title, position=i)
            db.session.add(ch)
            demo.count("chapters")
        chapters.append(ch)
    db.session.flush()
    demo.courses[spec["key"]] = course
    demo.chapters[spec["key"]] = chapters
    return course


def _learning(demo: DemoData, rng: random.Random) -> None:
    """Enrol members in the published courses and complete some lessons, once per enrolment."""
    from lms.courses import lesson_types
    from lms.courses.services import enroll, update_progress

    types = lesson_types.registry()
    plan = [("theory", 0.8), ("history", 0.6), ("policy", 0.5)]
    for person in demo.members:
        if person.must_change_password:
            continue  # the first-login account starts with nothing
        for course_key, share in plan:
            course = demo.courses[course_key]
            # Draw both numbers every time, so a second run meets the same sequence and skips the same way.
            joins, depth = rng.random(), rng.random()
            if person.login_id != "member" and joins > share:
                continue
            if db.session.scalar(select(Enrollment.id).where(Enrollment.user_id == person.id,
                                                             Enrollment.course_id == course.id)):
                continue
            enroll(person, course, source="self")
            demo.count("enrollments")
            lessons = [ls for ls in course.lessons if ls.status == "published" and ls.type in types]
            if not lessons:
                continue
            done = len(lessons) // 2 if person.login_id == "member" else int(depth * (len(lessons) + 1))
            for ls in lessons[:done]:
                update_progress(person, ls, add_seconds=ls.duration_seconds or 600, complete=True)
                demo.count("completions")


def seed_demo() -> DemoData:
    """Create (or complete) the demo data and commit; refuses in production."""
    if current_app.config.get("ENV") == "production":
        raise DemoRefused("LMS_ENV=production：演示数据只能在开发或测试环境中加载 / refusing to load demo data "
                          "in production")
    from lms.plugins import hook

    demo = DemoData()
    rng = random.Random(2026)  # noqa: S311  (demo data: the same people every time, so a second run finds them all)
    try:
        for order, (key, name, kind, parent) in enumerate(UNITS):
            _unit(demo, key, name, kind, parent, order)
        for acc in ACCOUNTS:
            joined = acc.joined_on or date.today() - timedelta(days=120)  # a recent probationary member
            user = _person(demo, acc.login_id, acc.name, acc.unit, category=acc.category, joined_on=joined,
                           must_change=acc.must_change_password, roles=acc.roles)
            demo.users[acc.key] = user
            if any(r == "teacher" for r, _ in acc.roles):
                demo.teachers[acc.key] = user
        for branch, login_id, name, joined in SECRETARIES:
            sec = _person(demo, login_id, name, branch, joined_on=joined, roles=(("secretary", branch),))
            demo.users[f"secretary:{branch}"] = sec
            demo.members.append(sec)
        for branch, login_id, name, category, joined in _generated_people(rng):
            person = _person(demo, login_id, name, branch, category=category, joined_on=joined)
            demo.users[login_id] = person
            demo.members.append(person)
        demo.members += [demo.users["member"], demo.users["first_login"]]
        for spec in COURSES:
            _course(demo, spec, demo.teachers[spec["teachers"][0]])

        hook().lms_load_demo_data(demo=demo)
        db.session.flush()
        _learning(demo, rng)
        if demo.created:
            audit.log("demo.seed", details={k: v for k, v in sorted(demo.created.items())}, note="flask lms demo")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    log.info("demo data: %s", demo.created or "already complete")
    for fn in demo.on_commit:
        try:
            fn()
        except Exception as exc:  # the data is committed; a queue that cannot be reached is only reported
            log.exception("demo: a follow-up step failed")
            demo.note(f"后续步骤失败 / a follow-up step failed: {exc}")
    return demo


def demo_logins() -> list[tuple[str, str, str, str]]:
    """(role, login id, name, note) of the demo accounts present in the database, in a useful order."""
    rows = []
    totp_roles = set(current_app.config.get("TOTP_REQUIRED_ROLES") or [])
    unit_names = {key: name for key, name, _, _ in UNITS}
    wanted = [(a.label, a.login_id) for a in ACCOUNTS if a.key not in ("member", "first_login")]
    wanted += [(f"支部书记（{unit_names[b]}）", login_id) for b, login_id, _, _ in SECRETARIES[3:5]]
    wanted += [(a.label, a.login_id) for a in ACCOUNTS if a.key in ("member", "first_login")]
    for label, login_id in wanted:
        user = db.session.scalar(select(User).where(User.login_id == login_id))
        if user is None:
            continue
        notes = []
        if user.role_names & totp_roles:
            notes.append("首次登录须绑定动态口令（TOTP）")
        if user.must_change_password:
            notes.append("首次登录须修改密码")
        rows.append((label, login_id, user.name, "；".join(notes)))
    return rows


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def format_logins(rows) -> str:
    head = ("角色", "登录名", "姓名", "说明")
    widths = [max(_width(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = ["  " + "  ".join(_pad(c, widths[i]) for i, c in enumerate(row)).rstrip() for row in [head, *rows]]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@lms_group.command("demo")
@click.option("--logins", is_flag=True, help="Only print the demo logins and their password.")
@click.option("--if-empty", is_flag=True, help="Seed only when the database has no people yet (used by make run).")
@with_appcontext
def demo_command(logins: bool, if_empty: bool):
    """加载演示数据（某某大学党委、约60名党员、课程）/ Load the demo university."""
    if logins:
        rows = demo_logins()
        if not rows:
            click.echo("尚未加载演示数据（运行 flask lms demo）/ no demo data loaded yet")
            return
        click.echo("演示账号 / demo logins:\n")
        click.echo(format_logins(rows))
        click.echo(f"\n  所有演示账号的密码 / password of every demo account:  {DEMO_PASSWORD}")
        click.echo("  系统管理员、组织管理员、审计管理员首次登录时须用手机验证器绑定动态口令（TOTP）。")
        click.echo("  其余党员和支部书记（shuji01…shuji08）的登录名见“管理 → 人员管理”页面，密码相同。")
        return
    if if_empty and db.session.scalar(select(func.count(User.id))):
        click.echo("数据库中已有人员，跳过演示数据 / the database already has people: demo data skipped")
        return
    demo = seed_demo()
    if demo.created:
        summary = "、".join(f"{k} {v}" for k, v in sorted(demo.created.items()))
        click.echo(f"演示数据已加载 / demo data loaded: {summary}")
    else:
        click.echo("演示数据已是完整的，未作改动 / demo data already complete: nothing changed")
    for text in demo.notes:
        click.echo(f"  {text}")
