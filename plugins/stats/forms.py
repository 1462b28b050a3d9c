"""Forms of the statistics pages (Flask-WTF: every POST carries its CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import AnyOf, InputRequired, NumberRange

REMIND_KINDS = ("hours", "assignments")


class RemindForm(FlaskForm):
    """One click: remind the members of this unit who are behind the year's requirement (kind "hours") or
    behind on an assignment that is overdue or due soon (kind "assignments")."""

    year = IntegerField(_l("年度"), validators=[InputRequired(message=_l("请选择年度。")),
                                                NumberRange(2000, 2100, message=_l("年度不正确。"))])
    kind = HiddenField(default="hours", validators=[AnyOf(REMIND_KINDS, message=_l("提醒类型不正确。"))])
