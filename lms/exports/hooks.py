"""The exports page in the administration menu, for the roles that export personal data or approve exports."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from lms.plugins import hookimpl
from lms.ui import NavItem


@hookimpl
def lms_gather_admin_items(user):
    from lms.exports.services import APPROVER_ROLES

    if user.is_authenticated and user.role_names & set(APPROVER_ROLES):
        return [NavItem(label=str(_l("数据导出审批")), endpoint="exports.index", order=36)]
    return []
