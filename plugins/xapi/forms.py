"""Forms of the xAPI admin pages."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, ValidationError


class ClientForm(FlaskForm):
    name = StringField(_l("名称"), validators=[DataRequired(message=_l("请填写名称。")), Length(max=128)],
                       description=_l("例如：课件包、外部平台或脚本的名字"))
    can_read = BooleanField(_l("读取（查询语句与文档）"), default=True)
    can_write = BooleanField(_l("写入（提交语句与文档）"), default=True)

    def validate_can_write(self, field):
        if not (self.can_read.data or field.data):
            raise ValidationError(_l("至少选择一种权限。"))


class ConfirmForm(FlaskForm):
    """A button that changes something: the form only carries the CSRF token."""
