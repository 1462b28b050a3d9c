"""Record integrity (PI-04): an HMAC-SHA256 seal per important record (credit hours, completions, grades).

A sealed table has a nullable `seal` column (`seal_column()`) holding

    s1:<key id>:<base64url(HMAC-SHA256(sub-key, canonical fields))>

over the record's important fields, its natural key (whose record it is) among them, so a value changed
in SQL, or a seal copied from another row, no longer verifies. The sub-key is derived from the
field-encryption key (`DATA_KEY`, see `lms.accounts.crypto`) and never stored; the key id says which key
sealed the row, so seals written before a key rotation still verify with `DATA_KEYS_OLD` until
`flask lms data-key-rotate` re-seals them.

Tables are declared with `SealedTable` through the hook `lms_gather_sealed_tables` (the core's modules and
plugins alike). Every ORM insert or update of such a row is sealed in the flush (`before_insert` /
`before_update`): no extra query, one HMAC per written row. Code that writes these tables with Core
statements seals the values itself with `seal_values(table, values)`. `flask lms integrity-check`
verifies every row (`check_all`); `--seal-missing` seals rows written before the seal column existed.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from flask import current_app, has_app_context
from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, Numeric, String, event, select
from sqlalchemy.orm import mapped_column

from lms.extensions import db

log = logging.getLogger(__name__)

PREFIX = "s1"
SEAL_LENGTH = 64  # "s1:" + 8 + ":" + 43


def seal_column():
    """The `seal` column of a sealed model (NULL only on rows written before sealing existed)."""
    return mapped_column(String(SEAL_LENGTH), nullable=True, default=None)


@dataclass(frozen=True)
class SealedTable:
    """An important table: `fields` are the sealed columns; `key` names the record in reports."""

    table: str
    fields: tuple[str, ...]
    key: tuple[str, ...]
    label: str = ""


@dataclass
class CheckResult:
    checked: int = 0
    tampered: list[str] = field(default_factory=list)
    unsealed: dict[str, list[int]] = field(default_factory=dict)
    old_key: int = 0

    @property
    def ok(self) -> bool:
        return not self.tampered and not any(self.unsealed.values())


# --- canonical form --------------------------------------------------------------------------------------
def _number(value) -> str:
    text = format(Decimal(str(value)).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _canonical_value(kind: str, scale: int | None, value):
    """The value as the database gives it back, whatever Python type the writer used."""
    if value is None:
        return None
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "numeric":
        d = Decimal(str(value))
        if scale is not None:
            d = d.quantize(Decimal(1).scaleb(-scale))
        return _number(d)
    if kind == "float":
        return _number(float(value))
    if kind == "datetime":
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if kind == "date":
        return value.isoformat() if isinstance(value, date) else str(value)
    if kind == "json":
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def _kind(column) -> tuple[str, int | None]:
    t = column.type
    if isinstance(t, Boolean):
        return "bool", None
    if isinstance(t, Float):
        return "float", None
    if isinstance(t, Numeric):
        return "numeric", t.scale
    if isinstance(t, Integer):
        return "int", None
    if isinstance(t, DateTime):
        return "datetime", None
    if isinstance(t, Date):
        return "date", None
    if isinstance(t, JSON):
        return "json", None
    return "text", None


class _Layout:
    """A sealed table's fields with their kinds and Python-side defaults (built once per table)."""

    def __init__(self, spec: SealedTable, table):
        self.spec = spec
        self.columns = [table.c[name] for name in spec.fields]
        self.kinds = [_kind(c) for c in self.columns]
        self.name = spec.table.encode()

    def message(self, values: Iterable) -> bytes:
        canon = [_canonical_value(k, s, v) for (k, s), v in zip(self.kinds, values, strict=True)]
        return self.name + b"\x00" + json.dumps(canon, ensure_ascii=False, separators=(",", ":")).encode()


# --- keys ------------------------------------------------------------------------------------------------
class Sealer:
    """Seals with the current data key's sub-key; verifies with any configured key's sub-key."""

    def __init__(self, current: str, old: list[str] | None = None):
        from lms.accounts.crypto import key_id, parse_key

        def sub(raw):
            key = parse_key(raw)
            return key_id(key), hmac.new(key, b"lms-record-seal", hashlib.sha256).digest()

        self.current_id, current_key = sub(current)
        self._keys = {self.current_id: current_key}
        for raw in old or []:
            kid, k = sub(raw)
            self._keys.setdefault(kid, k)
        self._prefix = f"{PREFIX}:{self.current_id}:"

    def _mac(self, key: bytes, message: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode().rstrip("=")

    def seal(self, message: bytes) -> str:
        return self._prefix + self._mac(self._keys[self.current_id], message)

    def verify(self, seal: str, message: bytes) -> str:
        """"ok", "old" (valid, but sealed with an older key) or "bad"."""
        try:
            prefix, kid, mac = seal.split(":", 2)
        except ValueError:
            return "bad"
        key = self._keys.get(kid)
        if prefix != PREFIX or key is None:
            return "bad"
        if not hmac.compare_digest(mac, self._mac(key, message)):
            return "bad"
        return "ok" if kid == self.current_id else "old"


class _State:
    """Per app: the sealer and the sealed tables by name (the hook is asked once)."""

    def __init__(self, app):
        from lms.plugins import hook

        self.sealer = Sealer(app.config["DATA_KEY"], list(app.config.get("DATA_KEYS_OLD") or []))
        specs: list[SealedTable] = []
        with app.app_context():
            for result in hook().lms_gather_sealed_tables():
                specs.extend(result or [])
        self.layouts = {s.table: _Layout(s, db.metadata.tables[s.table]) for s in specs}


def _state(app=None) -> _State:
    app = app or current_app._get_current_object()
    state = app.extensions.get("lms_record_seal")
    if state is None:
        state = app.extensions["lms_record_seal"] = _State(app)
    return state


def sealed_tables(app=None) -> list[SealedTable]:
    return [lay.spec for lay in _state(app).layouts.values()]


def seal_values(table: str, values: Mapping) -> str:
    """The seal of a row of `table` with these values (for writes made with Core statements)."""
    state = _state()
    lay = state.layouts[table]
    return state.sealer.seal(lay.message(values.get(name) for name in lay.spec.fields))


def bulk_sealer(app=None):
    """`seal(table, values)` usable outside the app context (bulk loaders such as benchmarks/stats.py)."""
    state = _state(app)

    def seal(table: str, values: Mapping) -> str:
        lay = state.layouts[table]
        return state.sealer.seal(lay.message(values.get(name) for name in lay.spec.fields))

    return seal


def seal_object(obj, **changes) -> str:
    """The seal of an ORM object of a sealed table with its current values, `changes` applied (for a Core
    UPDATE of some of its columns)."""
    state = _state()
    lay = state.layouts[obj.__table__.name]
    return state.sealer.seal(lay.message(changes[n] if n in changes else getattr(obj, n) for n in lay.spec.fields))


# --- sealing in the flush -----------------------------------------------------------------------------------
def _layout_for(mapper):
    if not has_app_context():
        return None
    return _state().layouts.get(mapper.local_table.name)


@event.listens_for(db.Model, "before_insert", propagate=True)
def _seal_insert(mapper, connection, target):
    lay = _layout_for(mapper)
    if lay is None:
        return
    # Column defaults are applied by the INSERT; apply them now so the seal covers what is stored.
    for col in lay.columns:
        if getattr(target, col.key) is None and col.default is not None and not col.default.is_sequence:
            arg = col.default.arg
            setattr(target, col.key, arg(None) if col.default.is_callable else arg)
    target.seal = _state().sealer.seal(lay.message(getattr(target, c.key) for c in lay.columns))


@event.listens_for(db.Model, "before_update", propagate=True)
def _seal_update(mapper, connection, target):
    lay = _layout_for(mapper)
    if lay is None:
        return
    target.seal = _state().sealer.seal(lay.message(getattr(target, c.key) for c in lay.columns))


# --- verifying, sealing legacy rows, re-sealing after a key rotation -----------------------------------------
def _rows(table, lay: _Layout, batch: int, where=None):
    t = db.metadata.tables[table]
    last = None
    while True:
        q = select(t.c.id, t.c.seal, *lay.columns).order_by(t.c.id).limit(batch)
        if last is not None:
            q = q.where(t.c.id > last)
        if where is not None:
            q = q.where(where(t))
        rows = db.session.execute(q).all()
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def _describe(lay: _Layout, row) -> str:
    named = dict(zip(lay.spec.fields, row[2:], strict=True))
    key = " ".join(f"{k}={named[k]}" for k in lay.spec.key if k in named)
    return f"{lay.spec.table} id={row[0]} ({lay.spec.label}: {key})" if lay.spec.label else \
        f"{lay.spec.table} id={row[0]} ({key})"


def check_all(batch: int = 2000) -> CheckResult:
    """Verify every row of every sealed table (read-only)."""
    state = _state()
    result = CheckResult()
    for name, lay in state.layouts.items():
        missing = result.unsealed.setdefault(name, [])
        for rows in _rows(name, lay, batch):
            for row in rows:
                result.checked += 1
                if row[1] is None:
                    missing.append(row[0])
                    continue
                verdict = state.sealer.verify(row[1], lay.message(row[2:]))
                if verdict == "bad":
                    result.tampered.append(_describe(lay, row))
                elif verdict == "old":
                    result.old_key += 1
    return result


def _write_seals(name: str, todo: list[dict]) -> None:
    from sqlalchemy import bindparam

    t = db.metadata.tables[name]
    db.session.execute(t.update().where(t.c.id == bindparam("row_id")).values(seal=bindparam("new_seal")), todo)


def seal_missing(batch: int = 500) -> dict[str, int]:
    """Seal the rows that have no seal (written before sealing existed); one commit per batch."""
    state = _state()
    counts = {}
    for name, lay in state.layouts.items():
        done = 0
        for rows in _rows(name, lay, batch, where=lambda t: t.c.seal.is_(None)):
            _write_seals(name, [{"row_id": r[0], "new_seal": state.sealer.seal(lay.message(r[2:]))} for r in rows])
            db.session.commit()
            done += len(rows)
        counts[name] = done
    return counts


def reseal(batch: int = 500) -> tuple[dict[str, int], list[str]]:
    """Re-seal with the current key the rows sealed with an older key; rows whose seal does not verify are
    left as they are (re-sealing them would hide the tampering) and returned."""
    state = _state()
    counts, bad = {}, []
    for name, lay in state.layouts.items():
        done = 0
        for rows in _rows(name, lay, batch):
            todo = []
            for r in rows:
                if r[1] is None or r[1].startswith(state.sealer._prefix):
                    continue
                message = lay.message(r[2:])
                if state.sealer.verify(r[1], message) == "old":
                    todo.append({"row_id": r[0], "new_seal": state.sealer.seal(message)})
                else:
                    bad.append(_describe(lay, r))
            if todo:
                _write_seals(name, todo)
                db.session.commit()
                done += len(todo)
        counts[name] = done
    return counts, bad
