"""Demo content of the discussion plugin: a starter word list, a lively course thread with a teacher's
official answer, and one held post so the moderation queue has something to show (idempotent)."""
from __future__ import annotations

import logging

from sqlalchemy import func, select

from lms.extensions import db
from plugins.discussion import services
from plugins.discussion.models import DiscussionThread, DiscussionWord

log = logging.getLogger(__name__)

# A small starter list: gambling, fraud and spam words every campus board filters. Administrators
# import their own list (one word per line) on the sensitive-word page.
STARTER_WORDS = ["赌博", "六合彩", "网络赌场", "代开发票", "刷单返利", "办证刻章", "裸贷", "高利贷"]


def load(demo) -> None:
    sysadmin = demo.users.get("sysadmin")
    if not db.session.scalar(select(func.count(DiscussionWord.id))):
        services.add_words(sysadmin, STARTER_WORDS, source="demo")
        demo.count("discussion_words", len(STARTER_WORDS))
    course = demo.courses.get("theory")
    member = demo.users.get("member")
    teacher = demo.users.get("teacher1")
    others = [u for u in demo.members if u is not member][:3]
    if course is None or member is None or teacher is None or len(others) < 3 or not course.is_published:
        return
    title = "学习体会：如何理解“两个确立”的决定性意义？"
    if db.session.scalar(select(DiscussionThread.id).where(DiscussionThread.course_id == course.id,
                                                           DiscussionThread.title == title)):
        return
    thread = services.create_thread(member, course, title=title, body=(
        "学完第一讲，我对“两个确立”有了更深的理解，但在联系本岗位实际时还有些困惑：\n\n"
        "1. 在学生支部的日常工作中，怎样把学习成效落到实处？\n"
        "2. 大家的支部是怎么组织专题学习的？\n\n欢迎交流！"))
    services.create_reply(others[0], thread, body=(
        f"@{member.name} 我们支部的做法是“读原文 + 谈体会 + 定措施”，每次组织生活会留出二十分钟交流。"))
    services.create_reply(others[1], thread, body="> 怎样把学习成效落到实处\n\n可以结合志愿服务和学业帮扶，效果不错。")
    answer = services.create_reply(teacher, thread, body=(
        "**老师的解答：** 理解“两个确立”，要从历史、理论和实践三个维度把握。建议：\n\n"
        "- 读原著、学原文、悟原理，做好学习笔记；\n- 结合支部“三会一课”开展专题研讨；\n"
        "- 把学习体会转化为服务同学、做好本职工作的具体行动。"))
    services.set_official(teacher, answer, True)
    # A reply that trips the word list: it waits in the teacher's moderation queue.
    services.create_reply(others[2], thread, body="顺便问一下，有没有人知道哪里可以买六 合 彩？")
    services.set_thread_flag(teacher, thread, "pinned", True)
    demo.count("discussion_threads")
    demo.count("discussion_posts", 5)
