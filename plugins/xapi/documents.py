"""State, Activity Profile and Agent Profile documents with ETag concurrency and JSON merge."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import delete, select

from lms.extensions import db
from lms.timeutil import utcnow
from plugins.xapi.models import XapiDocument
from plugins.xapi.services import LRSError


class PreconditionFailed(LRSError):
    status = 412


class Conflict(LRSError):
    status = 409


def etag_of(content: bytes) -> str:
    return hashlib.sha1(content, usedforsecurity=False).hexdigest()  # a change tag, not a security hash


def _where(kind: str, activity_id: str = "", agent_key: str = "", registration: str = ""):
    return (
        XapiDocument.kind == kind,
        XapiDocument.activity_id == activity_id,
        XapiDocument.agent_key == agent_key,
        XapiDocument.registration == registration,
    )


def get(kind: str, doc_id: str, **keys) -> XapiDocument | None:
    return db.session.scalar(select(XapiDocument).where(*_where(kind, **keys), XapiDocument.doc_id == doc_id))


def list_ids(kind: str, since: datetime | None = None, **keys) -> list[str]:
    q = select(XapiDocument.doc_id).where(*_where(kind, **keys)).order_by(XapiDocument.doc_id)
    if since is not None:
        q = q.where(XapiDocument.updated > since)
    return list(db.session.scalars(q))


def _etags(header: str | None) -> list[str] | None:
    if header is None:
        return None
    return [t.strip().removeprefix("W/").strip('"') for t in header.split(",") if t.strip()]


def check_preconditions(doc: XapiDocument | None, if_match: str | None, if_none_match: str | None) -> None:
    match = _etags(if_match)
    if match is not None:
        if doc is None or ("*" not in match and doc.etag not in match):
            raise PreconditionFailed("If-Match: the document has changed or does not exist")
    none_match = _etags(if_none_match)
    if none_match is not None and doc is not None and ("*" in none_match or doc.etag in none_match):
        raise PreconditionFailed("If-None-Match: the document already exists")


def put(kind: str, doc_id: str, content: bytes, content_type: str, *, if_match=None, if_none_match=None,
        require_precondition: bool = False, **keys) -> XapiDocument:
    doc = get(kind, doc_id, **keys)
    if require_precondition and if_match is None and if_none_match is None:
        if doc is not None:
            raise Conflict("If-Match: the document exists; send If-Match (or If-None-Match) to change it")
        raise LRSError("If-None-Match: send If-None-Match: * to create the document (or If-Match to change it)")
    check_preconditions(doc, if_match, if_none_match)
    now = utcnow()
    if doc is None:
        doc = XapiDocument(kind=kind, doc_id=doc_id, **keys)
        db.session.add(doc)
    doc.content = content
    doc.content_type = content_type
    doc.etag = etag_of(content)
    doc.updated = now
    db.session.flush()
    return doc


def _json_object(content: bytes, what: str) -> dict:
    try:
        value = json.loads(content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise LRSError(f"{what}: must be a JSON object to be merged") from None
    if not isinstance(value, dict):
        raise LRSError(f"{what}: must be a JSON object to be merged")
    return value


def post(kind: str, doc_id: str, content: bytes, content_type: str, *, if_match=None, if_none_match=None,
         **keys) -> XapiDocument:
    """Merge a JSON object into the document (top-level keys of the new one win), or create it."""
    doc = get(kind, doc_id, **keys)
    check_preconditions(doc, if_match, if_none_match)
    is_json = content_type.split(";")[0].strip().lower() == "application/json"
    if doc is None:
        if is_json:
            _json_object(content, "body")
        return put(kind, doc_id, content, content_type, **keys)
    if not is_json or doc.content_type.split(";")[0].strip().lower() != "application/json":
        raise LRSError("Content-Type: both the stored and the posted document must be application/json to merge")
    new = _json_object(content, "body")
    old = _json_object(doc.content, "the stored document")
    old.update(new)
    merged = json.dumps(old, ensure_ascii=False, separators=(",", ":")).encode()
    doc.content = merged
    doc.etag = etag_of(merged)
    doc.updated = utcnow()
    db.session.flush()
    return doc


def remove(kind: str, doc_id: str | None, *, if_match=None, if_none_match=None, **keys) -> None:
    if doc_id is None:
        db.session.execute(delete(XapiDocument).where(*_where(kind, **keys)))
        return
    doc = get(kind, doc_id, **keys)
    check_preconditions(doc, if_match, if_none_match) if (if_match or if_none_match) else None
    if doc is not None:
        db.session.delete(doc)
        db.session.flush()
