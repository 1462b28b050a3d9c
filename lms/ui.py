"""Small value types plugins hand to the core through gathering hooks."""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup


@dataclass(frozen=True)
class NavItem:
    label: str  # already translated (use lazy_gettext/gettext in the plugin)
    endpoint: str
    order: int = 100
    icon: str = ""
    badge: int | None = None
    values: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Widget:
    title: str
    html: Markup
    order: int = 100
