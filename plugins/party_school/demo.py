"""Demo content of 党员e家: the year's required-course assignment, a pushed material, a training and a
主题党日 with check-ins (idempotent: each is looked up by its title first)."""
from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy import select

from lms.credits.services import local_year
from lms.extensions import db
from lms.timeutil import utcnow
from plugins.party_school import services
from plugins.party_school.models import Assignment, Material, Session

log = logging.getLogger(__name__)

MATERIAL_TEXT = """党的二十届三中全会是在以中国式现代化全面推进强国建设、民族复兴伟业的关键时期召开的一次十分重要的会议。

全会审议通过的《中共中央关于进一步全面深化改革、推进中国式现代化的决定》，科学谋划了围绕中国式现代化进一步全面深化改革的总体部署，是指导新征程上进一步全面深化改革的纲领性文件。

学习要求：各党支部要把学习贯彻全会精神作为当前和今后一个时期的重要政治任务，结合“三会一课”、主题党日等组织生活，组织党员原原本本学、联系实际学，做到学思用贯通、知信行统一。

请每位党员认真阅读全文，读完后在支部学习讨论中交流一条学习体会。"""


def load(demo) -> None:
    year = local_year()
    root = demo.units["university"]
    admin = demo.users["org_admin"]
    title = f"{year}年度党员集中学习 — 32学时"
    if db.session.scalar(select(Assignment.id).where(Assignment.title == title)) is None:
        courses = [demo.courses[k] for k in ("theory", "history", "policy") if demo.courses[k].is_published]
        if courses:
            services.create_assignment(admin, title=title, unit=root, courses=courses, starts_on=date(year, 1, 1),
                                       due_on=date(year, 12, 31), categories=["full", "probationary"],
                                       description="全体正式党员、预备党员按期完成必修课程学习，全年累计不少于 32 学时。")
            demo.count("party_school_assignments")

    m_title = "学习资料：深入学习贯彻党的二十届三中全会精神"
    if db.session.scalar(select(Material.id).where(Material.title == m_title)) is None:
        services.create_material(admin, title=m_title, unit=root, body=MATERIAL_TEXT, required_minutes=1)
        demo.count("party_school_materials")

    now = utcnow()
    t_title = f"{year}年度基层党务干部专题培训班"
    if db.session.scalar(select(Session.id).where(Session.title == t_title)) is None:
        start = (now + timedelta(days=7)).replace(hour=1, minute=0, second=0, microsecond=0)  # 09:00 Beijing
        services.create_session(admin, kind="training", subtype="training", title=t_title, unit=root,
                                starts_at=start, ends_at=start + timedelta(hours=7), duration_kind="hours", hours=4,
                                location="行政楼第一会议室", capacity=80, signup_required=True,
                                description="内容：发展党员工作规程、党费收缴使用管理、“三会一课”规范记录。")
        demo.count("party_school_sessions")

    branch = demo.units["cs_undergrad"]
    secretary = demo.users["secretary:cs_undergrad"]
    d_title = f"{now.month}月主题党日：重温入党誓词"
    if db.session.scalar(select(Session.id).where(Session.title == d_title,
                                                  Session.org_unit_id == branch.id)) is None:
        start = now - timedelta(minutes=20)
        s = services.create_session(secretary, kind="branch_life", subtype="theme_day", title=d_title, unit=branch,
                                    starts_at=start, ends_at=start + timedelta(hours=3), duration_kind="half_day",
                                    hours=0, location="计算机学院党员活动室",
                                    description="重温入党誓词，交流学习二十届三中全会精神的体会。")
        for person in (demo.users["member"], secretary):
            services.check_in(person, s, code=s.checkin_code)
        demo.count("party_school_sessions")
