"""The administrator's decision on a quarantined file."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import Length


class DecisionForm(FlaskForm):
    override = BooleanField(_l("由我决定放行（重新检查未得出“安全”时）"))
    note = TextAreaField(_l("理由"), validators=[Length(max=1000)])
