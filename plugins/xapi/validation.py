"""Strict validation of xAPI 1.0.3 statements and request parameters (every error names the field and the rule)."""
from __future__ import annotations

import functools
import re
import uuid
from datetime import UTC, datetime, timedelta

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)
IRI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
MBOX_RE = re.compile(r"^mailto:[^@\s]+@[^@\s]+$")
SHA1_RE = re.compile(r"^[0-9a-fA-F]{40}$")
SHA2_RE = re.compile(r"^([0-9a-fA-F]{56}|[0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128})$")
MIME_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+\-]+/[A-Za-z0-9!#$&^_.+\-]+(\s*;.*)?$")
TIMESTAMP_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
DURATION_RE = re.compile(
    r"^P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?()(\d+(?:\.\d+)?D)?"
    r"(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?$"
    r"|^P(\d+(?:\.\d+)?W)$"  # weeks stand alone (ISO 8601 4.4.3.2)
)
# RFC 5646 language tag (langtag | privateuse | grandfathered irregular), case-insensitive.
_LANGTAG = (
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"  # language (+ extlang)
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|\d{3}))?"  # region
    r"(?:-(?:[a-z0-9]{5,8}|\d[a-z0-9]{3}))*"  # variants
    r"(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*"  # extensions
    r"(?:-x(?:-[a-z0-9]{1,8})+)?"  # private use
)
LANG_RE = re.compile(rf"^(?:{_LANGTAG}|x(?:-[a-z0-9]{{1,8}})+|i-[a-z]{{2,8}}|en-gb-oed|sgn-[a-z]{{2}}-[a-z]{{2}})$", re.I)

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"
INTERACTION_TYPES = {
    "true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing",
    "likert", "numeric", "other",
}
# Which interaction component lists each interaction type may carry.
COMPONENTS_FOR = {
    "choice": {"choices"}, "sequencing": {"choices"}, "likert": {"scale"},
    "matching": {"source", "target"}, "performance": {"steps"},
}
STATEMENT_KEYS = {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority",
                  "version", "attachments", "objectType"}


class ValidationError(ValueError):
    """A statement or parameter breaks a rule; the message names the field and the rule."""


def fail(path: str, rule: str):
    raise ValidationError(f"{path}: {rule}")


def _obj(value, path: str) -> dict:
    if not isinstance(value, dict):
        fail(path, "must be a JSON object")
    return value


def _allowed(value: dict, keys: set[str], path: str) -> None:
    for k in value:
        if k not in keys:
            fail(f"{path}.{k}", "is not an allowed property here")


def _string(value, path: str) -> str:
    if not isinstance(value, str):
        fail(path, "must be a string")
    return value


def is_iri(value) -> bool:
    return isinstance(value, str) and bool(IRI_RE.match(value))


def _iri(value, path: str) -> str:
    if not is_iri(value):
        fail(path, "must be an absolute IRI")
    return value


def _bool(value, path: str) -> None:
    if not isinstance(value, bool):
        fail(path, "must be true or false")


def _number(value, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(path, "must be a number")
    return value


def is_uuid(value) -> bool:
    return isinstance(value, str) and bool(UUID_RE.match(value))


def _uuid(value, path: str) -> str:
    if not is_uuid(value):
        fail(path, "must be a UUID (RFC 4122, hyphenated)")
    return value


def language_map(value, path: str) -> None:
    _obj(value, path)
    for k, v in value.items():
        if not LANG_RE.match(k):
            fail(f"{path}.{k}", "is not an RFC 5646 language tag")
        _string(v, f"{path}.{k}")


def extensions(value, path: str) -> None:
    _obj(value, path)
    for k in value:
        if not is_iri(k):
            fail(f"{path}.{k}", "extension keys must be IRIs")


def parse_timestamp(value: str, path: str = "timestamp") -> datetime:
    """ISO 8601 date-time → naive UTC; a '-00:00' offset is not allowed."""
    if not isinstance(value, str):
        fail(path, "must be an ISO 8601 timestamp string")
    return _parse_timestamp(value, path)


@functools.lru_cache(maxsize=8192)  # batches often share timestamps; parsing is the validator's hot spot
def _parse_timestamp(value: str, path: str) -> datetime:
    m = TIMESTAMP_RE.match(value)
    if not m:
        fail(path, "must be an ISO 8601 date and time (e.g. 2026-01-02T03:04:05.678Z)")
    tz = m.group(8)
    if tz in ("-00", "-00:00", "-0000"):
        fail(path, "must not use the offset -00:00")
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    frac = (m.group(7) or "0")[:6].ljust(6, "0")
    try:
        dt = datetime(year, month, day, hour, minute, second, int(frac))
    except ValueError:
        fail(path, "is not a valid date and time")
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            fail(path, "has an invalid UTC offset")
        dt -= sign * timedelta(hours=hours, minutes=minutes)
    return dt


def format_timestamp(dt: datetime) -> str:
    return dt.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration_seconds(value: str) -> float:
    m = DURATION_RE.match(value or "")
    if not m:
        return 0.0

    def num(g):
        return float(g[:-1]) if g else 0.0

    if m.group(9):
        return num(m.group(9)) * 7 * 86400
    y, mo, w, d = (num(m.group(i)) for i in (1, 2, 3, 4))
    h, mi, s = (num(m.group(i)) for i in (6, 7, 8))
    return (((y * 365 + mo * 30 + w * 7 + d) * 24 + h) * 60 + mi) * 60 + s


# --- actors ---------------------------------------------------------------------------------------
IFI_KEYS = ("mbox", "mbox_sha1sum", "openid", "account")


def _ifis(value: dict, path: str) -> list[str]:
    found = [k for k in IFI_KEYS if k in value]
    for k in found:
        v = value[k]
        p = f"{path}.{k}"
        if k == "mbox":
            if not isinstance(v, str) or not MBOX_RE.match(v):
                fail(p, "must be a mailto: IRI with an e-mail address")
        elif k == "mbox_sha1sum":
            if not isinstance(v, str) or not SHA1_RE.match(v):
                fail(p, "must be the hex SHA1 of a mailto: IRI")
        elif k == "openid":
            _iri(v, p)
        else:
            _obj(v, p)
            _allowed(v, {"homePage", "name"}, p)
            if "homePage" not in v:
                fail(f"{p}.homePage", "is required")
            if "name" not in v:
                fail(f"{p}.name", "is required")
            _iri(v["homePage"], f"{p}.homePage")
            _string(v["name"], f"{p}.name")
    return found


def agent(value, path: str, *, in_group: bool = False) -> None:
    _obj(value, path)
    _allowed(value, {"objectType", "name", *IFI_KEYS}, path)
    if "objectType" in value and value["objectType"] != "Agent":
        fail(f"{path}.objectType", "must be 'Agent'")
    if "name" in value:
        _string(value["name"], f"{path}.name")
    if len(_ifis(value, path)) != 1:
        fail(path, "an Agent must have exactly one inverse functional identifier (mbox, mbox_sha1sum, openid, account)")


def group(value, path: str) -> None:
    _allowed(value, {"objectType", "name", "member", *IFI_KEYS}, path)
    if "name" in value:
        _string(value["name"], f"{path}.name")
    ifis = _ifis(value, path)
    if len(ifis) > 1:
        fail(path, "a Group must not have more than one inverse functional identifier")
    if "member" in value:
        members = value["member"]
        if not isinstance(members, list):
            fail(f"{path}.member", "must be an array of Agents")
        for i, m in enumerate(members):
            mp = f"{path}.member[{i}]"
            _obj(m, mp)
            if m.get("objectType") == "Group":
                fail(f"{mp}.objectType", "a Group's members must be Agents, not Groups")
            agent(m, mp)
    if not ifis and not value.get("member"):
        fail(f"{path}.member", "an anonymous Group must list at least one member")


def actor(value, path: str) -> None:
    _obj(value, path)
    if value.get("objectType") == "Group":
        group(value, path)
    else:
        agent(value, path)


def agent_key(value: dict) -> str:
    """A stable key of an agent or identified group (its IFI); anonymous groups get a key of their members."""
    if "mbox" in value:
        return "mbox:" + value["mbox"].lower()
    if "mbox_sha1sum" in value:
        return "sha1:" + value["mbox_sha1sum"].lower()
    if "openid" in value:
        return "openid:" + value["openid"]
    if "account" in value:
        acc = value["account"]
        return f"account:{acc['homePage']}|{acc['name']}"
    members = sorted(agent_key(m) for m in value.get("member", []))
    return "group:" + ";".join(members)


# --- activities -----------------------------------------------------------------------------------
def interaction_components(value, path: str) -> None:
    if not isinstance(value, list):
        fail(path, "must be an array of interaction components")
    seen = set()
    for i, c in enumerate(value):
        cp = f"{path}[{i}]"
        _obj(c, cp)
        _allowed(c, {"id", "description"}, cp)
        if "id" not in c:
            fail(f"{cp}.id", "is required")
        _string(c["id"], f"{cp}.id")
        if not c["id"].strip():
            fail(f"{cp}.id", "must not be empty")
        if c["id"] in seen:
            fail(f"{cp}.id", "must be unique within the list")
        seen.add(c["id"])
        if "description" in c:
            language_map(c["description"], f"{cp}.description")


def definition(value, path: str) -> None:
    _obj(value, path)
    _allowed(value, {"name", "description", "type", "moreInfo", "extensions", "interactionType",
                     "correctResponsesPattern", "choices", "scale", "source", "target", "steps"}, path)
    for k in ("name", "description"):
        if k in value:
            language_map(value[k], f"{path}.{k}")
    if "type" in value:
        _iri(value["type"], f"{path}.type")
    if "moreInfo" in value:
        _iri(value["moreInfo"], f"{path}.moreInfo")
    if "extensions" in value:
        extensions(value["extensions"], f"{path}.extensions")
    itype = value.get("interactionType")
    if "interactionType" in value and (not isinstance(itype, str) or itype not in INTERACTION_TYPES):
        fail(f"{path}.interactionType", "must be one of " + ", ".join(sorted(INTERACTION_TYPES)))
    if "correctResponsesPattern" in value:
        if itype is None:
            fail(f"{path}.correctResponsesPattern", "needs an interactionType")
        crp = value["correctResponsesPattern"]
        if not isinstance(crp, list) or not all(isinstance(x, str) for x in crp):
            fail(f"{path}.correctResponsesPattern", "must be an array of strings")
    for comp in ("choices", "scale", "source", "target", "steps"):
        if comp in value:
            if itype is None:
                fail(f"{path}.{comp}", "needs an interactionType")
            if comp not in COMPONENTS_FOR.get(itype, set()):
                fail(f"{path}.{comp}", f"is not allowed for interactionType '{itype}'")
            interaction_components(value[comp], f"{path}.{comp}")


def activity(value, path: str) -> None:
    _obj(value, path)
    _allowed(value, {"objectType", "id", "definition"}, path)
    if "objectType" in value and value["objectType"] != "Activity":
        fail(f"{path}.objectType", "must be 'Activity'")
    if "id" not in value:
        fail(f"{path}.id", "is required")
    _iri(value["id"], f"{path}.id")
    if "definition" in value:
        definition(value["definition"], f"{path}.definition")


def statement_ref(value, path: str) -> None:
    _allowed(value, {"objectType", "id"}, path)
    if "id" not in value:
        fail(f"{path}.id", "is required")
    _uuid(value["id"], f"{path}.id")


def verb(value, path: str) -> None:
    _obj(value, path)
    _allowed(value, {"id", "display"}, path)
    if "id" not in value:
        fail(f"{path}.id", "is required")
    _iri(value["id"], f"{path}.id")
    if "display" in value:
        language_map(value["display"], f"{path}.display")


def score(value, path: str) -> None:
    _obj(value, path)
    _allowed(value, {"scaled", "raw", "min", "max"}, path)
    for k in value:
        _number(value[k], f"{path}.{k}")
    if "scaled" in value and not -1 <= value["scaled"] <= 1:
        fail(f"{path}.scaled", "must be between -1 and 1")
    if "min" in value and "max" in value and value["min"] >= value["max"]:
        fail(f"{path}.max", "must be greater than min")
    if "raw" in value:
        if "min" in value and value["raw"] < value["min"]:
            fail(f"{path}.raw", "must not be less than min")
        if "max" in value and value["raw"] > value["max"]:
            fail(f"{path}.raw", "must not be greater than max")


def result(value, path: str) -> None:
    _obj(value, path)
    _allowed(value, {"score", "success", "completion", "response", "duration", "extensions"}, path)
    if "score" in value:
        score(value["score"], f"{path}.score")
    for k in ("success", "completion"):
        if k in value:
            _bool(value[k], f"{path}.{k}")
    if "response" in value:
        _string(value["response"], f"{path}.response")
    if "duration" in value:
        if not isinstance(value["duration"], str) or not DURATION_RE.match(value["duration"]):
            fail(f"{path}.duration", "must be an ISO 8601 duration (e.g. PT1M30S)")
    if "extensions" in value:
        extensions(value["extensions"], f"{path}.extensions")


def context(value, path: str, object_type: str) -> None:
    _obj(value, path)
    _allowed(value, {"registration", "instructor", "team", "contextActivities", "revision", "platform",
                     "language", "statement", "extensions"}, path)
    if "registration" in value:
        _uuid(value["registration"], f"{path}.registration")
    if "instructor" in value:
        actor(value["instructor"], f"{path}.instructor")
    if "team" in value:
        t = _obj(value["team"], f"{path}.team")
        if t.get("objectType") != "Group":
            fail(f"{path}.team.objectType", "the team must be a Group")
        group(t, f"{path}.team")
    if "contextActivities" in value:
        ca = _obj(value["contextActivities"], f"{path}.contextActivities")
        _allowed(ca, {"parent", "grouping", "category", "other"}, f"{path}.contextActivities")
        for k, v in ca.items():
            items = v if isinstance(v, list) else [v]
            for i, a in enumerate(items):
                activity(a, f"{path}.contextActivities.{k}[{i}]")
    for k in ("revision", "platform"):
        if k in value:
            _string(value[k], f"{path}.{k}")
            if object_type != "Activity":
                fail(f"{path}.{k}", "is only allowed when the statement's object is an Activity")
    if "language" in value:
        if not isinstance(value["language"], str) or not LANG_RE.match(value["language"]):
            fail(f"{path}.language", "must be an RFC 5646 language tag")
    if "statement" in value:
        s = _obj(value["statement"], f"{path}.statement")
        if s.get("objectType") != "StatementRef":
            fail(f"{path}.statement.objectType", "must be 'StatementRef'")
        statement_ref(s, f"{path}.statement")
    if "extensions" in value:
        extensions(value["extensions"], f"{path}.extensions")


def attachments(value, path: str) -> None:
    if not isinstance(value, list):
        fail(path, "must be an array")
    for i, a in enumerate(value):
        ap = f"{path}[{i}]"
        _obj(a, ap)
        _allowed(a, {"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"}, ap)
        for req in ("usageType", "display", "contentType", "length", "sha2"):
            if req not in a:
                fail(f"{ap}.{req}", "is required")
        _iri(a["usageType"], f"{ap}.usageType")
        language_map(a["display"], f"{ap}.display")
        if "description" in a:
            language_map(a["description"], f"{ap}.description")
        if not isinstance(a["contentType"], str) or not MIME_RE.match(a["contentType"]):
            fail(f"{ap}.contentType", "must be an Internet Media Type")
        if isinstance(a["length"], bool) or not isinstance(a["length"], int) or a["length"] < 0:
            fail(f"{ap}.length", "must be a non-negative integer")
        if not isinstance(a["sha2"], str) or not SHA2_RE.match(a["sha2"]):
            fail(f"{ap}.sha2", "must be a hex SHA-2 hash")
        if "fileUrl" in a:
            _iri(a["fileUrl"], f"{ap}.fileUrl")
        if a["usageType"] == SIGNATURE_USAGE and a["contentType"] != "application/octet-stream":
            fail(f"{ap}.contentType", "a signature attachment must be application/octet-stream")


def statement_object(value, path: str, *, sub: bool) -> str:
    _obj(value, path)
    otype = value.get("objectType", "Activity")
    if not isinstance(otype, str):
        fail(f"{path}.objectType", "must be a string")
    if otype == "Activity":
        activity(value, path)
    elif otype == "Agent":
        agent(value, path)
    elif otype == "Group":
        group(value, path)
    elif otype == "StatementRef":
        statement_ref(value, path)
    elif otype == "SubStatement":
        if sub:
            fail(f"{path}.objectType", "a SubStatement must not contain a SubStatement")
        for forbidden in ("id", "stored", "version", "authority"):
            if forbidden in value:
                fail(f"{path}.{forbidden}", "is not allowed in a SubStatement")
        _statement_body(value, path, sub=True)
    else:
        fail(f"{path}.objectType", "must be Activity, Agent, Group, StatementRef or SubStatement")
    return otype


def _statement_body(value: dict, path: str, *, sub: bool) -> None:
    prefix = f"{path}." if path else ""
    keys = STATEMENT_KEYS if sub else STATEMENT_KEYS - {"objectType"}
    if sub:
        keys = {"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
    _allowed(value, keys, path or "statement")
    for req in ("actor", "verb", "object"):
        if req not in value:
            fail(prefix + req, "is required")
    actor(value["actor"], prefix + "actor")
    verb(value["verb"], prefix + "verb")
    otype = statement_object(value["object"], prefix + "object", sub=sub)
    if "result" in value:
        result(value["result"], prefix + "result")
    if "context" in value:
        context(value["context"], prefix + "context", otype)
    if "timestamp" in value:
        parse_timestamp(value["timestamp"], prefix + "timestamp")
    if "attachments" in value:
        attachments(value["attachments"], prefix + "attachments")
    if value["verb"]["id"] == VOIDED and otype != "StatementRef":
        fail(prefix + "object", "a voiding statement's object must be a StatementRef")


def statement(value) -> None:
    """Raise ValidationError unless `value` is a valid xAPI 1.0.3 statement as a client may send it."""
    if not isinstance(value, dict):
        fail("statement", "must be a JSON object")
    if "id" in value:
        _uuid(value["id"], "id")
    if "version" in value:
        v = value["version"]
        if not isinstance(v, str) or not re.match(r"^1\.0(\.\d+)?$", v):
            fail("version", "must be 1.0.x")
    if "stored" in value:
        parse_timestamp(value["stored"], "stored")
    if "authority" in value:
        au = _obj(value["authority"], "authority")
        actor(au, "authority")
        if au.get("objectType") == "Group":
            if any(k in au for k in IFI_KEYS):
                fail("authority", "an authority Group must be anonymous (the OAuth consumer and user as members)")
            if len(au.get("member") or []) != 2:
                fail("authority.member", "an authority Group must have exactly two members (OAuth consumer and user)")
    _statement_body(value, "", sub=False)


def canonical_uuid(value: str) -> str:
    return str(uuid.UUID(value))


def normalize(stmt: dict) -> dict:
    """Store context activities as arrays (the LRS returns them so even when one object was sent)."""
    for st in (stmt, stmt.get("object") if isinstance(stmt.get("object"), dict) else None):
        if not st:
            continue
        ca = (st.get("context") or {}).get("contextActivities")
        if isinstance(ca, dict):
            for k, val in list(ca.items()):
                if isinstance(val, dict):
                    ca[k] = [val]
    return stmt


def merge_definition(base: dict, new: dict) -> dict:
    """Merge an activity definition into another: language maps and extensions key by key, the rest replaced."""
    for k, val in new.items():
        if k in ("name", "description", "extensions") and isinstance(val, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **val}
        else:
            base[k] = val
    return base
