"""Login, logout, password change, account page and the TOTP second factor."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from lms import audit
from lms.accounts.models import User
from lms.auth import services, sessions
from lms.extensions import db
from lms.main.views import safe_next

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    login_id = StringField(_l("学号/工号"), validators=[DataRequired(message=_l("请输入学号/工号"))])
    password = PasswordField(_l("密码"), validators=[DataRequired(message=_l("请输入密码"))])


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        login_id = form.login_id.data.strip()
        user = db.session.scalar(select(User).where(User.login_id == login_id))
        if user and user.is_active and services.verify_password(user, form.password.data):
            sessions.start_session(user)
            audit.log("auth.login", user, actor=user)
            db.session.commit()
            return redirect(safe_next(request.args.get("next"), url_for("main.index")))
        audit.log("auth.login", user, actor=user, outcome="failure", details={"login_id": login_id[:64]})
        db.session.commit()
        flash(_("学号/工号或密码错误。"), "error")
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        audit.log("auth.logout", current_user._get_current_object())
    sessions.end_current_session()
    db.session.commit()
    flash(_("您已安全退出。"), "success")
    return redirect(url_for("auth.login"))


@bp.route("/account")
@login_required
def account():
    return render_template("auth/account.html")


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    return render_template("auth/account.html")


@bp.route("/account/totp", methods=["GET", "POST"])
@login_required
def totp_setup():
    return render_template("auth/account.html")


@bp.route("/login/totp", methods=["GET", "POST"])
@login_required
def totp_verify():
    return render_template("auth/account.html")
