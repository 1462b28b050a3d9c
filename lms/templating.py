"""Template globals and filters: navigation from plugins, dates in Beijing time, paging."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from lms.plugins import gather

_TZ = ZoneInfo("Asia/Shanghai")


def local_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(_TZ).strftime(fmt)


def hours(value) -> str:
    """Credit hours without trailing zeros: 1, 0.5, 0.25."""
    if value is None:
        return "0"
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def url_for_page(page: int) -> str:
    args = dict(request.view_args or {})
    args.update(request.args.to_dict())
    args["page"] = page
    return url_for(request.endpoint, **args)


def _context():
    user = current_user
    nav = sorted(gather("lms_gather_nav_items", user=user), key=lambda i: i.order)
    admin = (
        sorted(gather("lms_gather_admin_items", user=user), key=lambda i: i.order)
        if user.is_authenticated
        else []
    )
    return {
        "nav_items": nav,
        "admin_items": admin,
        # The default name has an English translation; a configured name is shown as configured.
        "site_name": _(current_app.config["SITE_NAME"]),
        "current_locale": str(get_locale()),
    }


def init_app(app: Flask) -> None:
    app.context_processor(_context)
    app.jinja_env.filters["local_dt"] = local_dt
    app.jinja_env.filters["hours"] = hours
    app.jinja_env.globals["url_for_page"] = url_for_page
