"""Time helpers: the database stores naive UTC; the UI shows Asia/Shanghai."""
from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC now (what every DateTime column holds)."""
    return datetime.now(UTC).replace(tzinfo=None)
