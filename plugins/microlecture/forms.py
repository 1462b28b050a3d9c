"""Forms of the micro-lecture area (Flask-WTF: every one carries its CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from plugins.microlecture.models import TOPICS

SPEED_CHOICES = [SelectChoice("1.0", _l("不允许倍速（1.0×）")), SelectChoice("1.25", "1.25×"),
                 SelectChoice("1.5", "1.5×"), SelectChoice("2.0", "2.0×")]


def topic_choices():
    return [SelectChoice(k, str(v)) for k, v in TOPICS.items()]


class ActionForm(FlaskForm):
    """A button that changes something (cancel, re-transcode, resubmit): only the CSRF token."""


class NewLectureForm(FlaskForm):
    course_id = SelectField(_l("所属课程"), validators=[InputRequired(message=_l("请选择课程"))])
    title = StringField(_l("微课标题"), validators=[DataRequired(message=_l("请填写标题")), Length(max=200)])
    topic = SelectField(_l("专题"), choices=topic_choices, validators=[DataRequired()])
    description = TextAreaField(_l("简介"), validators=[Optional(), Length(max=2000)])


class DetailsForm(FlaskForm):
    topic = SelectField(_l("专题"), choices=topic_choices, validators=[DataRequired()])
    presenter_id = SelectField(_l("主讲教师"), validators=[InputRequired(message=_l("请选择主讲教师"))])
    description = TextAreaField(_l("简介"), validators=[Optional(), Length(max=2000)])


class SubtitlesForm(FlaskForm):
    file = FileField(_l("字幕文件（SRT 或 WebVTT）"), validators=[FileRequired(message=_l("请选择字幕文件"))])
    label = StringField(_l("字幕语言"), default="中文", validators=[Optional(), Length(max=64)])


class RulesForm(FlaskForm):
    no_seek = BooleanField(_l("完成前禁止拖动到未观看的位置"))
    max_speed = SelectField(_l("最高播放倍速"), choices=SPEED_CHOICES, default="2.0")
    pause_hidden = BooleanField(_l("页面切到后台时自动暂停、不计时"))
    presence_minutes = IntegerField(
        _l("防挂机确认间隔（分钟，0 表示不检查）"), default=0,
        validators=[InputRequired(message=_l("请填写数字")), NumberRange(0, 120, message=_l("请填写 0 到 120 之间的整数"))])
    threshold = IntegerField(
        _l("完成比例（%）"), default=95,
        validators=[InputRequired(message=_l("请填写数字")), NumberRange(50, 100, message=_l("请填写 50 到 100 之间的整数"))])


class ReviewForm(FlaskForm):
    decision = RadioField(_l("审核结论"), choices=[SelectChoice("approve", _l("通过，发布")),
                                                     SelectChoice("return", _l("退回修改"))],
                          validators=[InputRequired(message=_l("请选择审核结论"))])
    note = TextAreaField(_l("审核意见（退回时必填）"), validators=[Optional(), Length(max=2000)])

    def validate_note(self, field):
        from wtforms.validators import ValidationError

        if self.decision.data == "return" and not (field.data or "").strip():
            raise ValidationError(_l("退回时请写明原因，方便老师修改。"))
