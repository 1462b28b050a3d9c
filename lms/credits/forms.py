"""Forms of the credit-hour pages (Flask-WTF: CSRF on every one; errors sit beside fields)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from lms.credits.models import REQUIREMENT_CATEGORIES, RULE_KINDS


def parse_tiers(text: str) -> list[dict]:
    """"30=1" lines (minutes = hours) → tiers; raises ValueError with a message for the user."""
    tiers = []
    for raw in (text or "").replace("＝", "=").splitlines():
        line = raw.strip()
        if not line:
            continue
        if "=" not in line:
            raise ValueError(_l("每行写成“分钟=学时”，例如 30=1。"))
        m, h = (p.strip() for p in line.split("=", 1))
        try:
            minutes, hours = float(m), float(h)
        except ValueError as exc:
            raise ValueError(_l("“%(line)s”不是有效的“分钟=学时”。", line=line)) from exc
        if minutes < 0 or hours < 0:
            raise ValueError(_l("分钟与学时不能为负数。"))
        tiers.append({"min_minutes": minutes, "hours": hours})
    if not tiers:
        raise ValueError(_l("请至少填写一个分档。"))
    return tiers


def tiers_text(tiers: list[dict]) -> str:
    def fmt(v):
        return f"{float(v):g}"

    return "\n".join(f"{fmt(t['min_minutes'])}={fmt(t['hours'])}" for t in tiers)


class RuleForm(FlaskForm):
    kind = SelectField(_l("规则类型"), choices=[SelectChoice(k, _l(v)) for k, v in RULE_KINDS.items()])
    tiers = TextAreaField(_l("时长分档（分钟=学时，每行一档）"), default="30=1\n15=0.5\n0=0.25")
    passed_test = DecimalField(_l("测验通过计学时"), default=0.5, places=2,
                               validators=[Optional(), NumberRange(0, 100, _l("须在 0 到 100 之间"))])
    minutes_per_hour = DecimalField(_l("每学时对应的有效学习分钟数"), default=45, places=0,
                                    validators=[Optional(), NumberRange(1, 600, _l("须在 1 到 600 之间"))])
    step = DecimalField(_l("取整单位（学时）"), default=0.25, places=2,
                        validators=[Optional(), NumberRange(0, 8, _l("须在 0 到 8 之间"))])
    full_day = DecimalField(_l("全天培训计学时"), default=8, places=2,
                            validators=[Optional(), NumberRange(0, 24, _l("须在 0 到 24 之间"))])
    half_day = DecimalField(_l("半天培训计学时"), default=4, places=2,
                            validators=[Optional(), NumberRange(0, 24, _l("须在 0 到 24 之间"))])
    per_hour = DecimalField(_l("支部学习每小时计学时"), default=1, places=2,
                            validators=[Optional(), NumberRange(0, 24, _l("须在 0 到 24 之间"))])
    note = StringField(_l("修改说明"), validators=[Optional(), Length(max=200, message=_l("最多 200 字"))])

    def validate_tiers(self, field):
        if self.kind.data == "media_tiers":
            try:
                parse_tiers(field.data)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc

    def validate_minutes_per_hour(self, field):
        if self.kind.data == "effective_time" and not field.data:
            raise ValidationError(_l("请填写每学时对应的分钟数"))

    def params(self) -> dict:
        kind = self.kind.data
        if kind == "media_tiers":
            return {"tiers": parse_tiers(self.tiers.data), "passed_test": float(self.passed_test.data or 0)}
        if kind == "effective_time":
            return {"minutes_per_hour": float(self.minutes_per_hour.data), "step": float(self.step.data or 0)}
        if kind == "in_person":
            return {"full_day": float(self.full_day.data if self.full_day.data is not None else 8),
                    "half_day": float(self.half_day.data if self.half_day.data is not None else 4),
                    "per_hour": float(self.per_hour.data if self.per_hour.data is not None else 1)}
        return {}


class RequirementForm(FlaskForm):
    category = SelectField(_l("人员类别"), choices=[SelectChoice(k, _l(v)) for k, v in REQUIREMENT_CATEGORIES.items()])
    hours = DecimalField(_l("年度学时要求"), places=2, validators=[
        InputRequired(_l("请填写学时要求")), NumberRange(0, 500, _l("须在 0 到 500 之间"))])


class ExemptionForm(FlaskForm):
    login_id = StringField(_l("学号/工号"), validators=[DataRequired(_l("请填写学号/工号")), Length(max=64)])
    reduced_hours = DecimalField(_l("减免后的年度学时要求"), places=2, default=0, validators=[
        InputRequired(_l("请填写减免后的学时要求（全部免除填 0）")), NumberRange(0, 500, _l("须在 0 到 500 之间"))])
    reason = TextAreaField(_l("减免原因"), validators=[
        DataRequired(_l("请填写减免原因，例如年老体弱、长期患病（党员教育管理工作条例第二十三条）")),
        Length(max=2000, message=_l("最多 2000 字"))])


class ConfirmForm(FlaskForm):
    """Buttons that change something (delete, recompute) post this form, so they carry a CSRF token."""
