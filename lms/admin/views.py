"""Views of the admin area: installed plugins and the system page (sysadmin only)."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import login_required

from lms.admin import services
from lms.authz import VIEW, require
from lms.plugins import registry

# The admin area's own stylesheet lives beside it, served at /static/admin/.
bp = Blueprint("admin", __name__, static_folder="static", static_url_path="/static/admin")


@bp.route("/admin/plugins")
@login_required
def plugins():
    require(VIEW, "admin:plugins")
    rows = services.plugin_infos(registry())
    return render_template(
        "admin/plugins.html",
        rows=rows,
        setting=services.plugins_setting(current_app),
        enabled_count=sum(1 for r in rows if r.enabled),
    )


@bp.route("/admin/system")
@login_required
def system():
    require(VIEW, "admin:system")
    return render_template("admin/system.html", info=services.system_info(current_app))
