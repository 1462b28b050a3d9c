"""Training and assessment statistics (培训考核统计): scoped dashboards, drill-down, ledgers, recompute check."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.plugins import Plugin, hookimpl


class StatsPlugin(Plugin):
    name = "stats"
    title = "培训考核统计"
    version = "0.1.0"
    description = ("Dashboards of completion, credit hours, quiz scores and trends scoped to the viewer's "
                   "organization subtree; drill-down to statements; A4 Excel ledgers; a recompute check.")
    # Soft dependencies: statements (xapi) give the drill-down its last step; assignments (party_school)
    # replace courses as the unit of completion when present.
    uses = ("xapi", "party_school", "quiz")
    default_config = {
        "STATS_REMINDS_PER_HOUR": 10,  # one-click reminder batches per person and hour
        "STATS_REMIND_COOLDOWN_HOURS": 24,  # a member is reminded at most once in this many hours
        "STATS_BEHIND_LIST_MAX": 200,  # rows of the 名单 on the page (the export has everyone)
        # With party_school: members behind on an assignment overdue or due within this many days are listed
        # and can be reminded.
        "STATS_ASSIGNMENT_DUE_DAYS": 7,
    }

    def init_app(self, app):
        from lms.exports.services import register_kind
        from plugins.stats import services  # noqa: F401  (registers the reminder texts for translation)
        from plugins.stats.exports import LEDGER

        # The ledger is an export of personal data: limits, masking, watermark, approval (lms.exports, PI-05).
        register_kind(app, LEDGER)

    @hookimpl
    def lms_load_blueprints(self, app):
        from plugins.stats.views import bp

        return bp

    @hookimpl
    def lms_load_cli_commands(self):
        # `flask lms stats-check`: the command joins the core `lms` group (it checks that stats is enabled).
        from lms.cli import lms_group
        from plugins.stats.cli import stats_check

        lms_group.add_command(stats_check)
        return []

    @hookimpl
    def lms_gather_admin_items(self, user):
        from lms.ui import NavItem
        from plugins.stats.services import may_use

        if user.is_authenticated and may_use(user):
            return [NavItem(label=str(_l("培训考核统计")), endpoint="stats.index", order=35)]
        return []
