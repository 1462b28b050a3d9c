"""The statement store: saving (conflicts, voiding, attachments, signatures), querying and formatting statements."""
from __future__ import annotations

import base64
import copy
import fcntl
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, false, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from lms.extensions import db
from lms.ids import uuid7
from lms.timeutil import utcnow
from plugins.xapi import validation as v
from plugins.xapi.models import (
    XapiActivity,
    XapiAttachment,
    XapiStatement,
    XapiStatementActivity,
    XapiStatementAgent,
)

log = logging.getLogger(__name__)

VERSION = "1.0.3"
MAX_LIMIT = 1000
QUERY_PARAMS = {"agent", "verb", "activity", "registration", "related_activities", "related_agents", "since",
                "until", "limit", "format", "attachments", "ascending"}


class LRSError(Exception):
    """An error the LRS answers with `status` and a JSON message naming the problem."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class Conflict(LRSError):
    status = 409


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def now_ms() -> datetime:
    n = utcnow()
    return n.replace(microsecond=n.microsecond // 1000 * 1000)


# --- saving ---------------------------------------------------------------------------------------
@dataclass
class Part:
    """One attachment part of a multipart/mixed request."""

    content_type: str
    content: bytes
    sha2: str


@dataclass
class SaveResult:
    ids: list[str]
    stored: list[dict] = field(default_factory=list)  # statements newly stored (not duplicates)


def _equivalent(a: dict, b: dict) -> bool:
    """Two statements are the same when they agree on everything the client sent (not LRS-set fields).

    `a` is the stored (or first) one; a timestamp the LRS filled in does not count when `b` has none.
    """
    ignore = {"stored", "authority", "version", "id"}
    if "timestamp" not in b and a.get("timestamp") == a.get("stored"):
        ignore.add("timestamp")

    def norm(s):
        out = {k: s[k] for k in s if k not in ignore}
        return json.loads(dumps(out))

    return norm(a) == norm(b)


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def verify_signature(stmt: dict, jws: bytes) -> None:
    """Check a signed statement: a well-formed RS256/384/512 JWS whose payload is this statement."""
    try:
        header_b64, payload_b64, sig_b64 = jws.decode("ascii").strip().split(".")
        header = json.loads(_b64url(header_b64))
        payload = json.loads(_b64url(payload_b64))
        signature = _b64url(sig_b64)
    except (ValueError, UnicodeDecodeError):
        raise LRSError("attachments: the signature is not a well-formed JWS (compact serialization)") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise LRSError("attachments: the JWS header and payload must be JSON objects")
    v.normalize(payload)
    alg = header.get("alg")
    if alg not in ("RS256", "RS384", "RS512"):
        raise LRSError("attachments: the JWS algorithm must be RS256, RS384 or RS512")
    mine = {k: val for k, val in stmt.items() if k not in ("attachments", "authority", "stored", "version")}
    theirs = {k: val for k, val in payload.items() if k not in ("attachments", "authority", "stored", "version")}
    if "id" not in theirs:
        mine.pop("id", None)
    if json.loads(dumps(mine)) != json.loads(dumps(theirs)):
        raise LRSError("attachments: the JWS payload does not match the statement it signs")
    if header.get("x5c"):
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
            key = cert.public_key()
            algo = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}[alg]
            key.verify(signature, f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), algo)
        except InvalidSignature:
            raise LRSError("attachments: the JWS signature does not verify with the x5c certificate") from None
        except (ValueError, TypeError, IndexError, AttributeError):
            raise LRSError("attachments: the JWS x5c certificate cannot be read") from None


def _actor_keys(value: dict | None, out: set[str]) -> None:
    if not isinstance(value, dict):
        return
    if any(k in value for k in v.IFI_KEYS):
        out.add(v.agent_key(value))
    for m in value.get("member") or []:
        out.add(v.agent_key(m))


def _related(stmt: dict, agents: set[str], activities: set[str], defs: dict[str, dict], sub=False) -> None:
    _actor_keys(stmt.get("actor"), agents)
    obj = stmt["object"]
    otype = obj.get("objectType", "Activity")
    if otype == "Activity":
        activities.add(obj["id"])
        if "definition" in obj:
            v.merge_definition(defs.setdefault(obj["id"], {}), obj["definition"])
    elif otype in ("Agent", "Group"):
        _actor_keys(obj, agents)
    elif otype == "SubStatement":
        _related(obj, agents, activities, defs, sub=True)
    ctx = stmt.get("context") or {}
    _actor_keys(ctx.get("instructor"), agents)
    _actor_keys(ctx.get("team"), agents)
    for items in (ctx.get("contextActivities") or {}).values():
        for a in items if isinstance(items, list) else [items]:
            activities.add(a["id"])
            if "definition" in a:
                v.merge_definition(defs.setdefault(a["id"], {}), a["definition"])
    if not sub:
        _actor_keys(stmt.get("authority"), agents)


def _object_key(obj: dict) -> tuple[str, str]:
    otype = obj.get("objectType", "Activity")
    if otype == "Activity":
        return otype, obj["id"]
    if otype in ("Agent", "Group"):
        return otype, v.agent_key(obj)
    if otype == "StatementRef":
        return otype, obj["id"].lower()
    return otype, ""


def _person_id(actor: dict, cache: dict) -> int | None:
    acc = actor.get("account") if isinstance(actor, dict) else None
    if not acc:
        return None
    base = current_app.config["BASE_URL"].rstrip("/")
    if acc.get("homePage", "").rstrip("/") != base or not str(acc.get("name", "")).isdigit():
        return None
    pid = int(acc["name"])
    if pid not in cache:
        from lms.accounts.models import User

        cache[pid] = db.session.get(User, pid) is not None
    return pid if cache[pid] else None


def save_statements(
    statements: list[dict],
    *,
    authority: dict,
    client_id: int | None = None,
    parts: list[Part] | None = None,
    put_id: str | None = None,
    commit: bool = False,
) -> SaveResult:
    """Validate and store statements in the current transaction; all or none.

    Raises LRSError (400) for an invalid statement or attachment, Conflict (409) when a statement id
    is taken by a different statement. Statements already stored with the same content are skipped.
    Without `commit` the caller commits (the event path: the statement joins the domain change).
    With `commit` (the LRS, whose transaction has written nothing before) validation runs first and
    the writing part and the commit run under `serialized_writes()`.
    """
    if not statements:
        raise LRSError("statements: the batch is empty")
    parts = parts or []
    parts_by_hash = {p.sha2: p for p in parts}
    for i, s in enumerate(statements):
        try:
            v.statement(s)
            v.normalize(s)
        except v.ValidationError as exc:
            where = f"statement[{i}]." if len(statements) > 1 else ""
            raise LRSError(f"{where}{exc}") from None
    if put_id is not None:
        s = statements[0]
        if "id" in s and s["id"].lower() != put_id.lower():
            raise LRSError("id: the statement's id does not match the statementId parameter")
        s["id"] = put_id

    # Attachments: every one without a fileUrl needs its part; every part must be listed.
    wanted: set[str] = set()
    for s in statements:
        for a in s.get("attachments") or []:
            if a["sha2"] in parts_by_hash:
                wanted.add(a["sha2"])
            elif "fileUrl" not in a:
                raise LRSError(f"attachments: no multipart part carries the attachment with sha2 {a['sha2']}")
            if a["usageType"] == v.SIGNATURE_USAGE:
                part = parts_by_hash.get(a["sha2"])
                if part is None:
                    raise LRSError("attachments: a signature attachment must be sent as a multipart part")
                verify_signature(s, part.content)
    extra = set(parts_by_hash) - wanted
    if extra:
        raise LRSError("attachments: a multipart part matches no attachment of the statements")
    parts = [parts_by_hash[h] for h in wanted]
    if not commit:
        return _store(statements, authority, client_id, parts)
    for attempt in (1, 2):
        prepared = _prepare(statements, authority, client_id)  # outside the lock: no store access
        with serialized_writes(before_waiting=_release_connection):
            try:
                result = _write(prepared, parts)
                db.session.commit()
                return result
            except IntegrityError:
                # a concurrent request stored the same statement id (or activity, attachment) first:
                # start again, now seeing its row (same content → accepted, different → 409)
                db.session.rollback()
                if attempt == 2:
                    raise Conflict("id: a statement with this id was stored concurrently") from None
        _unprepare(prepared)  # undo what this attempt filled in before the next one
    raise AssertionError("unreachable")


def _release_connection() -> None:
    """End the read transaction of a request about to queue for the write lock, so that it holds no pooled
    connection while it waits: many concurrent writers cannot starve the pool (nothing was written yet, so the
    commit costs no fsync)."""
    db.session.commit()


@contextmanager
def serialized_writes(before_waiting=None):
    """On SQLite, queue writers of all server processes on a file lock (woken at once when it is free)
    instead of SQLite's busy handler, which sleeps and retries and wastes most of the time under load.
    `before_waiting` runs only when the lock is taken by another writer, before this one waits for it."""
    if db.engine.dialect.name != "sqlite":
        yield
        return
    path = os.path.join(current_app.instance_path, "xapi-write.lock")
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if before_waiting is not None:
                before_waiting()
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def refresh_statistics() -> None:
    """Keep the query planner's statistics current (SQLite has no autovacuum/ANALYZE of its own): without
    them it may pick the verb index over the far more selective activity or actor index. Sampled, so
    it takes milliseconds at a million statements. PostgreSQL's autovacuum analyzes by itself."""
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        for table in ("xapi_statement", "xapi_statement_agent", "xapi_statement_activity"):
            conn.exec_driver_sql(f"ANALYZE {table}")


@dataclass
class _Prepared:
    """A batch made ready for writing without touching the write lock: ids assigned, duplicates inside the batch
    resolved, rows built. The `stored` time is only known under the lock, so the JSON carries `mark` there."""

    ids: list[str]
    fresh: list[dict]  # the statements to store (first of each id), completed by the LRS
    sent: dict[str, dict]  # id → the statement as the client sent it (what a stored one is compared with)
    generated: set[str]
    rows: list[dict]
    agent_rows: list[dict]
    act_rows: list[dict]
    defs: dict[str, dict]
    mark: str
    stamped: list[dict]  # statements whose timestamp is the stored time


def _prepare(statements: list[dict], authority: dict, client_id: int | None) -> _Prepared:
    mark = f"stored-{uuid7()}"  # unguessable, so it cannot occur in a client's own content
    ids: list[str] = []
    sent: dict[str, dict] = {}
    fresh: list[dict] = []
    generated: set[str] = set()  # ids this LRS assigned now: no stored statement can have one of them
    for s in statements:
        if "id" not in s:
            s["id"] = uuid7()  # time-ordered: the unique index and the side tables' indexes grow at their end
            generated.add(s["id"])
        sid = s["id"].lower()
        ids.append(s["id"])
        if sid in sent:  # xAPI 1.0.3 Communication §2.1.2/§2.1.3: reject the batch with 400 (SHOULD*)
            raise LRSError(f"id: statement {s['id']} appears more than once in the batch")
        sent[sid] = dict(s)
        fresh.append(s)

    person_cache: dict = {}
    rows: list[dict] = []
    agent_rows: list[dict] = []
    act_rows: list[dict] = []
    defs: dict[str, dict] = {}
    stamped: list[dict] = []
    for s in fresh:
        s["stored"] = mark
        s["authority"] = authority
        s.setdefault("version", "1.0.0")
        if "timestamp" not in s:
            s["timestamp"] = mark
            stamped.append(s)
        otype, okey = _object_key(s["object"])
        sid = s["id"].lower()
        actor_key = v.agent_key(s["actor"])
        agents: set[str] = set()
        acts: set[str] = set()
        _related(s, agents, acts, defs)
        # the side tables hold only what the indexed columns (actor, object) do not already cover
        agents.discard(actor_key)
        agents.discard(okey)
        if otype == "Activity":
            acts.discard(okey)
        agent_rows += [{"statement_id": sid, "agent_key": k} for k in agents]
        act_rows += [{"statement_id": sid, "activity_id": a} for a in acts]
        rows.append({
            "statement_id": sid,
            "actor_key": actor_key,
            "verb_id": s["verb"]["id"],
            "object_type": otype,
            "object_key": okey,
            "registration": (s.get("context") or {}).get("registration", "").lower() or None,
            "timestamp": None if s["timestamp"] == mark else v.parse_timestamp(s["timestamp"]),
            "stored": None,
            "voided": False,
            "person_id": _person_id(s["actor"], person_cache),
            "client_id": client_id,
            "has_attachments": bool(s.get("attachments")),
            "data": dumps(s),
        })
    return _Prepared(ids, fresh, sent, generated, rows, agent_rows, act_rows, defs, mark, stamped)


def _unprepare(p: _Prepared) -> None:
    """Take back what _prepare filled in, so the statements can be prepared again (a retry)."""
    for s in p.fresh:
        original = p.sent[s["id"].lower()]
        s.clear()
        s.update(original)


def _store(statements: list[dict], authority: dict, client_id: int | None, parts: list[Part]) -> SaveResult:
    return _write(_prepare(statements, authority, client_id), parts)


def _write(p: _Prepared, parts: list[Part]) -> SaveResult:
    """The part of storing that reads and writes the store (under the write lock on the LRS path)."""
    existing = {}
    keys = [k for k in p.sent if k not in p.generated]
    for chunk in range(0, len(keys), 500):
        for sid, data in db.session.execute(
            select(XapiStatement.statement_id, XapiStatement.data).where(
                XapiStatement.statement_id.in_(keys[chunk:chunk + 500])
            )
        ):
            existing[sid] = json.loads(data)
    to_store = []
    rows = p.rows
    if existing:
        keep = []
        for s, row in zip(p.fresh, p.rows, strict=True):
            old = existing.get(row["statement_id"])
            if old is not None:
                if not _equivalent(old, p.sent[row["statement_id"]]):
                    raise Conflict(f"id: statement {s['id']} is already stored with different content")
                continue
            to_store.append(s)
            keep.append(row)
        rows = keep
    else:
        to_store = p.fresh

    # Voiding: the target must not itself be a voiding statement.
    void_targets: dict[str, str] = {}
    for s in to_store:
        if s["verb"]["id"] == v.VOIDED:
            void_targets[s["object"]["id"].lower()] = s["id"]
    if void_targets:
        in_batch = {s["id"].lower(): s for s in to_store}
        for tid in void_targets:
            target = in_batch.get(tid) or existing.get(tid)
            if target is None:
                row = db.session.execute(
                    select(XapiStatement.verb_id).where(XapiStatement.statement_id == tid)
                ).first()
                target_verb = row[0] if row else None
            else:
                target_verb = target["verb"]["id"]
            if target_verb == v.VOIDED:
                raise LRSError("object: a voiding statement cannot be voided")

    if not to_store:
        return SaveResult(ids=p.ids)

    # The stored time is taken now, under the lock, so it grows in commit order (Consistent-Through holds).
    stored_at = now_ms()
    stored_s = v.format_timestamp(stored_at)
    for s in p.fresh:
        s["stored"] = stored_s
    for s in p.stamped:
        s["timestamp"] = stored_s
    for row in rows:
        row["stored"] = stored_at
        if row["timestamp"] is None:
            row["timestamp"] = stored_at
        row["data"] = row["data"].replace(p.mark, stored_s)
    stored_ids = {r["statement_id"] for r in rows}
    agent_rows = [r for r in p.agent_rows if r["statement_id"] in stored_ids] if existing else p.agent_rows
    act_rows = [r for r in p.act_rows if r["statement_id"] in stored_ids] if existing else p.act_rows
    # Driver-level executemany (no ORM bookkeeping, no statement compilation): the write lock is held only
    # for the inserts and the commit.
    insert_rows(XapiStatement.__table__, rows)
    if agent_rows:
        insert_rows(XapiStatementAgent.__table__, agent_rows)
    if act_rows:
        insert_rows(XapiStatementActivity.__table__, act_rows)
    defs = p.defs
    if existing:  # a statement stored before must not merge its (older) definitions again
        defs = {}
        for s in to_store:
            _related(s, set(), set(), defs)
    if defs:
        _merge_activity_definitions(defs)
    for part in parts:
        _store_attachment(part)
    if void_targets:
        db.session.execute(
            update(XapiStatement)
            .where(XapiStatement.statement_id.in_(list(void_targets)), XapiStatement.verb_id != v.VOIDED)
            .values(voided=True)
        )
    _after_store(to_store, [r["statement_id"] for r in rows], [r["person_id"] for r in rows], list(void_targets))
    return SaveResult(ids=p.ids, stored=to_store)


_INSERT_SQL: dict[tuple, tuple[str, list]] = {}


def insert_rows(table, rows: list[dict]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table` in the session's transaction with one executemany.

    The SQL text and the columns' bind processors (datetimes and booleans on SQLite) are prepared once per
    dialect, table and column set, so the per-row cost is that of the driver; errors still arrive as
    SQLAlchemy's exceptions (IntegrityError for a duplicate key)."""
    conn = db.session.connection()
    dialect = conn.dialect
    cols = tuple(rows[0])
    key = (dialect.name, table.name, cols)
    prepared = _INSERT_SQL.get(key)
    if prepared is None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        quote = dialect.identifier_preparer.quote
        # identifiers come from the table metadata, values are bound parameters
        sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "  # noqa: S608
               f"VALUES ({', '.join([mark] * len(cols))})")
        prepared = (sql, [table.c[c].type._cached_bind_processor(dialect) for c in cols])
        _INSERT_SQL[key] = prepared
    sql, procs = prepared
    pairs = list(zip(cols, procs, strict=True))
    params = [tuple(row[c] if proc is None or row[c] is None else proc(row[c]) for c, proc in pairs) for row in rows]
    conn.exec_driver_sql(sql, params)


def _after_store(stored: list[dict], sids: list[str], persons: list[int | None], voided_ids: list[str]) -> None:
    """Projections, forwarding outbox and the published hooks, inside the storing transaction."""
    from plugins.xapi import forwarding, projections
    from plugins.xapi.hooks import call_stored, call_voided

    projections.apply(stored, persons, voided_ids)
    forwarding.enqueue(sids)
    call_stored(stored, persons)
    if voided_ids:
        call_voided(voided_ids)


def _store_attachment(part: Part) -> None:
    exists = db.session.scalar(select(XapiAttachment.id).where(XapiAttachment.sha2 == part.sha2))
    if exists is None:
        db.session.add(XapiAttachment(sha2=part.sha2, content_type=part.content_type,
                                      length=len(part.content), content=part.content))
        db.session.flush()


def _merge_activity_definitions(defs: dict[str, dict]) -> None:
    """Merge the definitions the statements carry into the activities' canonical ones (Core statements only:
    one read, one insert of the new activities, an update per activity whose definition changed)."""
    ids = sorted(defs)  # one lock order for concurrent writers
    current = dict(db.session.execute(
        select(XapiActivity.activity_id, XapiActivity.definition).where(XapiActivity.activity_id.in_(ids))).all())
    now = utcnow()
    new_rows = []
    for aid in ids:
        if aid not in current:
            new_rows.append({"activity_id": aid, "definition": dumps(defs[aid]), "updated_at": now})
            continue
        old = current[aid] or "{}"
        merged = dumps(v.merge_definition(json.loads(old), defs[aid]))
        if merged != old:
            db.session.execute(update(XapiActivity).where(XapiActivity.activity_id == aid)
                               .values(definition=merged, updated_at=now))
    if new_rows:
        insert_rows(XapiActivity.__table__, new_rows)


def get_activity(activity_id: str) -> dict:
    row = db.session.scalar(select(XapiActivity).where(XapiActivity.activity_id == activity_id))
    out = {"objectType": "Activity", "id": activity_id}
    if row is not None and row.definition:
        out["definition"] = json.loads(row.definition)
    return out


def get_person(agent: dict) -> dict:
    person: dict = {"objectType": "Person"}
    if "name" in agent:
        person["name"] = [agent["name"]]
    for k in v.IFI_KEYS:
        if k in agent:
            person[k] = [agent[k]]
    return person


# --- querying -------------------------------------------------------------------------------------
@dataclass
class Query:
    agent: dict | None = None
    verb: str | None = None
    activity: str | None = None
    registration: str | None = None
    related_activities: bool = False
    related_agents: bool = False
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 0
    format: str = "exact"
    attachments: bool = False
    ascending: bool = False
    after: tuple[str, int] | None = None  # paging cursor: (stored iso, pk) of the last statement sent


def _bool_param(value: str, name: str) -> bool:
    if value in ("true", "True", "1"):
        return True
    if value in ("false", "False", "0"):
        return False
    raise LRSError(f"{name}: must be true or false")


def parse_agent_param(raw: str, name: str = "agent", allow_group: bool = True) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        raise LRSError(f"{name}: must be a JSON Agent object") from None
    try:
        if isinstance(value, dict) and value.get("objectType") == "Group":
            if not allow_group:
                v.fail(name, "must be an Agent, not a Group")
            v.group(value, name)
        else:
            v.agent(value, name)
    except v.ValidationError as exc:
        raise LRSError(str(exc)) from None
    return value


def parse_query(args: dict) -> Query:
    q = Query()
    for k in args:
        if k not in QUERY_PARAMS:
            raise LRSError(f"{k}: is not a statement query parameter")
    if "agent" in args:
        q.agent = parse_agent_param(args["agent"])
    if "verb" in args:
        if not v.is_iri(args["verb"]):
            raise LRSError("verb: must be an IRI")
        q.verb = args["verb"]
    if "activity" in args:
        if not v.is_iri(args["activity"]):
            raise LRSError("activity: must be an IRI")
        q.activity = args["activity"]
    if "registration" in args:
        if not v.is_uuid(args["registration"]):
            raise LRSError("registration: must be a UUID")
        q.registration = args["registration"].lower()
    for name in ("related_activities", "related_agents", "attachments", "ascending"):
        if name in args:
            setattr(q, name, _bool_param(args[name], name))
    for name in ("since", "until"):
        if name in args:
            try:
                setattr(q, name, v.parse_timestamp(args[name], name))
            except v.ValidationError as exc:
                raise LRSError(str(exc)) from None
    if "limit" in args:
        try:
            q.limit = int(args["limit"])
        except ValueError:
            raise LRSError("limit: must be a non-negative integer") from None
        if q.limit < 0:
            raise LRSError("limit: must be a non-negative integer")
    if "format" in args:
        if args["format"] not in ("ids", "exact", "canonical"):
            raise LRSError("format: must be ids, exact or canonical")
        q.format = args["format"]
    return q


def _match(S, q: Query):
    """Conditions of the filters that a statement or the statement it references must meet."""
    conds = []
    if q.agent is not None:
        key = v.agent_key(q.agent)
        direct = [S.actor_key == key, and_(S.object_key == key, S.object_type.in_(("Agent", "Group")))]
        if q.related_agents:
            direct.append(S.statement_id.in_(
                select(XapiStatementAgent.statement_id).where(XapiStatementAgent.agent_key == key)))
        conds.append(or_(*direct))
    if q.verb is not None:
        conds.append(S.verb_id == q.verb)
    if q.activity is not None:
        direct = and_(S.object_key == q.activity, S.object_type == "Activity")
        if q.related_activities:
            conds.append(or_(direct, S.statement_id.in_(select(XapiStatementActivity.statement_id).where(
                XapiStatementActivity.activity_id == q.activity))))
        else:
            conds.append(direct)
    if q.registration is not None:
        conds.append(S.registration == q.registration)
    return conds


def run_query(q: Query) -> tuple[list[tuple[int, str, datetime]], bool]:
    """Matching statements (pk, data, stored) in order, at most `limit`, and whether there are more.

    Two parts, each read in index order and merged: statements matching the filters themselves, and
    statements that reference (StatementRef) a matching statement. The second part walks only the
    StatementRef statements, which are few, so a filter over millions of statements stays an index scan.
    """
    limit = MAX_LIMIT if q.limit == 0 else min(q.limit, MAX_LIMIT)
    S = XapiStatement

    def own(T):
        conds = [T.voided == false()]
        if q.since is not None:
            conds.append(T.stored > q.since)
        if q.until is not None:
            conds.append(T.stored <= q.until)
        if q.after is not None:
            cursor = (datetime.fromisoformat(q.after[0]), q.after[1])
            key = tuple_(T.stored, T.id)
            conds.append(key > cursor if q.ascending else key < cursor)
        return conds

    def ordered(query, T):
        return query.order_by(*((T.stored.asc(), T.id.asc()) if q.ascending else (T.stored.desc(), T.id.desc())))

    match = _match(S, q)
    page = list(db.session.execute(
        ordered(select(S.id, S.stored).where(*match, *own(S)), S).limit(limit + 1)).all())
    if match:
        page = _merge(page, _referencing(q, match, own, ordered, limit + 1), q.ascending)[:limit + 1]
    more = len(page) > limit
    page = page[:limit]
    pks = [r[0] for r in page]
    data = dict(db.session.execute(select(S.id, S.data).where(S.id.in_(pks))).all()) if pks else {}
    return [(r[0], data[r[0]], r[1]) for r in page], more


def _referencing(q: Query, match, own, ordered, wanted: int, chunk: int = 500) -> list:
    """Statements whose object is a StatementRef to a statement matching the filters, in order."""
    S = XapiStatement
    A = aliased(XapiStatement)
    found: list = []
    base = ordered(select(A.id, A.stored, A.object_key).where(A.object_type == "StatementRef", *own(A)), A)
    offset = 0
    while len(found) < wanted:
        refs = db.session.execute(base.limit(chunk).offset(offset)).all()
        if not refs:
            break
        targets = {r[2] for r in refs}
        hits = set(db.session.scalars(select(S.statement_id).where(S.statement_id.in_(targets), *match)))
        found += [(r[0], r[1]) for r in refs if r[2] in hits]
        offset += chunk
    return found[:wanted]


def _merge(a: list, b: list, ascending: bool) -> list:
    rows = {r[0]: (r[0], r[1]) for r in a}
    for r in b:
        rows.setdefault(r[0], (r[0], r[1]))
    return sorted(rows.values(), key=lambda r: (r[1], r[0]), reverse=not ascending)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="xapi-more")


def more_token(args: dict, last_pk: int, last_stored: datetime) -> str:
    return _serializer().dumps({"a": args, "c": [last_stored.isoformat(), last_pk]})


def read_more_token(token: str) -> tuple[Query, dict]:
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        raise LRSError("more: the paging token is not valid") from None
    q = parse_query(payload["a"])
    q.after = (payload["c"][0], int(payload["c"][1]))
    return q, payload["a"]


def get_statement(statement_id: str, voided: bool) -> str | None:
    row = db.session.execute(
        select(XapiStatement.data, XapiStatement.voided).where(XapiStatement.statement_id == statement_id.lower())
    ).first()
    if row is None or bool(row[1]) != voided:
        return None
    return row[0]


def consistent_through() -> str:
    return v.format_timestamp(now_ms())


# --- formats --------------------------------------------------------------------------------------
def _ids_actor(a: dict) -> dict:
    out = {k: a[k] for k in ("objectType", *v.IFI_KEYS) if k in a}
    if a.get("objectType") == "Group" and "member" in a:
        out["member"] = [_ids_actor(m) for m in a["member"]]
    return out


def _pick_language(m: dict, langs: list[str]) -> dict:
    if not isinstance(m, dict) or not m:
        return m
    lower = {k.lower(): k for k in m}
    for lang in langs:
        lang = lang.lower()
        if lang in lower:
            return {lower[lang]: m[lower[lang]]}
        for k_low, k in lower.items():
            if k_low.split("-")[0] == lang.split("-")[0]:
                return {k: m[k]}
    first = next(iter(m))
    return {first: m[first]}


def format_statement(s: dict, fmt: str, langs: list[str] | None = None, canon: dict | None = None) -> dict:
    if fmt == "exact":
        return s
    s = copy.deepcopy(s)
    langs = langs or []

    def activity_out(a: dict) -> dict:
        if fmt == "ids":
            return {"id": a["id"]}
        d = (canon or {}).get(a["id"], a.get("definition"))
        out = {k: a[k] for k in ("objectType", "id") if k in a}
        if d:
            d = copy.deepcopy(d)
            for k in ("name", "description"):
                if k in d:
                    d[k] = _pick_language(d[k], langs)
            for comp in ("choices", "scale", "source", "target", "steps"):
                for c in d.get(comp) or []:
                    if "description" in c:
                        c["description"] = _pick_language(c["description"], langs)
            out["definition"] = d
        return out

    def walk(st: dict) -> None:
        if fmt == "ids":
            st["actor"] = _ids_actor(st["actor"])
            st["verb"] = {"id": st["verb"]["id"]}
        elif "display" in st["verb"]:
            st["verb"]["display"] = _pick_language(st["verb"]["display"], langs)
        obj = st["object"]
        otype = obj.get("objectType", "Activity")
        if otype == "Activity":
            st["object"] = activity_out(obj)
        elif otype in ("Agent", "Group") and fmt == "ids":
            st["object"] = _ids_actor(obj)
        elif otype == "SubStatement":
            walk(obj)
        ctx = st.get("context")
        if ctx:
            if fmt == "ids":
                for k in ("instructor", "team"):
                    if k in ctx:
                        ctx[k] = _ids_actor(ctx[k])
            for k, items in (ctx.get("contextActivities") or {}).items():
                if isinstance(items, list):
                    ctx["contextActivities"][k] = [activity_out(a) for a in items]
                else:
                    ctx["contextActivities"][k] = activity_out(items)
        if fmt == "ids" and "authority" in st:
            st["authority"] = _ids_actor(st["authority"])
        for a in st.get("attachments") or []:
            if fmt != "ids":
                a["display"] = _pick_language(a["display"], langs)
                if "description" in a:
                    a["description"] = _pick_language(a["description"], langs)

    walk(s)
    return s


def canonical_definitions(statements: list[dict]) -> dict:
    ids: set[str] = set()
    for s in statements:
        _a: set[str] = set()
        _related(s, set(), ids, {})
    if not ids:
        return {}
    out = {}
    for aid, d in db.session.execute(
        select(XapiActivity.activity_id, XapiActivity.definition).where(XapiActivity.activity_id.in_(list(ids)))
    ):
        if d:
            out[aid] = json.loads(d)
    return out


def attachments_for(statements: list[dict]) -> list[XapiAttachment]:
    hashes = {a["sha2"] for s in statements for a in (s.get("attachments") or [])}
    if not hashes:
        return []
    return list(db.session.scalars(select(XapiAttachment).where(XapiAttachment.sha2.in_(list(hashes)))))
