"""Demo content of the article plugin: a few reading lessons in the demo courses (idempotent)."""
from __future__ import annotations

import logging

from plugins.article import services

log = logging.getLogger(__name__)

# (course key, chapter number, title, Markdown)
ARTICLES = [
    ("theory", 1, "阅读：新时代十年的伟大变革", """
## 导读

党的十八大以来，中国特色社会主义进入新时代。本篇阅读材料梳理新时代十年在经济建设、全面深化改革、
民主法治、文化建设、民生保障、生态文明、国防和军队建设、全面从严治党等方面取得的历史性成就、发生的历史性变革。

## 学习要点

1. **深刻认识“两个确立”的决定性意义**，增强“四个意识”、坚定“四个自信”、做到“两个维护”。
2. 理解新时代十年的伟大变革具有里程碑意义：走过了一系列具有开创性的历程，实现了一系列突破性进展。
3. 结合本单位、本岗位的实际，思考如何把学习成效转化为推动工作的实际行动。

## 思考题

- 结合自己的学习、工作和生活经历，谈谈你对新时代十年伟大变革的切身感受。
- 作为一名党员，应当如何在本职岗位上践行初心使命？

> 学习提示：请读完全文，并在课后讨论区分享一条学习体会。
"""),
    ("history", 1, "阅读：中国共产党第一次全国代表大会", """
## 一、召开的历史背景

十月革命一声炮响，给中国送来了马克思列宁主义。五四运动以后，马克思主义在中国广泛传播，
工人阶级登上政治舞台，各地共产主义小组相继成立，为建立全国统一的无产阶级政党作了思想上和组织上的准备。

## 二、会议的主要经过

1921 年 7 月 23 日，中国共产党第一次全国代表大会在上海开幕，后因会场受到暗探注意和法租界巡捕搜查，
最后一天的会议转移到浙江嘉兴南湖的一艘游船上举行。大会通过了党的第一个纲领和第一个决议，选举产生了党的中央领导机构。

## 三、伟大意义

中国共产党的诞生，是中国历史上开天辟地的大事变，深刻改变了近代以后中华民族发展的方向和进程，
深刻改变了中国人民和中华民族的前途和命运。

| 要素 | 内容 |
|---|---|
| 时间 | 1921 年 7 月 |
| 地点 | 上海、浙江嘉兴南湖 |
| 成果 | 通过党的第一个纲领，宣告中国共产党正式成立 |

## 延伸阅读

请结合“伟大建党精神”的内涵——坚持真理、坚守理想，践行初心、担当使命，不怕牺牲、英勇斗争，
对党忠诚、不负人民——写一段不少于 200 字的学习体会。
"""),
    ("policy", 1, "阅读材料：推动高质量发展", """
## 为什么要推动高质量发展

高质量发展是全面建设社会主义现代化国家的首要任务。发展不平衡不充分的问题仍然突出，
必须完整、准确、全面贯彻新发展理念，加快构建新发展格局。

## 关键词

- **创新**：科技自立自强是国家强盛之基、安全之要；
- **协调**：促进区域协调发展和城乡融合发展；
- **绿色**：推动经济社会发展绿色化、低碳化；
- **开放**：推进高水平对外开放；
- **共享**：扎实推进共同富裕。

## 联系实际

高校党员要立足教学、科研和管理服务岗位，思考如何为服务国家战略和地方经济社会发展贡献力量。
"""),
    ("party_work", 1, "发展党员工作的主要环节", """
## 发展党员的五个阶段

发展党员工作须坚持党章规定的党员标准，始终把政治标准放在首位，按照“控制总量、优化结构、提高质量、
发挥作用”的总要求进行。主要环节包括：

1. 入党申请人的确定与培养；
2. 入党积极分子的确定和培养教育；
3. 发展对象的确定和考察；
4. 预备党员的接收；
5. 预备党员的教育考察和转正。

## 支部工作提示

- 每个环节都要及时、规范地形成记录，材料归入入党材料；
- 支部委员会和支部大会的讨论情况应如实记录表决结果；
- 培养联系人要经常与培养对象谈心谈话，帮助其端正入党动机。
"""),
]


def load(demo) -> None:
    """Add the demo articles to the demo courses that exist (tolerant of missing courses/chapters)."""
    courses = getattr(demo, "courses", {}) or {}
    chapters = getattr(demo, "chapters", {}) or {}
    for course_key, chapter_no, title, body in ARTICLES:
        if course_key not in courses:
            continue
        chapter_no = chapter_no if len(chapters.get(course_key) or []) >= chapter_no else 0
        try:
            lesson, created = demo.lesson(course_key, chapter_no, title, "article", required=True,
                                          status="published", settings={})
        except (AttributeError, KeyError, IndexError):
            log.warning("article demo: course %s has no usable chapter; skipped %s", course_key, title)
            continue
        if created or services.content_for(lesson) is None:
            services.save_content(lesson, source_format="markdown", source=body.strip())
            if hasattr(demo, "count"):
                demo.count("article lessons")
