"""Forms of 党员e家 (Flask-WTF: CSRF on every one; errors sit beside fields)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from lms.accounts.models import MEMBER_CATEGORIES
from lms.org.forms import int_or_zero
from plugins.party_school.models import BRANCH_LIFE_TYPES, DURATION_KINDS, TRAINING_TYPES


def _chinese_parse_error(field_class, message):
    """The field, with its "could not parse" error as a Chinese sentence (WTForms' own is English)."""

    class Field(field_class):
        def process_formdata(self, valuelist):
            try:
                super().process_formdata(valuelist)
            except ValueError as exc:
                self.data = None
                raise ValueError(message) from exc

    Field.__name__ = field_class.__name__
    return Field


DateField = _chinese_parse_error(DateField, _l("请填写正确的日期，例如 2026-12-31"))
DateTimeLocalField = _chinese_parse_error(DateTimeLocalField, _l("请填写正确的日期和时间"))
DecimalField = _chinese_parse_error(DecimalField, _l("请填写数字"))
IntegerField = _chinese_parse_error(IntegerField, _l("请填写整数"))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AssignmentForm(FlaskForm):
    title = StringField(_l("任务名称"), validators=[DataRequired(message=_l("请填写任务名称")), Length(max=200)],
                        render_kw={"placeholder": _l("2026年度党员集中学习 — 32学时")})
    org_unit_id = SelectField(_l("面向的党组织（含下级组织）"), coerce=int_or_zero, validate_choice=False,
                              validators=[InputRequired(message=_l("请选择党组织"))])
    categories = MultiCheckboxField(_l("人员类别（不选则为全部人员）"), validate_choice=False,
                                    choices=[SelectChoice(k, _l(v)) for k, v in MEMBER_CATEGORIES.items()])
    courses = SelectMultipleField(_l("必修课程"), coerce=int_or_zero, validate_choice=False,
                                  validators=[DataRequired(message=_l("请至少选择一门必修课程"))])
    starts_on = DateField(_l("开始日期"), validators=[InputRequired(message=_l("请填写开始日期"))])
    due_on = DateField(_l("截止日期"), validators=[InputRequired(message=_l("请填写截止日期"))])
    description = TextAreaField(_l("说明"), validators=[Optional(), Length(max=4000)])

    def validate_due_on(self, field):
        if self.starts_on.data and field.data and field.data < self.starts_on.data:
            raise ValidationError(_l("截止日期不能早于开始日期"))

    def validate_categories(self, field):
        if any(c not in MEMBER_CATEGORIES for c in field.data or []):
            raise ValidationError(_l("人员类别不正确"))


class MaterialForm(FlaskForm):
    title = StringField(_l("资料标题"), validators=[DataRequired(message=_l("请填写资料标题")), Length(max=200)])
    org_unit_id = SelectField(_l("推送给（含下级组织）"), coerce=int_or_zero, validate_choice=False,
                              validators=[InputRequired(message=_l("请选择党组织"))])
    body = TextAreaField(_l("正文"), validators=[Optional(), Length(max=200_000)])
    document = FileField(_l("文档（PDF 或 Word .docx，可选）"))
    required_minutes = DecimalField(_l("要求阅读时长（分钟，可选）"), places=1,
                                    validators=[Optional(), NumberRange(min=0.5, max=600,
                                                                        message=_l("须在 0.5 到 600 分钟之间"))])
    send_email = BooleanField(_l("同时发送电子邮件提醒"))


class SessionForm(FlaskForm):
    subtype = SelectField(_l("类型"), validate_choice=False)
    title = StringField(_l("名称"), validators=[DataRequired(message=_l("请填写名称")), Length(max=200)])
    org_unit_id = SelectField(_l("组织单位（面向其全体党员）"), coerce=int_or_zero, validate_choice=False,
                              validators=[InputRequired(message=_l("请选择党组织"))])
    starts_at = DateTimeLocalField(_l("开始时间"), format="%Y-%m-%dT%H:%M",
                                   validators=[InputRequired(message=_l("请填写开始时间"))])
    ends_at = DateTimeLocalField(_l("结束时间"), format="%Y-%m-%dT%H:%M",
                                 validators=[InputRequired(message=_l("请填写结束时间"))])
    location = StringField(_l("地点"), validators=[Optional(), Length(max=200)])
    duration_kind = SelectField(_l("学时计算"), choices=[SelectChoice(k, _l(v)) for k, v in DURATION_KINDS.items()], default="hours")
    hours = DecimalField(_l("学时（按小时计时填写）"), places=2, default=2,
                         validators=[Optional(), NumberRange(min=0, max=24, message=_l("须在 0 到 24 之间"))])
    capacity = IntegerField(_l("名额（可选）"), validators=[Optional(), NumberRange(min=1, max=100000,
                                                                                  message=_l("名额须大于 0"))])
    signup_required = BooleanField(_l("需要报名"))
    description = TextAreaField(_l("内容说明"), validators=[Optional(), Length(max=4000)])

    def setup(self, kind: str) -> None:
        types = BRANCH_LIFE_TYPES if kind == "branch_life" else TRAINING_TYPES
        self.subtype.choices = [SelectChoice(k, _l(v)) for k, v in types.items()]

    def validate_subtype(self, field):
        if field.data not in {c.value for c in field.choices}:
            raise ValidationError(_l("请选择类型"))

    def validate_ends_at(self, field):
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("结束时间须晚于开始时间"))


class CheckinForm(FlaskForm):
    code = StringField(_l("签到码"), validators=[DataRequired(message=_l("请输入现场公布的签到码")), Length(max=12)],
                       render_kw={"inputmode": "numeric", "autocomplete": "off"})


class ManualCheckinForm(FlaskForm):
    login_id = StringField(_l("学号/工号"), validators=[DataRequired(message=_l("请输入学号/工号")), Length(max=64)])


class MailForm(FlaskForm):
    email = StringField(_l("接收学习资料提醒的电子邮箱（留空则不发送邮件）"), validators=[Optional(), Length(max=200)])


class ConfirmForm(FlaskForm):
    """An empty form: only the CSRF token, for buttons that change something."""
