"""Honest reading time, shared by every page that credits reading (article lessons, pushed materials).

The page reports while it is visible; the server credits min(claimed, seconds since the previous report,
a per-report cap), so a forged request cannot claim ten minutes after ten seconds and two open tabs share
one clock. The first report only starts the clock.
"""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _


class ReportError(ValueError):
    """A malformed report; the message is for the reader."""


def parse_report(data) -> tuple[float, bool]:
    """(claimed seconds, reached the end) from a report's JSON body."""
    if not isinstance(data, dict):
        raise ReportError(_("请求格式不正确。"))
    try:
        seconds = float(data.get("seconds", 0) or 0)
    except (TypeError, ValueError):
        raise ReportError(_("阅读时长格式不正确。")) from None
    if seconds != seconds or seconds < 0:  # NaN or negative
        raise ReportError(_("阅读时长格式不正确。"))
    return seconds, bool(data.get("end"))


def credit(state, *, claimed: float, reached_end: bool, now: datetime, cap: float) -> int:
    """Credit one report on `state` (any row with last_beat_at and reached_end_at); returns whole seconds."""
    credited = 0
    if state.last_beat_at is not None:
        elapsed = max(0.0, (now - state.last_beat_at).total_seconds())
        credited = int(min(max(0.0, float(claimed or 0)), elapsed, float(cap)))
    state.last_beat_at = now
    if reached_end and state.reached_end_at is None:
        state.reached_end_at = now
    return credited
