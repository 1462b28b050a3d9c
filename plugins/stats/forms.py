"""Forms of the statistics pages (Flask-WTF: every POST carries its CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange


class RemindForm(FlaskForm):
    """One click: remind the members of this unit who are behind the year's requirement."""

    year = IntegerField(_l("年度"), validators=[InputRequired(message=_l("请选择年度。")),
                                                NumberRange(2000, 2100, message=_l("年度不正确。"))])
