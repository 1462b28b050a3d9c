"""Attachments in multipart/mixed (sha2 checked) and signed statements (JWS, RS256, x5c)."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

from plugins.xapi.tests.conftest import stmt

SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"


def attachment_meta(content: bytes, usage="http://example.org/attachment/certificate", ctype="text/plain"):
    return {"usageType": usage, "display": {"zh-CN": "附件"}, "contentType": ctype, "length": len(content),
            "sha2": hashlib.sha256(content).hexdigest()}


def multipart(statements, parts, boundary="xapiboundary", hash_header=True, cte=True):
    chunks = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(), json.dumps(statements).encode(),
              b"\r\n"]
    for ctype, content in parts:
        head = f"--{boundary}\r\nContent-Type: {ctype}\r\n"
        if cte:
            head += "Content-Transfer-Encoding: binary\r\n"
        if hash_header:
            head += f"X-Experience-API-Hash: {hashlib.sha256(content).hexdigest()}\r\n"
        chunks += [(head + "\r\n").encode(), content, b"\r\n"]
    chunks.append(f"--{boundary}--".encode())
    return b"".join(chunks), f'multipart/mixed; boundary="{boundary}"'


def test_attachment_is_stored_and_returned_with_attachments_true(lrs):
    content = "结业证书".encode()
    s = stmt(attachments=[attachment_meta(content)])
    body, ctype = multipart(s, [("text/plain", content)])
    r = lrs.post("statements", raw=body, content_type=ctype)
    assert r.status_code == 200, r.get_json()
    sid = r.get_json()[0]
    got = lrs.get("statements", {"statementId": sid, "attachments": "true"})
    assert got.mimetype == "multipart/mixed"
    assert content in got.data and hashlib.sha256(content).hexdigest().encode() in got.data
    plain = lrs.get("statements", {"statementId": sid})
    assert plain.mimetype == "application/json"


def test_attachment_without_its_part_is_rejected(lrs):
    s = stmt(attachments=[attachment_meta(b"missing")])
    assert lrs.post("statements", s).status_code == 400


def test_attachment_with_file_url_needs_no_part(lrs):
    meta = dict(attachment_meta(b"remote"), fileUrl="http://example.org/files/1")
    assert lrs.post("statements", stmt(attachments=[meta])).status_code == 200


def test_part_without_matching_attachment_or_with_wrong_hash_is_rejected(lrs):
    body, ctype = multipart(stmt(), [("text/plain", b"stray")])
    assert lrs.post("statements", raw=body, content_type=ctype).status_code == 400
    content = b"abc"
    body, ctype = multipart(stmt(attachments=[attachment_meta(content)]), [("text/plain", content)])
    tampered = body.replace(b"\r\nabc\r\n", b"\r\nabd\r\n")
    r = lrs.post("statements", raw=tampered, content_type=ctype)
    assert r.status_code == 400 and "X-Experience-API-Hash" in r.get_json()["error"]


def test_parts_need_hash_and_binary_transfer_encoding(lrs):
    content = b"abc"
    s = stmt(attachments=[attachment_meta(content)])
    body, ctype = multipart(s, [("text/plain", content)], hash_header=False)
    assert lrs.post("statements", raw=body, content_type=ctype).status_code == 400
    body, ctype = multipart(s, [("text/plain", content)], cte=False)
    assert lrs.post("statements", raw=body, content_type=ctype).status_code == 400


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signing_material():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lms test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return key, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _jws(key, x5c, payload: dict, alg="RS256") -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = _b64url(json.dumps({"alg": alg, "x5c": [x5c]}).encode())
    body = _b64url(json.dumps(payload).encode())
    sig = key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{body}.{_b64url(sig)}".encode()


def _signed(s: dict, token: bytes):
    signed = dict(s, attachments=[attachment_meta(token, usage=SIGNATURE, ctype="application/octet-stream")])
    return multipart(signed, [("application/octet-stream", token)])


def test_valid_signed_statement_is_accepted(lrs):
    key, x5c = _signing_material()
    s = stmt(id="6f9619ff-8b86-4011-b42d-00c04fc964ff")
    body, ctype = _signed(s, _jws(key, x5c, s))
    r = lrs.post("statements", raw=body, content_type=ctype)
    assert r.status_code == 200, r.get_json()


def test_signature_of_another_statement_is_rejected(lrs):
    key, x5c = _signing_material()
    s = stmt()
    other = stmt(verb={"id": "http://adlnet.gov/expapi/verbs/passed"})
    body, ctype = _signed(s, _jws(key, x5c, other))
    r = lrs.post("statements", raw=body, content_type=ctype)
    assert r.status_code == 400 and "payload" in r.get_json()["error"]


def test_signature_not_verifying_with_its_certificate_is_rejected(lrs):
    key, _x5c = _signing_material()
    _other_key, other_x5c = _signing_material()
    s = stmt()
    body, ctype = _signed(s, _jws(key, other_x5c, s))
    assert lrs.post("statements", raw=body, content_type=ctype).status_code == 400


def test_malformed_signature_and_wrong_algorithm_are_rejected(lrs):
    s = stmt()
    body, ctype = _signed(s, b"not-a-jws")
    assert lrs.post("statements", raw=body, content_type=ctype).status_code == 400
    header = _b64url(json.dumps({"alg": "HS256"}).encode())
    token = f"{header}.{_b64url(json.dumps(s).encode())}.{_b64url(b'x')}".encode()
    body, ctype = _signed(s, token)
    r = lrs.post("statements", raw=body, content_type=ctype)
    assert r.status_code == 400 and "RS256" in r.get_json()["error"]
