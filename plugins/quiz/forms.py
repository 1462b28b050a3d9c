"""Forms of the quiz pages (Flask-WTF: every POST carries a CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from plugins.quiz.grading import LETTERS


def _c(pairs) -> list[SelectChoice]:
    return [SelectChoice(v, label) for v, label in pairs]


TYPE_PAIRS = [("single", _l("单选题")), ("multiple", _l("多选题")), ("truefalse", _l("判断题")),
                ("fill", _l("填空题")), ("short", _l("简答题"))]
DIFFICULTY_PAIRS = [("1", _l("简单")), ("2", _l("中等")), ("3", _l("困难"))]


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class QuestionForm(FlaskForm):
    qtype = SelectField(_l("题型"), choices=_c(TYPE_PAIRS))
    stem = TextAreaField(_l("题干"), validators=[DataRequired(message=_l("请填写题干")), Length(max=5000)])
    option_a = StringField(_l("选项A"), validators=[Length(max=1000)])
    option_b = StringField(_l("选项B"), validators=[Length(max=1000)])
    option_c = StringField(_l("选项C"), validators=[Length(max=1000)])
    option_d = StringField(_l("选项D"), validators=[Length(max=1000)])
    option_e = StringField(_l("选项E"), validators=[Length(max=1000)])
    option_f = StringField(_l("选项F"), validators=[Length(max=1000)])
    option_g = StringField(_l("选项G"), validators=[Length(max=1000)])
    option_h = StringField(_l("选项H"), validators=[Length(max=1000)])
    answer = StringField(_l("答案"), validators=[Length(max=2000)],
                         description=_l("选择题填字母如 ABD；判断题填 对/错；填空题多个空用“；”分隔，"
                                        "同一空的多个可接受答案用“|”分隔；简答题填参考答案"))
    explanation = TextAreaField(_l("解析"), validators=[Length(max=5000)])
    score = StringField(_l("分值"), default="1")
    difficulty = SelectField(_l("难度"), choices=_c(DIFFICULTY_PAIRS), default="2")
    tags = StringField(_l("标签"), validators=[Length(max=500)], description=_l("多个标签用逗号分隔"))
    partial_credit = BooleanField(_l("多选题少选按比例得分（错选不得分）"))
    loose_match = BooleanField(_l("填空题忽略大小写和全角/半角差别"), default=True)

    def option_fields(self):
        return [getattr(self, f"option_{c.lower()}") for c in LETTERS]


class ImportForm(FlaskForm):
    file = FileField(_l("题库文件"), validators=[FileRequired(message=_l("请选择要导入的文件"))])
    fmt = SelectField(_l("文件格式"), choices=_c([("auto", _l("按扩展名识别（.xlsx 为 Excel，.gift 为 GIFT）")),
                                            ("excel", _l("Excel 模板")), ("gift", _l("Moodle GIFT")),
                                            ("aiken", _l("Aiken"))]), default="auto")


class ShareForm(FlaskForm):
    course_id = SelectField(_l("共享给课程"), coerce=int, validators=[InputRequired()])


class PaperForm(FlaskForm):
    mode = SelectField(_l("模式"), choices=_c([("exam", _l("考试（交卷后评分）")), ("practice", _l("练习（逐题反馈）"))]))
    selection = SelectField(_l("组卷方式"), choices=_c([("fixed", _l("固定试题")), ("random", _l("按规则随机抽题"))]))
    time_limit_minutes = IntegerField(_l("限时（分钟）"), validators=[Optional(), NumberRange(min=1, max=600,
                                      message=_l("限时应在 1 到 600 分钟之间"))])
    max_attempts = IntegerField(_l("作答次数上限"), validators=[Optional(), NumberRange(min=1, max=100,
                                message=_l("次数应在 1 到 100 之间"))], description=_l("留空为不限"))
    pass_percent = FloatField(_l("及格线（百分制）"), default=60, validators=[InputRequired(
        message=_l("请填写及格线")), NumberRange(min=0, max=100, message=_l("及格线应在 0 到 100 之间"))])
    reveal = SelectField(_l("公布答案与解析"), choices=_c([("immediately", _l("交卷后立即")),
                                                 ("after_close", _l("测验关闭后")), ("never", _l("不公布"))]))
    opens_at = DateTimeLocalField(_l("开放时间"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    closes_at = DateTimeLocalField(_l("关闭时间"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    shuffle_questions = BooleanField(_l("每人题目顺序随机"), default=True)
    shuffle_options = BooleanField(_l("每人选项顺序随机"), default=True)
    instructions = TextAreaField(_l("考试说明"), validators=[Length(max=5000)])


class RuleForm(FlaskForm):
    count = IntegerField(_l("抽题数量"), default=5, validators=[InputRequired(message=_l("请填写数量")),
                         NumberRange(min=1, max=200, message=_l("数量应在 1 到 200 之间"))])
    qtype = SelectField(_l("题型"), choices=_c([("", _l("任意题型")), *TYPE_PAIRS]))
    tag = StringField(_l("标签"), validators=[Length(max=64)], description=_l("留空为不限"))
    difficulty = SelectField(_l("难度"), choices=_c([("", _l("不限")), *DIFFICULTY_PAIRS]))
    score_each = FloatField(_l("每题分值"), validators=[Optional(), NumberRange(min=0.01, max=1000,
                            message=_l("分值应为正数"))], description=_l("留空则用各题自己的分值"))


class GradeForm(FlaskForm):
    points = FloatField(_l("得分"), validators=[InputRequired(message=_l("请填写得分"))])
    comment = TextAreaField(_l("评语"), validators=[Length(max=5000)])
