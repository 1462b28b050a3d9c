"""Learning records: a conformant xAPI 1.0.3 LRS, the event path from every plugin, forwarding and progress."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, url_for
from flask_babel import lazy_gettext as _l

from lms.plugins import Plugin, hookimpl

MAX_CLIENT_DAYS = 365  # AUTH-08: no LRS key is valid longer than this


@dataclass
class XapiService:
    """What other plugins may use (`current_app.extensions['xapi']`): where browser pages post statements."""

    def browser_endpoint(self) -> str:
        """Same-origin URL taking session-authenticated, CSRF-protected statement POSTs (see pages.browser_statements)."""
        return url_for("xapi.browser_statements")

    def lrs_endpoint(self) -> str:
        return url_for("xapi.about").rsplit("/about", 1)[0] + "/"


class XapiPlugin(Plugin):
    name = "xapi"
    title = "学习记录（xAPI）"
    version = "0.1.0"
    description = "xAPI 1.0.3 learning record store, learning-event recording, forwarding and progress."
    default_config = {
        "XAPI_FORWARD_URL": "",  # e.g. https://lrs.example.org/xapi/ ; empty: no forwarding
        "XAPI_FORWARD_KEY": "",
        "XAPI_FORWARD_SECRET": "",
        # XAPI-06: a request without attachments (statements, documents) may carry this many bytes (413 above);
        # a multipart/mixed request (statements with attachments) up to XAPI_MAX_ATTACHMENT_REQUEST_BYTES.
        "XAPI_MAX_BODY_BYTES": 2 * 1024**2,
        "XAPI_MAX_ATTACHMENT_REQUEST_BYTES": 32 * 1024**2,
        # AUTH-08: failed Basic authentications per client IP per rolling minute; more get 429 (even good ones).
        "XAPI_AUTH_FAILURES_PER_MINUTE": 10,
        # AUTH-08: a client key is valid this many days after creation or renewal (at most 365).
        "XAPI_CLIENT_DAYS": 365,
    }

    def init_app(self, app: Flask) -> None:
        from lms.extensions import csrf

        # pages and views add their routes to the blueprint; importing tasks registers the Huey tasks
        from plugins.xapi import hookspecs, pages, tasks, views  # noqa: F401
        from plugins.xapi.blueprint import bp

        days = int(app.config["XAPI_CLIENT_DAYS"])
        if not 1 <= days <= MAX_CLIENT_DAYS:
            raise ValueError(f"XAPI_CLIENT_DAYS must be between 1 and {MAX_CLIENT_DAYS} (AUTH-08), not {days}")
        app.extensions["lms_plugins"].pm.add_hookspecs(hookspecs)
        # The LRS authenticates with HTTP Basic only; the pages' forms (Flask-WTF) and the browser
        # endpoint (csrf.protect()) check the CSRF token themselves.
        csrf.exempt(bp)
        pages.init_filters(app)
        app.extensions["xapi"] = XapiService()

        @app.after_request
        def _kick_forwarding(resp):
            from flask import g

            if g.pop("xapi_forward_pending", False):
                from plugins.xapi.tasks import forward_statements

                try:
                    forward_statements()
                except Exception:  # the statements are safe in the outbox; the periodic task retries
                    logging.getLogger(__name__).exception("could not start forwarding")
            return resp

    @hookimpl
    def lms_gather_personal_data(self, user):
        from plugins.xapi.personal_data import gather

        return gather(user)

    @hookimpl
    def lms_event_person_erase(self, user, erasure):
        from plugins.xapi.personal_data import erase

        erase(user, erasure)

    @hookimpl
    def lms_load_blueprints(self, app):
        from plugins.xapi.blueprint import bp

        return bp

    @hookimpl
    def lms_load_cli_commands(self):
        from plugins.xapi.cli import xapi_group

        return xapi_group

    @hookimpl
    def lms_event_learning(self, event):
        from plugins.xapi.hooks import record_event

        record_event(event)

    @hookimpl
    def lms_gather_nav_items(self, user):
        from lms.ui import NavItem

        if not user.is_authenticated:
            return []
        return [NavItem(label=str(_l("学习记录")), endpoint="xapi.timeline", order=40)]

    @hookimpl
    def lms_gather_admin_items(self, user):
        from lms.authz import can
        from lms.ui import NavItem

        items = []
        if can(user, "view", "people"):
            items.append(NavItem(label=str(_l("成员学习记录")), endpoint="xapi.people", order=30))
        if can(user, "view", "admin:xapi"):
            items.append(NavItem(label=str(_l("学习记录接口")), endpoint="xapi.clients", order=70))
        return items


from plugins.xapi import models  # noqa: E402,F401  (tables are known to migrations even when disabled)
