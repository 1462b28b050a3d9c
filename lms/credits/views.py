"""Views of the credits area."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("credits", __name__)
