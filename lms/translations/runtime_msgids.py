"""Msgids the product looks up at run time (label tables keyed by a stored code), listed for extraction.

Templates show these labels with `_(label)`, a call pybabel cannot follow, so their Chinese text is
spelled out here where `pybabel extract` finds it and keeps it in the catalog. Nothing imports this
module. tests/test_i18n.py compares the tables in the code with the catalog, so a label added to a
table without a translation fails there; when a table's owner marks its values with `lazy_gettext`,
its block here can go.
"""


def _(message: str) -> str:
    return message


MSGIDS = (
    # lms/courses/models.py CATEGORIES — course categories
    _("党的理论"), _("形势政策"), _("党史学习教育"), _("党章党规"), _("党务实践"), _("其他"),
    # lms/credits/models.py RULE_KINDS — credit-hour rule kinds
    _("按课程固定学时（完成课程计该课程学时）"), _("按课时时长分档"), _("按有效学习时长折算"),
    _("线下学习（培训、支部学习）"),
    # lms/credits/models.py SOURCE_TYPES — where a ledger entry came from
    _("课程"), _("课时"), _("阅读"), _("测验"), _("培训"), _("支部学习"), _("线下学习"),
    # lms/credits/models.py REQUIREMENT_CATEGORIES — who a yearly requirement applies to
    _("党员"), _("支部书记、委员"),
    # lms/credits/services.py SOURCE_GROUPS — the "by source" summary
    _("视频学习"), _("阅读学习"), _("课程学习"), _("其他在线学习"),
    # lms/org/models.py UNIT_KINDS — kinds of party organization
    _("党委"), _("二级学院党委"), _("党总支"), _("党支部"),
    # lms/accounts/models.py MEMBER_CATEGORIES — member categories
    _("正式党员"), _("预备党员"), _("发展对象"), _("入党积极分子"), _("群众"),
    # lms/accounts/models.py ROLES — role names
    _("党员/学员"), _("教师"), _("审核员"), _("支部书记"), _("组织管理员"), _("系统管理员"), _("审计管理员"),
    # plugins/article/lesson_type.py ArticleLessonType.label — a lesson type
    _("图文/文档"),
    # the plugins' titles (Plugin.title), shown on the plugins page
    _("图文与文档课时"), _("课程讨论"), _("思政微课堂"), _("党员e家"), _("测验与考试"), _("培训考核统计"),
    _("学习记录（xAPI）"),
    # plugins/discussion/services.py REPORT_REASONS — why a post is reported
    _("政治有害或违反党的纪律"), _("人身攻击、辱骂"), _("谣言或不实信息"), _("广告、刷屏"), _("泄露他人隐私"),
    # plugins/party_school/models.py SESSION_KINDS, BRANCH_LIFE_TYPES, TRAINING_TYPES, DURATION_KINDS
    _("培训交流"), _("支部组织生活"), _("支部党员大会"), _("支部委员会"), _("党小组会"), _("党课"), _("主题党日"),
    _("专题培训"), _("交流研讨"), _("全天"), _("半天"), _("按小时"),
    # lms/config.py SITE_NAME — the default site name (shown in the top bar and page titles)
    _("党员教育学习平台"),
    # notification texts stored in Chinese and translated when shown (lms.notifications.services.register)
    _("通知"),
    _("%(name)s 回复了你的话题「%(title)s」"), _("%(name)s 引用了你在「%(title)s」中的发言"),
    _("%(name)s 在「%(title)s」中提到了你"), _("课程讨论有新的举报：「%(title)s」"),
    _("您在「%(title)s」的发言已通过审核"), _("您在「%(title)s」的发言未通过审核"),
    _("您在「%(title)s」的发言已被管理员隐藏"), _("您在「%(title)s」的回复被设为官方解答"), _("理由：%(reason)s"),
    _("新的学习任务：%(title)s"), _("请在 %(date)s 前完成 %(n)s 门必修课程。"), _("学习资料：%(title)s"),
    _("组织推送了新的学习资料，请及时阅读。"), _("%(kind)s：%(title)s"), _("时间：%(time)s；地点：%(place)s。"),
    _("另行通知"),
    _("学时提醒：%(year)s 年度还差 %(short)s 学时"),
    _("您 %(year)s 年度已获 %(hours)s 学时，年度要求 %(req)s 学时，还差 %(short)s 学时。请及时参加学习。（%(unit)s）"),
    _("学习任务提醒：《%(title)s》已逾期"), _("学习任务提醒：《%(title)s》即将截止"),
    _("《%(title)s》截止日期 %(date)s，已完成 %(done)s/%(n)s 门必修课程。请尽快完成学习。（%(unit)s）"),
    _("学习任务提醒：%(n)s 项学习任务尚未完成"),
    _("%(n)s 项学习任务的必修课程尚未完成：%(tasks)s。请尽快完成学习。（%(unit)s）"),
    # credit evidence labels stored by plugins (lms/templates/credits/my.html shows them with _())
    _("阅读记录"), _("签到记录"),
    # lms/exports ExportKind.label (people, plugins/stats, plugins/quiz) and the export-approval notifications
    _("人员名单"), _("学时台账"), _("测验成绩"),
    _("待审批的数据导出：%(what)s（%(scope)s，%(rows)s 行），申请人 %(name)s"),
    _("您的数据导出申请已批准：%(what)s（%(scope)s），请在 %(time)s 前下载（仅可下载一次）"),
    _("您的数据导出申请未获批准：%(what)s（%(scope)s）"),
    # lms/quarantine/services.py — notifications to system administrators about uploads a scan did not pass (UP-09)
    _("上传的文件已被隔离：%(name)s（%(kind)s，%(reason)s）"),
    _("上传的文件未能完成安全检查，已被拒收：%(name)s（%(kind)s）"),
    # lms/accounts/dsar.py — data-subject request notifications (PI-06)
    _("%(name)s 提交了个人信息更正申请（%(field)s）"), _("您的个人信息更正申请（%(field)s）已处理"),
    # lms/accounts/privacy.py — a person withdrew their consent to the privacy notice (PI-02, PIPL art. 15)
    _("%(name)s 撤回了对隐私声明的同意"),
)
