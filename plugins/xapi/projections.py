"""Learning progress per person × activity, projected from the person's non-voided statements.

Each affected (person, activity) pair is recomputed from its statements, so applying a statement twice
changes nothing and voiding one takes its effect away.
"""
from __future__ import annotations

import json

from sqlalchemy import delete, select

from lms.extensions import db
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
    pairs: set[tuple[int, str]] = set()
    for s, pid in zip(stored, persons, strict=True):
        obj = s["object"]
        if pid is not None and obj.get("objectType", "Activity") == "Activity":
            pairs.add((pid, obj["id"]))
    if voided_ids:
        for pid, key in db.session.execute(
            select(XapiStatement.person_id, XapiStatement.object_key).where(
                XapiStatement.statement_id.in_(voided_ids),
                XapiStatement.person_id.is_not(None),
                XapiStatement.object_type == "Activity",
            )
        ):
            pairs.add((pid, key))
    for pid, activity_id in sorted(pairs):
        recompute(pid, activity_id)


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
    progress = 0.0
    completion = False
    completed_at = None
    success = None
    best = None
    seconds = 0.0
    name = None
    for data, ts in rows:
        s = json.loads(data)
        name = _name(s["object"].get("definition")) or name
        res = s.get("result") or {}
        p = _progress_of(res)
        if p is not None:
            progress = max(progress, p)
        if s["verb"]["id"] in COMPLETING_VERBS or res.get("completion") is True:
            if not completion:
                completed_at = ts
            completion = True
        if s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/passed":
            success = True
        elif s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/failed":
            success = False
        if isinstance(res.get("success"), bool):
            success = res["success"]
        scaled = (res.get("score") or {}).get("scaled")
        if scaled is None and res.get("score"):
            sc = res["score"]
            if "raw" in sc and sc.get("max"):
                scaled = (sc["raw"] - sc.get("min", 0)) / (sc["max"] - sc.get("min", 0))
        if scaled is not None:
            best = scaled if best is None else max(best, scaled)
        if "duration" in res:
            seconds += v.duration_seconds(res["duration"])
    if completion:
        progress = 100.0
    row.progress = round(progress, 2)
    row.completion = completion
    row.completed_at = completed_at
    row.success = success
    row.score_scaled = best
    row.effective_seconds = seconds
    row.statement_count = len(rows)
    row.first_seen = rows[0][1]
    row.last_seen = rows[-1][1]
    row.activity_name = name or row.activity_name
    db.session.flush()
    return row
