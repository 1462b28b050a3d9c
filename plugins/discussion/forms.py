"""Forms of the discussion pages (Flask-WTF: every one carries a CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from plugins.discussion.services import REPORT_REASONS

BODY_HINT = _l("支持 Markdown：**加粗**、> 引用、- 列表；用 @姓名 提到他人。")


class ActionForm(FlaskForm):
    """Only the CSRF token, for buttons (like, delete, pin …)."""


class ThreadForm(FlaskForm):
    title = StringField(_l("标题"), validators=[DataRequired(_l("请填写标题。")), Length(max=100, message=_l("标题不能超过 100 字。"))])
    body = TextAreaField(_l("内容"), validators=[DataRequired(_l("请填写内容。"))])
    image = FileField(_l("插入图片（可选）"))


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("回复内容"), validators=[DataRequired(_l("请填写内容。"))])
    quote_post_id = HiddenField()
    image = FileField(_l("插入图片（可选）"))


class EditForm(FlaskForm):
    title = StringField(_l("标题"), validators=[Optional(), Length(max=100, message=_l("标题不能超过 100 字。"))])
    body = TextAreaField(_l("内容"), validators=[DataRequired(_l("请填写内容。"))])


class ReportForm(FlaskForm):
    reason = SelectField(_l("举报原因"), choices=[SelectChoice("", _l("请选择"))] + [SelectChoice(k, _l(v)) for k, v in REPORT_REASONS.items()],
                         validators=[DataRequired(_l("请选择举报原因。"))])
    detail = TextAreaField(_l("补充说明"), validators=[Optional(), Length(max=500, message=_l("说明不能超过 500 字。"))])


class ModerateForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])
    reason = StringField(_l("理由"), validators=[Optional(), Length(max=500, message=_l("理由不能超过 500 字。"))])


class WordsForm(FlaskForm):
    words = TextAreaField(_l("添加敏感词（每行一个）"), validators=[DataRequired(_l("请至少填写一个词。"))])


class ImportForm(FlaskForm):
    file = FileField(_l("从文本文件导入（UTF-8 或 GB18030，每行一个词）"))


class CheckForm(FlaskForm):
    text = TextAreaField(_l("检测一段文字"), validators=[DataRequired(_l("请填写要检测的文字。")),
                                                        Length(max=20000, message=_l("文字太长。"))])
