"""Views of the people area."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("people", __name__)
