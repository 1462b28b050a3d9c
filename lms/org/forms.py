"""Forms of the organization tree (Flask-WTF: CSRF on every one, errors beside the fields)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from lms.org.models import UNIT_KINDS


def int_or_zero(value) -> int:
    """A select's id; tampered input becomes 0 (no such unit), which the view answers in Chinese."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class UnitForm(FlaskForm):
    name = StringField(_l("组织名称"), validators=[DataRequired(message=_l("请填写组织名称")), Length(max=120)])
    kind = SelectField(_l("组织类型"), choices=lambda: [(k, _l(v)) for k, v in UNIT_KINDS.items()])
    parent_id = SelectField(_l("上级组织"), coerce=int_or_zero, validate_choice=False)


class RenameForm(FlaskForm):
    name = StringField(_l("新名称"), validators=[DataRequired(message=_l("请填写组织名称")), Length(max=120)])


class MoveForm(FlaskForm):
    parent_id = SelectField(_l("新的上级组织"), coerce=int_or_zero, validate_choice=False)
