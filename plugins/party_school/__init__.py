"""党员e家: required-course assignments, pushed study materials, trainings and branch life with check-in,
and PDF credit-hour statements and course certificates with a public verification page."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.plugins import Plugin, hookimpl
from plugins.party_school import models  # noqa: F401  (registers the party_school_ tables)


class PartySchoolPlugin(Plugin):
    name = "party_school"
    title = "党员e家"
    version = "0.1.0"
    description = "Assignments of required courses, study materials, trainings, branch life and certificates."
    default_config = {
        # E-mail for pushed study materials; empty host: in-app notifications only.
        "PARTY_SCHOOL_SMTP_HOST": "",
        "PARTY_SCHOOL_SMTP_PORT": 25,
        "PARTY_SCHOOL_SMTP_USER": "",
        "PARTY_SCHOOL_SMTP_PASSWORD": "",
        "PARTY_SCHOOL_SMTP_FROM": "",
        "PARTY_SCHOOL_SMTP_STARTTLS": False,
        "PARTY_SCHOOL_SMTP_SSL": False,
        "PARTY_SCHOOL_SMTP_TIMEOUT": 15,
        # When set, people without an address of their own get <login id>@<domain> (the campus mail).
        "PARTY_SCHOOL_MAIL_DOMAIN": "",
        "PARTY_SCHOOL_FILE_MAX_BYTES": 20 * 1024 * 1024,
        "PARTY_SCHOOL_CHARS_PER_MINUTE": 400,
        "PARTY_SCHOOL_PDF_SECONDS_PER_PAGE": 60,
        "PARTY_SCHOOL_MIN_READING_SECONDS": 30,
        "PARTY_SCHOOL_HEARTBEAT_SECONDS": 15,
        "PARTY_SCHOOL_HEARTBEAT_MAX_SECONDS": 60,
        # Check-in opens this many minutes before a session and closes this many after its end.
        "PARTY_SCHOOL_CHECKIN_EARLY_MINUTES": 30,
        "PARTY_SCHOOL_CHECKIN_LATE_MINUTES": 30,
        "PARTY_SCHOOL_CHECKIN_MAX_FAILURES": 10,
        # The issuing organization printed on statements; empty: the top of the person's org tree.
        "PARTY_SCHOOL_ISSUER": "",
    }

    def init_app(self, app):
        from lms.quarantine.services import register_kind
        from plugins.party_school import tasks  # noqa: F401  (registers the mail task with the queue)

        register_kind(app, "party_school.material", _l("学习资料文档"))

    @hookimpl
    def lms_gather_personal_data(self, user):
        from plugins.party_school.personal_data import gather

        return gather(user)

    @hookimpl
    def lms_event_person_erase(self, user, erasure):
        from plugins.party_school.personal_data import erase

        erase(user, erasure)

    @hookimpl
    def lms_load_blueprints(self, app):
        from plugins.party_school.views import bp

        return bp

    @hookimpl
    def lms_gather_nav_items(self, user):
        from lms.ui import NavItem

        if not user.is_authenticated:
            return []
        from plugins.party_school import services

        return [NavItem(label=str(_l("党员e家")), endpoint="party_school.my", order=25,
                        badge=services.pending_count(user) or None)]

    @hookimpl
    def lms_gather_admin_items(self, user):
        from lms.ui import NavItem
        from plugins.party_school import services

        if not services.is_manager(user):
            return []
        return [
            NavItem(label=str(_l("学习任务")), endpoint="party_school.assignments", order=40),
            NavItem(label=str(_l("推送学习资料")), endpoint="party_school.materials_admin", order=41),
            NavItem(label=str(_l("培训与组织生活")), endpoint="party_school.sessions_admin", order=42),
        ]

    @hookimpl
    def lms_event_person_transferred(self, user, old_unit, new_unit):
        from plugins.party_school import services

        services.resolve_assignments(user, reason="transfer")

    @hookimpl
    def lms_tpl_credits_my(self, person, year, summary, own):
        from plugins.party_school import services

        return services.credits_slot(person, year, summary, own)

    @hookimpl
    def lms_load_demo_data(self, demo):
        from plugins.party_school.demo import load

        load(demo)
