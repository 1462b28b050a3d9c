"""Forms of the courses area (Flask-WTF: CSRF on every form; errors sit beside the fields)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from lms.courses.models import CATEGORIES


class CourseForm(FlaskForm):
    title = StringField(_l("课程名称"), validators=[DataRequired(_l("请填写课程名称")),
                                                    Length(max=200, message=_l("最多 200 字"))])
    summary = TextAreaField(_l("课程简介"), validators=[Length(max=5000, message=_l("最多 5000 字"))])
    category = SelectField(_l("课程分类"), choices=[SelectChoice(k, _l(v)) for k, v in CATEGORIES.items()])
    audience = StringField(_l("面向对象"), validators=[Length(max=200, message=_l("最多 200 字"))],
                           description=_l("例如：全体党员、入党积极分子"))
    credit_hours = DecimalField(_l("学时"), places=2, default=1, validators=[
        InputRequired(_l("请填写学时")), NumberRange(0, 200, _l("学时须在 0 到 200 之间"))])
    open_enrolment = BooleanField(_l("允许学员自主选课"), default=True)
    owner_unit_id = SelectField(_l("所属组织"), coerce=int, validators=[Optional()])
    teachers = SelectMultipleField(_l("授课教师"), coerce=int, validators=[Optional()])
    cover = FileField(_l("封面图片（JPG、PNG 或 WebP）"))
    remove_cover = BooleanField(_l("删除现有封面"))


class ChapterForm(FlaskForm):
    title = StringField(_l("章节名称"), validators=[DataRequired(_l("请填写章节名称")),
                                                    Length(max=200, message=_l("最多 200 字"))])


class LessonCreateForm(FlaskForm):
    title = StringField(_l("课时名称"), validators=[DataRequired(_l("请填写课时名称")),
                                                    Length(max=200, message=_l("最多 200 字"))])
    type = SelectField(_l("课时类型"), validators=[DataRequired(_l("请选择课时类型"))])
    chapter_id = SelectField(_l("所在章节"), coerce=int)
    required = BooleanField(_l("必修（计入课程完成）"), default=True)


class LessonEditForm(FlaskForm):
    title = StringField(_l("课时名称"), validators=[DataRequired(_l("请填写课时名称")),
                                                    Length(max=200, message=_l("最多 200 字"))])
    chapter_id = SelectField(_l("所在章节"), coerce=int)
    position = IntegerField(_l("在章节中的顺序"), validators=[Optional(), NumberRange(1, 999, _l("须在 1 到 999 之间"))])
    required = BooleanField(_l("必修（计入课程完成）"))
    published = BooleanField(_l("发布此课时（学员可见）"))


class ConfirmForm(FlaskForm):
    """Buttons that change something (publish, move, delete) post this form so they carry a CSRF token."""
