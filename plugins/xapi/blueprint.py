"""The one blueprint `xapi`: the LRS (views.py) and the pages (pages.py) add their routes to it."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("xapi", __name__, template_folder="templates")
