"""PI-01: the columns flagged as personal information are exactly those of docs/pi-inventory.toml, each with a
purpose, a legal basis (PIPL art. 13) and a retention period."""
from __future__ import annotations

import tomllib
from pathlib import Path

INVENTORY = Path(__file__).resolve().parent.parent / "docs" / "pi-inventory.toml"


def _flagged(metadata) -> set[str]:
    return {f"{t.name}.{c.name}" for t in metadata.sorted_tables for c in t.columns if c.info.get("pi")}


def _inventory() -> dict:
    with INVENTORY.open("rb") as fh:
        return tomllib.load(fh)["fields"]


def test_flagged_columns_equal_the_inventory(app):
    from lms.extensions import db

    registry = app.extensions["lms_plugins"]
    assert set(registry.enabled) == set(registry.installed)  # every plugin's models are in the metadata
    flagged, listed = _flagged(db.metadata), set(_inventory())
    assert flagged - listed == set(), "flagged pi=True but missing from docs/pi-inventory.toml"
    assert listed - flagged == set(), "in docs/pi-inventory.toml but not a column flagged pi=True"
    # the kinds of personal information the checklist names are among them
    assert {"user.name", "user.login_id", "user.phone", "user.org_unit_id", "user.category", "user.joined_on",
            "user.totp_secret", "user_session.ip", "user_session.user_agent", "login_attempt.ip",
            "audit_log.ip"} <= flagged


def test_every_inventory_field_has_a_purpose_a_legal_basis_and_a_retention():
    missing = [(name, key) for name, entry in _inventory().items()
               for key in ("purpose", "legal_basis", "retention") if not str(entry.get(key, "")).strip()]
    assert missing == []
    not_art_13 = [name for name, entry in _inventory().items() if "第十三条" not in entry["legal_basis"]]
    assert not_art_13 == []
