"""The Learning Record Store at /xapi/: Statements, State, Activity/Agent Profile, Activities, Agents, About.

HTTP Basic client credentials only (session cookies are ignored), CSRF-exempt, the alternate request
syntax (POST ?method=…), and errors as JSON naming the field and the rule.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import parse_qs

from flask import Response, current_app, g, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import http_date

from lms.extensions import db
from plugins.xapi import clients as lrs_clients
from plugins.xapi import documents, services
from plugins.xapi import validation as v
from plugins.xapi.blueprint import bp
from plugins.xapi.services import LRSError

log = logging.getLogger(__name__)


LRS_ENDPOINTS = {"xapi.statements", "xapi.state", "xapi.activity_profile", "xapi.agent_profile",
                 "xapi.activities", "xapi.agents", "xapi.about"}
ALTERNATE_HEADERS = {"authorization", "x-experience-api-version", "content-type", "content-length", "if-match",
                     "if-none-match"}
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]


@dataclass
class XRequest:
    """The request as the LRS sees it (the alternate request syntax unwrapped)."""

    method: str
    args: dict
    headers: dict  # lower-case names
    body: bytes
    alternate: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def mimetype(self) -> str:
        return self.content_type.split(";")[0].strip().lower()


def _json_error(message: str, status: int) -> Response:
    resp = Response(json.dumps({"error": message, "status": status}, ensure_ascii=False), status=status,
                    mimetype="application/json")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Basic realm="xapi"'
    return resp


def _too_many_failures(wait: int) -> Response:
    resp = _json_error("Authorization: too many failed authentications from this address; try again later", 429)
    resp.headers["Retry-After"] = str(wait)
    return resp


@bp.errorhandler(LRSError)
def _lrs_error(exc: LRSError):
    db.session.rollback()
    return _json_error(str(exc), exc.status)


def _single_args(multi) -> dict:
    out = {}
    for k in multi:
        values = multi.getlist(k) if hasattr(multi, "getlist") else multi[k]
        if len(values) > 1:
            raise LRSError(f"{k}: the parameter is given more than once")
        out[k] = values[0]
    return out


def _unwrap() -> XRequest:
    args = _single_args(request.args)
    if "method" not in args:
        headers = {k.lower(): val for k, val in request.headers.items()}
        return XRequest(request.method, args, headers, request.get_data(cache=True))
    if request.method != "POST":
        raise LRSError("method: the alternate request syntax must be sent as a POST")
    method = args.pop("method").upper()
    if args:
        raise LRSError("method: with the alternate request syntax the only query parameter allowed is method")
    if method not in ("GET", "HEAD", "PUT", "POST", "DELETE"):
        raise LRSError("method: must be GET, HEAD, PUT, POST or DELETE")
    if request.mimetype != "application/x-www-form-urlencoded":
        raise LRSError("Content-Type: the alternate request syntax must be application/x-www-form-urlencoded")
    raw = request.get_data(cache=True)
    try:
        form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise LRSError("body: the form must be UTF-8") from None
    headers = {k.lower(): val for k, val in request.headers.items()
               if k.lower() not in ("content-type", "content-length")}
    params, body = {}, b""
    for k, values in form.items():
        if len(values) > 1:
            raise LRSError(f"{k}: the form field is given more than once")
        if k.lower() in ALTERNATE_HEADERS:
            headers[k.lower()] = values[0]
        elif k == "content":
            body = values[0].encode("utf-8")
        else:
            params[k] = values[0]
    if body and "content-type" not in headers:
        headers["content-type"] = "application/json"
    return XRequest(method, params, headers, body, alternate=True)


@bp.before_request
def _lrs_gate():
    if request.endpoint not in LRS_ENDPOINTS:
        return None
    cfg = current_app.config
    # Read no more than the largest allowed body (a chunked body too: werkzeug stops at the limit).
    request.max_content_length = max(int(cfg["XAPI_MAX_BODY_BYTES"]), int(cfg["XAPI_MAX_ATTACHMENT_REQUEST_BYTES"]))
    too_large = _json_error("body: the request is larger than this LRS accepts", 413)
    try:
        x = _unwrap()
    except LRSError as exc:
        return _json_error(str(exc), 400)
    except RequestEntityTooLarge:
        return too_large
    if len(x.body) > int(cfg["XAPI_MAX_BODY_BYTES"]) and not x.mimetype.startswith("multipart/"):
        return too_large
    g.x = x
    if request.endpoint == "xapi.about":
        return None
    version = x.headers.get("x-experience-api-version")
    if version is None:
        return _json_error("X-Experience-API-Version: the header is required", 400)
    if not v.re.match(r"^1\.0(\.[0-9]+)?$", version.strip()):
        return _json_error("X-Experience-API-Version: this LRS speaks xAPI 1.0.x", 400)
    ip = (request.remote_addr or "unknown")[:59]
    wait = lrs_clients.throttled(ip)  # no query unless this process noted the IP over the limit
    if wait:
        return _too_many_failures(wait)
    auth = x.headers.get("authorization", "")
    client = None
    if auth[:6].lower() == "basic ":
        try:
            key, _, secret = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            key = secret = ""
        client = lrs_clients.authenticate(key, secret) if key and secret else None
        if client == lrs_clients.EXPIRED:
            return _json_error("Authorization: this LRS client's key has expired; an administrator can renew it", 401)
        if client is None:
            # A request that presents Basic credentials and fails counts towards the IP's limit (AUTH-08).
            wait = lrs_clients.record_failure(ip, key)
            if wait:
                return _too_many_failures(wait)
    if client is None:
        return _json_error("Authorization: valid HTTP Basic credentials of an LRS client are required", 401)
    g.xapi_client = client
    writing = x.method in ("PUT", "POST", "DELETE")
    if writing and not client[2]:
        return _json_error("Authorization: this client has no write scope", 403)
    if not writing and not client[1]:
        return _json_error("Authorization: this client has no read scope", 403)
    return None


@bp.after_request
def _version_header(resp: Response):
    if request.endpoint in LRS_ENDPOINTS:
        resp.headers["X-Experience-API-Version"] = services.VERSION
        x = g.get("x")
        if request.endpoint == "xapi.statements" and x is not None and x.method in ("GET", "HEAD"):
            resp.headers.setdefault("X-Experience-API-Consistent-Through", services.consistent_through())
    return resp


def client_authority() -> dict:
    cid, _r, _w, name = g.xapi_client
    base = current_app.config["BASE_URL"].rstrip("/")
    return {"objectType": "Agent", "name": name, "account": {"homePage": base, "name": f"xapi-client-{cid}"}}


def _respond(x: XRequest, body: bytes | str, status: int = 200, mimetype="application/json", headers=None):
    resp = Response(b"" if x.method == "HEAD" else body, status=status, mimetype=mimetype, headers=headers or {})
    if x.method == "HEAD":
        data = body.encode() if isinstance(body, str) else body
        resp.headers["Content-Length"] = str(len(data))
    return resp


def _no_content() -> Response:
    return Response(status=204)


def _check_params(x: XRequest, allowed: set[str]) -> None:
    for k in x.args:
        if k not in allowed:
            raise LRSError(f"{k}: is not a parameter of this resource")


def _require(x: XRequest, name: str) -> str:
    if name not in x.args:
        raise LRSError(f"{name}: the parameter is required")
    return x.args[name]


# --- multipart ------------------------------------------------------------------------------------
def _parse_multipart(x: XRequest) -> tuple[object, list[services.Part]]:
    ctype = x.content_type
    boundary = None
    for piece in ctype.split(";")[1:]:
        k, _, val = piece.strip().partition("=")
        if k.lower() == "boundary":
            boundary = val.strip().strip('"')
    if not boundary:
        raise LRSError("Content-Type: multipart/mixed needs a boundary")
    delim = b"--" + boundary.encode()
    chunks = x.body.split(delim)
    if len(chunks) < 3:
        raise LRSError("body: the multipart/mixed body has no parts")
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = chunk.partition(b"\n\n")
            if not sep:
                raise LRSError("body: a multipart part has no header block")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        headers = {}
        for line in head.decode("latin-1").splitlines():
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        parts.append((headers, content))
    if not parts:
        raise LRSError("body: the multipart/mixed body has no parts")
    first_headers, first = parts[0]
    if first_headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise LRSError("body: the first multipart part must be the statements as application/json")
    try:
        statements = json.loads(first.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise LRSError("body: the first multipart part is not valid JSON") from None
    out = []
    for headers, content in parts[1:]:
        sha2 = headers.get("x-experience-api-hash")
        if not sha2:
            raise LRSError("attachments: every attachment part needs an X-Experience-API-Hash header")
        if headers.get("content-transfer-encoding", "").lower() != "binary":
            raise LRSError("attachments: every attachment part needs Content-Transfer-Encoding: binary")
        algo = {56: hashlib.sha224, 64: hashlib.sha256, 96: hashlib.sha384, 128: hashlib.sha512}.get(len(sha2))
        if algo is None or algo(content).hexdigest() != sha2.lower():
            raise LRSError("attachments: X-Experience-API-Hash does not match the part's content")
        out.append(services.Part(content_type=headers.get("content-type", "application/octet-stream"),
                                 content=content, sha2=sha2.lower()))
    return statements, out


def _read_statements_body(x: XRequest):
    if x.mimetype == "multipart/mixed":
        return _parse_multipart(x)
    if x.mimetype != "application/json":
        raise LRSError("Content-Type: statements must be sent as application/json or multipart/mixed")
    try:
        return json.loads(x.body.decode("utf-8")), []
    except (ValueError, UnicodeDecodeError):
        raise LRSError("body: is not valid JSON") from None


# --- Statements -----------------------------------------------------------------------------------
@bp.route("/xapi/statements", methods=METHODS)
def statements():
    x: XRequest = g.x
    if x.method in ("GET", "HEAD"):
        return _get_statements(x)
    if x.method == "PUT":
        _check_params(x, {"statementId"})
        sid = _require(x, "statementId")
        if not v.is_uuid(sid):
            raise LRSError("statementId: must be a UUID")
        body, parts = _read_statements_body(x)
        if not isinstance(body, dict):
            raise LRSError("body: PUT takes a single statement object")
        services.save_statements([body], authority=client_authority(), client_id=g.xapi_client[0],
                                 parts=parts, put_id=sid, commit=True)
        return _no_content()
    if x.method == "POST":
        _check_params(x, set())
        body, parts = _read_statements_body(x)
        batch = body if isinstance(body, list) else [body]
        if not all(isinstance(s, dict) for s in batch):
            raise LRSError("body: must be a statement object or an array of statement objects")
        result = services.save_statements(batch, authority=client_authority(), client_id=g.xapi_client[0],
                                          parts=parts, commit=True)
        return _respond(x, json.dumps(result.ids))
    return _json_error("method: Statements accept GET, HEAD, PUT and POST", 405)


def _accept_languages() -> list[str]:
    header = g.x.headers.get("accept-language", "")
    langs = []
    for item in header.split(","):
        tag = item.split(";")[0].strip()
        if tag and tag != "*":
            langs.append(tag)
    return langs


def _get_statements(x: XRequest) -> Response:
    args = dict(x.args)
    headers = {"X-Experience-API-Consistent-Through": services.consistent_through()}
    for single in ("statementId", "voidedStatementId"):
        if single in args:
            other = set(args) - {single, "attachments", "format"}
            if other:
                raise LRSError(f"{single}: cannot be combined with {', '.join(sorted(other))}")
            sid = args[single]
            if not v.is_uuid(sid):
                raise LRSError(f"{single}: must be a UUID")
            q = services.parse_query({k: val for k, val in args.items() if k != single})
            data = services.get_statement(sid, voided=single == "voidedStatementId")
            if data is None:
                return _json_error(f"{single}: no such statement", 404)
            stmt = json.loads(data)
            headers["Last-Modified"] = http_date(v.parse_timestamp(stmt["stored"]).replace(
                tzinfo=UTC))
            return _statement_response(x, [stmt], q, headers, single=True)
    if "more" in args:
        if len(args) > 1:
            raise LRSError("more: cannot be combined with other parameters")
        q, original = services.read_more_token(args["more"])
    else:
        q = services.parse_query(args)
        original = args
    rows, more = services.run_query(q)
    stmts_raw = [r[1] for r in rows]
    more_url = ""
    if more and rows:
        more_url = url_for("xapi.statements", more=services.more_token(original, rows[-1][0], rows[-1][2]))
    if q.format == "exact" and not q.attachments:
        body = '{"statements":[' + ",".join(stmts_raw) + '],"more":' + json.dumps(more_url) + "}"
        return _respond(x, body, headers=headers)
    stmts = [json.loads(s) for s in stmts_raw]
    return _statement_response(x, stmts, q, headers, more_url=more_url)


def _statement_response(x, stmts: list[dict], q, headers, single=False, more_url="") -> Response:
    canon = services.canonical_definitions(stmts) if q.format == "canonical" else None
    langs = _accept_languages()
    out = [services.format_statement(s, q.format, langs, canon) for s in stmts]
    body = json.dumps(out[0] if single else {"statements": out, "more": more_url}, ensure_ascii=False)
    if not q.attachments:
        return _respond(x, body, headers=headers)
    boundary = secrets.token_hex(16)
    chunks = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(), body.encode(), b"\r\n"]
    for att in services.attachments_for(stmts):
        chunks += [
            f"--{boundary}\r\nContent-Type: {att.content_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"X-Experience-API-Hash: {att.sha2}\r\n\r\n".encode(),
            att.content,
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--".encode())
    return _respond(x, b"".join(chunks), mimetype=f'multipart/mixed; boundary="{boundary}"', headers=headers)


# --- documents ------------------------------------------------------------------------------------
def _agent_param(x: XRequest) -> str:
    return v.agent_key(services.parse_agent_param(_require(x, "agent")))


def _activity_param(x: XRequest) -> str:
    aid = _require(x, "activityId")
    if not v.is_iri(aid):
        raise LRSError("activityId: must be an IRI")
    return aid


def _since_param(x: XRequest):
    if "since" not in x.args:
        return None
    try:
        return v.parse_timestamp(x.args["since"], "since")
    except v.ValidationError as exc:
        raise LRSError(str(exc)) from None


def _document_response(x: XRequest, doc) -> Response:
    headers = {"ETag": f'"{doc.etag}"', "Last-Modified": http_date(doc.updated.replace(
        tzinfo=UTC))}
    return _respond(x, doc.content, mimetype=doc.content_type, headers=headers)


def _documents(x: XRequest, kind: str, keys: dict, id_param: str, *, profile: bool) -> Response:
    doc_id = x.args.get(id_param)
    if x.method in ("GET", "HEAD"):
        if doc_id is None:
            ids = documents.list_ids(kind, since=_since_param(x), **keys)
            return _respond(x, json.dumps(ids, ensure_ascii=False))
        if "since" in x.args:
            raise LRSError(f"since: cannot be combined with {id_param}")
        doc = documents.get(kind, doc_id, **keys)
        if doc is None:
            return _json_error(f"{id_param}: no such document", 404)
        return _document_response(x, doc)
    if "since" in x.args:
        raise LRSError("since: only GET takes this parameter")
    if x.method == "DELETE":
        if doc_id is None and profile:
            raise LRSError(f"{id_param}: the parameter is required")
        documents.remove(kind, doc_id, if_match=x.headers.get("if-match"),
                         if_none_match=x.headers.get("if-none-match"), **keys)
        db.session.commit()
        return _no_content()
    if doc_id is None:
        raise LRSError(f"{id_param}: the parameter is required")
    ctype = x.content_type or "application/octet-stream"
    common = {"if_match": x.headers.get("if-match"), "if_none_match": x.headers.get("if-none-match")}
    if x.method == "PUT":
        documents.put(kind, doc_id, x.body, ctype, require_precondition=profile, **common, **keys)
    elif x.method == "POST":
        documents.post(kind, doc_id, x.body, ctype, **common, **keys)
    else:
        return _json_error("method: not supported by this resource", 405)
    db.session.commit()
    return _no_content()


@bp.route("/xapi/activities/state", methods=METHODS)
def state():
    x: XRequest = g.x
    _check_params(x, {"activityId", "agent", "registration", "stateId", "since"})
    keys = {"activity_id": _activity_param(x), "agent_key": _agent_param(x), "registration": ""}
    if "registration" in x.args:
        if not v.is_uuid(x.args["registration"]):
            raise LRSError("registration: must be a UUID")
        keys["registration"] = x.args["registration"].lower()
    return _documents(x, "state", keys, "stateId", profile=False)


@bp.route("/xapi/activities/profile", methods=METHODS)
def activity_profile():
    x: XRequest = g.x
    _check_params(x, {"activityId", "profileId", "since"})
    return _documents(x, "activity_profile", {"activity_id": _activity_param(x)}, "profileId", profile=True)


@bp.route("/xapi/agents/profile", methods=METHODS)
def agent_profile():
    x: XRequest = g.x
    _check_params(x, {"agent", "profileId", "since"})
    return _documents(x, "agent_profile", {"agent_key": _agent_param(x)}, "profileId", profile=True)


@bp.route("/xapi/activities", methods=METHODS)
def activities():
    x: XRequest = g.x
    if x.method not in ("GET", "HEAD"):
        return _json_error("method: Activities accept GET and HEAD", 405)
    _check_params(x, {"activityId"})
    return _respond(x, json.dumps(services.get_activity(_activity_param(x)), ensure_ascii=False))


@bp.route("/xapi/agents", methods=METHODS)
def agents():
    x: XRequest = g.x
    if x.method not in ("GET", "HEAD"):
        return _json_error("method: Agents accept GET and HEAD", 405)
    _check_params(x, {"agent"})
    agent = services.parse_agent_param(_require(x, "agent"))
    return _respond(x, json.dumps(services.get_person(agent), ensure_ascii=False))


@bp.route("/xapi/about", methods=METHODS)
def about():
    x: XRequest = g.x
    if x.method not in ("GET", "HEAD"):
        return _json_error("method: About accepts GET and HEAD", 405)
    body = {"version": ["1.0.3", "1.0.2", "1.0.1", "1.0.0"],
            "extensions": {f"{current_app.config['BASE_URL'].rstrip('/')}/xapi/extensions/product": "partylms"}}
    return _respond(x, json.dumps(body))
