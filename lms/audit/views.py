"""Views of the audit area."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("audit", __name__)


@bp.route("/admin/audit")
def index():
    return ""
