"""Learning progress per person × activity, projected from the person's non-voided statements.

Each affected (person, activity) pair is recomputed from its statements, so applying a statement twice
changes nothing and voiding one takes its effect away.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

from sqlalchemy import delete, select

from lms.extensions import db
from lms.timeutil import utcnow
from plugins.xapi import validation as v
from plugins.xapi.models import XapiProgress, XapiStatement

COMPLETING_VERBS = {
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/passed",
    "http://adlnet.gov/expapi/verbs/mastered",
}
# progress extension IRI → factor to percent (cmi5 reports 0–100, the video profile 0–1)
PROGRESS_EXTENSIONS = {
    "https://w3id.org/xapi/cmi5/result/extensions/progress": 1.0,
    "https://w3id.org/xapi/video/extensions/progress": 100.0,
}


def apply(stored: list[dict], persons: list[int | None], voided_ids: list[str]) -> None:
    """Bring the progress rows up to date after `stored` (new statements) and `voided_ids` were written.

    A pair that received one new statement no older than the row's last one is updated in place from that
    statement alone (the common case: a member's next statement); any other pair — a first statement, several in
    one batch, an older timestamp arriving late, a voided statement — is recomputed from all its statements."""
    new_by_pair: dict[tuple[int, str], list[dict]] = {}
    for s, pid in zip(stored, persons, strict=True):
        obj = s["object"]
        if pid is not None and obj.get("objectType", "Activity") == "Activity":
            new_by_pair.setdefault((pid, obj["id"]), []).append(s)
    full: set[tuple[int, str]] = set()
    if voided_ids:
        for pid, key in db.session.execute(
            select(XapiStatement.person_id, XapiStatement.object_key).where(
                XapiStatement.statement_id.in_(voided_ids),
                XapiStatement.person_id.is_not(None),
                XapiStatement.object_type == "Activity",
            )
        ):
            full.add((pid, key))
    single = {pair: stmts[0] for pair, stmts in new_by_pair.items() if len(stmts) == 1 and pair not in full}
    full |= set(new_by_pair) - set(single)
    if single:
        rows = _rows_for(list(single))
        first = []
        for pair in sorted(single):
            row = rows.get(pair)
            if row is None:
                # No row means no earlier non-voided statement of the pair (a row exists exactly while the
                # pair has some): this statement alone makes it, as a recompute would.
                first.append(_first_row(pair, single[pair]))
            elif not _apply_one(row, single[pair]):
                full.add(pair)
        db.session.flush()
        if first:
            from plugins.xapi.services import insert_rows

            insert_rows(XapiProgress.__table__, first)
    for pid, activity_id in sorted(full):
        recompute(pid, activity_id)


def _rows_for(pairs: list[tuple[int, str]]) -> dict[tuple[int, str], XapiProgress]:
    """The existing progress rows of `pairs`, one query per person."""
    by_person: dict[int, list[str]] = {}
    for pid, aid in pairs:
        by_person.setdefault(pid, []).append(aid)
    out = {}
    for pid, aids in by_person.items():
        for row in db.session.scalars(select(XapiProgress).where(
                XapiProgress.person_id == pid, XapiProgress.activity_id.in_(aids))):
            out[(pid, row.activity_id)] = row
    return out


_ROW_FIELDS = ("activity_name", "progress", "completion", "completed_at", "success", "score_scaled",
               "effective_seconds")


def _first_row(pair: tuple[int, str], s: dict) -> dict:
    """The row of a pair's first statement, as a dict for a Core insert."""
    ts = v.parse_timestamp(s["timestamp"])
    row = SimpleNamespace(activity_name=None, progress=0.0, completion=False, completed_at=None, success=None,
                          score_scaled=None, effective_seconds=0.0)
    _fold(row, s, ts)
    return {"person_id": pair[0], "activity_id": pair[1], **{f: getattr(row, f) for f in _ROW_FIELDS},
            "statement_count": 1, "first_seen": ts, "last_seen": ts, "updated_at": utcnow()}


def _apply_one(row: XapiProgress, s: dict) -> bool:
    """Fold one statement that comes after every statement `row` was computed from into it, exactly as
    `recompute` would; False (nothing changed) when it does not come last, so the caller recomputes."""
    ts = v.parse_timestamp(s["timestamp"])
    if row.last_seen is None or ts < row.last_seen:
        return False
    _fold(row, s, ts)
    row.statement_count = (row.statement_count or 0) + 1
    row.last_seen = ts
    return True


def _fold(row: XapiProgress, s: dict, ts) -> None:
    """The effect of one statement, in (timestamp, id) order, on a progress row (recompute's loop body)."""
    row.activity_name = _name(s["object"].get("definition")) or row.activity_name
    res = s.get("result") or {}
    p = _progress_of(res)
    if p is not None:
        row.progress = round(max(row.progress or 0.0, p), 2)
    if s["verb"]["id"] in COMPLETING_VERBS or res.get("completion") is True:
        if not row.completion:
            row.completed_at = ts
        row.completion = True
    if row.completion:
        row.progress = 100.0
    if s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/passed":
        row.success = True
    elif s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/failed":
        row.success = False
    if isinstance(res.get("success"), bool):
        row.success = res["success"]
    scaled = _scaled(res)
    if scaled is not None:
        row.score_scaled = scaled if row.score_scaled is None else max(row.score_scaled, scaled)
    if "duration" in res:
        row.effective_seconds = (row.effective_seconds or 0.0) + v.duration_seconds(res["duration"])


def _scaled(res: dict) -> float | None:
    sc = res.get("score") or {}
    scaled = sc.get("scaled")
    if scaled is None and sc and "raw" in sc and sc.get("max"):
        scaled = (sc["raw"] - sc.get("min", 0)) / (sc["max"] - sc.get("min", 0))
    return scaled


def _name(definition: dict | None) -> str | None:
    names = (definition or {}).get("name") or {}
    for lang in ("zh-CN", "zh", "en-US", "en"):
        if lang in names:
            return names[lang][:255]
    return next(iter(names.values()), None) if names else None


def _progress_of(res: dict) -> float | None:
    ext = res.get("extensions") or {}
    for key, factor in PROGRESS_EXTENSIONS.items():
        val = ext.get(key)
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            return max(0.0, min(100.0, float(val) * factor))
    return None


def recompute(person_id: int, activity_id: str) -> XapiProgress | None:
    rows = db.session.execute(
        select(XapiStatement.data, XapiStatement.timestamp)
        .where(
            XapiStatement.person_id == person_id,
            XapiStatement.object_type == "Activity",
            XapiStatement.object_key == activity_id,
            XapiStatement.voided.is_(False),
        )
        .order_by(XapiStatement.timestamp, XapiStatement.id)
    ).all()
    row = db.session.scalar(
        select(XapiProgress).where(XapiProgress.person_id == person_id, XapiProgress.activity_id == activity_id)
    )
    if not rows:
        if row is not None:
            db.session.execute(delete(XapiProgress).where(XapiProgress.id == row.id))
        return None
    if row is None:
        row = XapiProgress(person_id=person_id, activity_id=activity_id)
        db.session.add(row)
    row.progress = 0.0
    row.completion = False
    row.completed_at = None
    row.success = None
    row.score_scaled = None
    row.effective_seconds = 0.0
    old_name, row.activity_name = row.activity_name, None
    for data, ts in rows:
        _fold(row, json.loads(data), ts)
    row.activity_name = row.activity_name or old_name
    row.statement_count = len(rows)
    row.first_seen = rows[0][1]
    row.last_seen = rows[-1][1]
    db.session.flush()
    return row
