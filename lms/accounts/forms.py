"""Forms of the people area (Flask-WTF: CSRF on every one, errors shown beside the fields)."""
from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import DateField, HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from lms.accounts import services
from lms.accounts.dsar import CORRECTION_FIELDS
from lms.accounts.models import MEMBER_CATEGORIES, ROLES
from lms.org.forms import int_or_zero


def _category_choices():
    return [(k, _l(v)) for k, v in MEMBER_CATEGORIES.items()]


class PersonForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[DataRequired(message=_l("请填写姓名")), Length(max=64)])
    login_id = StringField(
        _l("学号/工号"), validators=[DataRequired(message=_l("请填写学号/工号")), Length(max=64)]
    )
    org_unit_id = SelectField(_l("所属党组织"), coerce=int_or_zero, validate_choice=False)
    category = SelectField(_l("党员类别"), choices=_category_choices)
    joined_on = DateField(_l("入党时间"), validators=[Optional()], format="%Y-%m-%d")
    phone = StringField(_l("手机号"), validators=[Optional(), Length(max=20)], render_kw={"type": "tel"})
    password = PasswordField(_l("初始密码"))

    def validate_login_id(self, field):
        if not services.LOGIN_ID_RE.match(field.data.strip()):
            raise ValidationError(_l("学号/工号只能包含字母、数字、下划线、点和连字符"))

    def validate_category(self, field):
        if field.data not in MEMBER_CATEGORIES:
            raise ValidationError(_l("请选择党员类别"))

    def validate_joined_on(self, field):
        if field.data and field.data > date.today():
            raise ValidationError(_l("入党时间不能晚于今天"))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        # checked here: the field's Optional() validator stops its own chain when it is empty
        if not self.joined_on.data and not self.joined_on.errors and self.category.data in ("full", "probationary"):
            self.joined_on.errors = list(self.joined_on.errors) + [_l("正式党员、预备党员须填写入党时间")]
            ok = False
        return ok

    def validate_phone(self, field):
        try:
            field.data = services.normalize_phone(field.data)
        except ValueError as exc:
            raise ValidationError(_l("请填写 11 位手机号码")) from exc


class RoleForm(FlaskForm):
    role = SelectField(_l("角色"), choices=lambda: [(k, _l(v[0])) for k, v in ROLES.items() if k != "member"])
    org_unit_id = SelectField(_l("负责的党组织"), coerce=int_or_zero, validate_choice=False,
                              description=_l("支部书记、组织管理员、审核员须选择党组织"))


class TransferForm(FlaskForm):
    org_unit_id = SelectField(_l("转入党组织"), coerce=int_or_zero, validate_choice=False)


class ImportUploadForm(FlaskForm):
    file = FileField(
        _l("Excel 文件（.xlsx）"),
        validators=[FileRequired(message=_l("请选择要上传的文件")),
                    FileAllowed(["xlsx"], message=_l("只能上传 .xlsx 格式的 Excel 文件"))],
    )


class ImportConfirmForm(FlaskForm):
    token = HiddenField()
    password = PasswordField(_l("新账号的初始密码"), description=_l("新建的账号首次登录时必须修改密码"))


class ActionForm(FlaskForm):
    """An empty form: a CSRF-protected POST button."""


# --- data-subject requests (PI-06) ---------------------------------------------------------------------
class CorrectionForm(FlaskForm):
    """我的数据: ask the organization to correct an item (PIPL art. 46)."""

    field = SelectField(_l("哪项信息有误"), choices=lambda: list(CORRECTION_FIELDS.items()))
    detail = TextAreaField(_l("说明"), validators=[
        DataRequired(message=_l("请写明哪里有误、正确的内容是什么。")), Length(max=2000)],
        render_kw={"rows": 4, "placeholder": _l("例如：入党时间应为 2015-07-01")})


class RequestDoneForm(FlaskForm):
    reply = TextAreaField(_l("处理说明（会通知申请人）"), validators=[Optional(), Length(max=2000)],
                          render_kw={"rows": 2})


class EraseForm(FlaskForm):
    """Erasing a person: the login id typed again confirms who."""

    login_id = StringField(_l("再次输入此人的学号/工号以确认"), validators=[
        DataRequired(message=_l("请输入此人的学号/工号")), Length(max=64)])
