"""Views of the org area."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("org", __name__)


@bp.route("/org")
def tree():
    return ""
