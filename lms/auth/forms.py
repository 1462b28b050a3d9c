"""Forms of the authentication area (Flask-WTF: every one carries a CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from lms.auth.services import PASSWORD_MAX_LENGTH


class LoginForm(FlaskForm):
    login_id = StringField(
        _l("学号/工号"), validators=[DataRequired(message=_l("请输入学号/工号")), Length(max=64)]
    )
    # No max length below the service's bound and no stripping: a password is used exactly as typed.
    password = PasswordField(_l("密码"), validators=[DataRequired(message=_l("请输入密码"))])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("当前密码"), validators=[DataRequired(message=_l("请输入当前密码"))])
    new_password = PasswordField(
        _l("新密码"),
        validators=[
            DataRequired(message=_l("请输入新密码")),
            Length(max=PASSWORD_MAX_LENGTH, message=_l("密码太长了。")),
        ],
    )
    confirm = PasswordField(
        _l("再次输入新密码"),
        validators=[
            DataRequired(message=_l("请再次输入新密码")),
            EqualTo("new_password", message=_l("两次输入的新密码不一致。")),
        ],
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._user = user

    def validate_new_password(self, field):
        from lms.auth.services import check_password_policy

        problems = check_password_policy(field.data or "", self._user)
        if self.current_password.data and field.data == self.current_password.data:
            problems.append(str(_l("新密码不能与当前密码相同。")))
        if problems:
            # Show every rule that failed at once, beside the field.
            field.errors = list(field.errors) + problems[:-1]
            raise ValidationError(problems[-1])


class TotpCodeForm(FlaskForm):
    code = StringField(
        _l("6 位动态口令"),
        validators=[DataRequired(message=_l("请输入动态口令")), Length(max=12, message=_l("动态口令是 6 位数字。"))],
    )


class TotpDisableForm(TotpCodeForm):
    password = PasswordField(_l("当前密码"), validators=[DataRequired(message=_l("请输入当前密码"))])


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
