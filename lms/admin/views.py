"""Views of the admin area."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__)


@bp.route("/admin/plugins")
def plugins():
    return ""
