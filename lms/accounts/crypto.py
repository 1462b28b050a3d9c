"""Field encryption at rest (PI-03): AES-256-GCM with a key from the environment, never from the database.

Sensitive columns (a person's phone number, TOTP secrets) are declared `EncryptedText("<table>.<column>")`;
the database only ever holds

    enc1:<key id>:<base64url(12-byte nonce ‖ ciphertext ‖ 16-byte tag)>

The column name is the associated data, so a value moved to another column does not decrypt. The key
id (8 hex characters of a hash of the key) names the key that wrote the value, so keys can be
rotated: the new key goes into `DATA_KEY`, the old ones into `DATA_KEYS_OLD`, then
`flask lms data-key-rotate` rewrites every value with the new key.

Keys: `LMS_DATA_KEY` (32 random bytes, base64url or hex: `python -c "import secrets;
print(secrets.token_urlsafe(32))"`). In the embedded default a key is generated into the instance
folder (`instance/data_key`, mode 0600) like the secret key; with `LMS_ENV=production` the app refuses
to start without a configured key (`lms.config.load_config`).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

PREFIX = "enc1"
KEY_FILE = "data_key"
_NONCE = 12


class DataKeyError(RuntimeError):
    """The data key is missing, malformed, or not the one a stored value was written with."""


def parse_key(raw: str | bytes) -> bytes:
    """32 key bytes from base64url (43/44 characters) or hex (64 characters)."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    text = (raw or "").strip()
    key = None
    if len(text) == 64:
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = None
    if key is None:
        try:
            key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            key = None
    if key is None or len(key) != 32:
        raise DataKeyError("DATA_KEY must be 32 random bytes, base64url or hex encoded "
                           "(python -c \"import secrets; print(secrets.token_urlsafe(32))\")")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"lms-data-key-id\x00" + key).hexdigest()[:8]


def new_key_text() -> str:
    return secrets.token_urlsafe(32)


def instance_key(instance: Path) -> str:
    """Read the embedded default's key from the instance folder, creating it (mode 0600) on first start."""
    path = Path(instance) / KEY_FILE
    if path.is_file():
        return path.read_text().strip()
    text = new_key_text()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return text


class Keyring:
    """The current key (encrypts) and every configured key by id (decrypts)."""

    def __init__(self, current: str, old: list[str] | None = None):
        key = parse_key(current)
        self.current_id = key_id(key)
        self._aead = {self.current_id: AESGCM(key)}
        self._mac_key = hmac.new(key, b"lms-keyed-hash", hashlib.sha256).digest()
        for raw in old or []:
            k = parse_key(raw)
            self._aead.setdefault(key_id(k), AESGCM(k))

    def encrypt(self, value: str, purpose: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead[self.current_id].encrypt(nonce, value.encode("utf-8"), purpose.encode())
        return f"{PREFIX}:{self.current_id}:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decrypt(self, token: str, purpose: str) -> str:
        try:
            prefix, kid, body = token.split(":", 2)
        except ValueError:
            prefix = kid = body = ""
        if prefix != PREFIX:
            raise DataKeyError(f"{purpose} holds a value that is not encrypted")
        aead = self._aead.get(kid)
        if aead is None:
            raise DataKeyError(f"{purpose} was encrypted with key {kid}, which is not configured "
                               "(DATA_KEY / DATA_KEYS_OLD)")
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return aead.decrypt(blob[:_NONCE], blob[_NONCE:], purpose.encode()).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DataKeyError(f"{purpose}: a stored value does not decrypt (altered or moved)") from exc

    def needs_rotation(self, token: str | None) -> bool:
        return bool(token) and not token.startswith(f"{PREFIX}:{self.current_id}:")

    def keyed_hash(self, value: str, purpose: str) -> str:
        """HMAC-SHA256 for equality look-ups of an encrypted value (changes when the key changes)."""
        return hmac.new(self._mac_key, purpose.encode() + b"\x00" + value.encode("utf-8"), hashlib.sha256).hexdigest()


def keyring(app=None) -> Keyring:
    """The app's keyring, built once from its config."""
    app = app or current_app._get_current_object()
    ring = app.extensions.get("lms_data_keys")
    if ring is None:
        if not app.config.get("DATA_KEY"):
            raise DataKeyError("no DATA_KEY configured")
        ring = Keyring(app.config["DATA_KEY"], list(app.config.get("DATA_KEYS_OLD") or []))
        app.extensions["lms_data_keys"] = ring
    return ring


def encrypt(value: str, purpose: str) -> str:
    return keyring().encrypt(value, purpose)


def decrypt(token: str, purpose: str) -> str:
    return keyring().decrypt(token, purpose)


class EncryptedText(TypeDecorator):
    """A text column whose values are stored AES-GCM encrypted; Python sees the clear text.

    Equality in SQL (`WHERE phone = …`) cannot work (each write has a fresh nonce): look values up
    through a keyed-hash column instead.
    """

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str):
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return encrypt(str(value), self.purpose)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return decrypt(value, self.purpose)

    def copy(self, **kw):
        return EncryptedText(self.purpose)


# --- key rotation -------------------------------------------------------------------------------------------
def encrypted_columns(metadata) -> list[tuple[str, str, str]]:
    """(table, column, purpose) of every EncryptedText column of tables with a single `id` key."""
    found = []
    for table in metadata.sorted_tables:
        if [c.name for c in table.primary_key.columns] != ["id"]:
            continue
        for col in table.columns:
            if isinstance(col.type, EncryptedText):
                found.append((table.name, col.name, col.type.purpose))
    return found


def rotate(session, metadata, batch: int = 500) -> dict[str, int]:
    """Rewrite every value not written with the current key; returns the count per `table.column`.

    Works on the stored text (no ORM objects), one batch per commit, so it can run on a live system
    and be interrupted and run again.
    """
    from sqlalchemy import Integer, bindparam, column, select, table

    ring = keyring()
    counts: dict[str, int] = {}
    for tname, cname, purpose in encrypted_columns(metadata):
        t = table(tname, column("id", Integer), column(cname, Text))
        stmt = t.update().where(t.c.id == bindparam("row_id")).values({cname: bindparam("value")})
        last, done = 0, 0
        while True:
            rows = session.execute(select(t.c.id, t.c[cname]).where(t.c.id > last, t.c[cname].is_not(None))
                                   .order_by(t.c.id).limit(batch)).all()
            if not rows:
                break
            last = rows[-1][0]
            todo = [{"row_id": i, "value": ring.encrypt(ring.decrypt(v, purpose), purpose)}
                    for i, v in rows if ring.needs_rotation(v)]
            if todo:
                session.execute(stmt, todo)
                session.commit()
                done += len(todo)
        counts[f"{tname}.{cname}"] = done
    return counts
