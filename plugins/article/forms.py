"""The article editor form."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DecimalField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from plugins.article.services import FORMATS


class ArticleForm(FlaskForm):
    source_format = SelectField(_l("正文格式"), choices=[SelectChoice(k, v) for k, v in FORMATS.items()])
    source = TextAreaField(_l("正文"), validators=[Length(max=500_000, message=_l("正文太长（最多 50 万字）"))])
    pdf = FileField(_l("附件 PDF（可选）"))
    remove_pdf = BooleanField(_l("删除现有 PDF"))
    required_minutes = DecimalField(
        _l("至少阅读（分钟）"), places=1,
        validators=[Optional(), NumberRange(0, 600, _l("须在 0 到 600 分钟之间"))],
    )
