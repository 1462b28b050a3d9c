"""The audit viewer's filter form (a GET form: no state changes, so no CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

OUTCOMES = [
    SelectChoice("", _l("全部结果")),
    SelectChoice("success", _l("成功")),
    SelectChoice("failure", _l("失败")),
    SelectChoice("denied", _l("拒绝")),
]


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = SelectField(_l("事件"), choices=[], validate_choice=False)
    actor = StringField(_l("操作人学号/工号"), validators=[Optional(), Length(max=64)])
    outcome = SelectField(_l("结果"), choices=OUTCOMES, validate_choice=False)
    date_from = DateField(_l("起始日期"), validators=[Optional()], format="%Y-%m-%d")
    date_to = DateField(_l("截止日期"), validators=[Optional()], format="%Y-%m-%d")

    def validate_outcome(self, field):
        if field.data and field.data not in {c.value for c in OUTCOMES}:
            raise ValidationError(_l("请选择列表中的结果。"))

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("截止日期不能早于起始日期。"))
