"""Identifying numbers encrypted at rest, and found again through a keyed hash (blind index).

ID numbers, phones and certificate numbers are stored as AES-256-GCM ciphertext (`EncryptedString`, `EncryptedJSON`):
a copy of the database, a backup or a dump shows none of them. Each value carries the id of the key that sealed it
(`kid$nonce+ciphertext`, base64url), so keys rotate: a new key becomes current, old values still open with the key
they name, and `rotate` re-seals every value that is not under the current key, in batches, skipping what is done
(an interrupted rotation resumes where it stopped).

Equality lookups (sign-in by phone, search by ID number, uniqueness) go through `blind()`: an HMAC-SHA256 of the
normalised value under a separate index key, stored beside the ciphertext. Without the key a hash cannot be turned
back into a number or checked against a guessed one.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text, TypeDecorator, literal, select, type_coerce, update
from sqlalchemy.orm import Session

NONCE_BYTES = 12
KEY_BYTES = 32
SEPARATOR = "$"
BLIND_LENGTH = 64  # hex digits of an HMAC-SHA256


class KeysUnusable(RuntimeError):
    """The keys are missing or unusable; the message names the setting."""


@dataclass(frozen=True)
class Keyring:
    """The data keys by id (the first is current, the others still open older values) and the index key."""

    data_keys: tuple[tuple[str, bytes], ...]
    index_key: bytes

    @property
    def current(self) -> str:
        """Return the id of the key new values are sealed with."""
        return self.data_keys[0][0]

    def key(self, kid: str) -> bytes:
        """Return the data key with this id."""
        for known, key in self.data_keys:
            if known == kid:
                return key
        raise KeysUnusable(f"数据密钥 {kid} 不在 DATA_KEYS 中，无法解密")


_ring: dict[str, Keyring] = {}


def _decode_key(text: str, setting: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (ValueError, TypeError):
        raise KeysUnusable(f"{setting}: 密钥不是有效的 base64") from None
    if len(key) != KEY_BYTES:
        raise KeysUnusable(f"{setting}: 密钥应为 {KEY_BYTES} 字节")
    return key


def parse_data_keys(text: str, setting: str = "DATA_KEYS") -> tuple[tuple[str, bytes], ...]:
    """Parse `kid:key,kid:key` (newest first) into (id, key) pairs."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.replace("\n", ",").split(","))):
        kid, sep, encoded = item.partition(":")
        if not sep or not kid.isalnum():
            raise KeysUnusable(f"{setting}: 每个密钥写作 id:base64（id 为字母或数字）")
        pairs.append((kid, _decode_key(encoded, setting)))
    if not pairs:
        raise KeysUnusable(f"{setting}: 至少需要一个密钥")
    if len({kid for kid, _ in pairs}) != len(pairs):
        raise KeysUnusable(f"{setting}: 密钥 id 重复")
    return tuple(pairs)


def new_key_text(kid: str | None = None) -> str:
    """Return a fresh data key as `kid:base64` (the id defaults to a random one)."""
    kid = kid or secrets.token_hex(4)
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip('=')}"


def _kept_in_file(path: Path, make: str) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def configure(data_keys: str, index_key: str, instance_dir: Path | str) -> Keyring:
    """Load the keys from settings; on the embedded default generate them once under `instance_dir`.

    Production sets DATA_KEYS and INDEX_KEY (from a secret store); the embedded default keeps them beside the
    SQLite file like the secret key, so a demo database stays readable across restarts.
    """
    instance = Path(instance_dir)
    data_text = data_keys or _kept_in_file(instance / "data_keys", new_key_text())
    index_text = index_key or _kept_in_file(instance / "index_key", new_key_text("index").partition(":")[2])
    ring = Keyring(parse_data_keys(data_text), _decode_key(index_text, "INDEX_KEY"))
    _ring["active"] = ring
    return ring


def add_key_to_file(instance_dir: Path | str) -> str:
    """Make a new data key current in the embedded default's key file; return its id."""
    path = Path(instance_dir) / "data_keys"
    kid, _, _ = (text := new_key_text()).partition(":")
    old = path.read_text().strip() if path.exists() else ""
    path.write_text(f"{text}\n{old}\n" if old else f"{text}\n")
    path.chmod(0o600)
    return kid


def keyring() -> Keyring:
    """Return the configured keys (create_app configures them)."""
    if "active" not in _ring:
        raise KeysUnusable("数据密钥尚未配置（DATA_KEYS / INDEX_KEY）")
    return _ring["active"]


def encrypt(text: str) -> str:
    """Seal `text` under the current key."""
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.key(ring.current)).encrypt(nonce, text.encode(), None)
    return f"{ring.current}{SEPARATOR}{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(token: str) -> str:
    """Open a value sealed by `encrypt` under any key of the ring."""
    kid, sep, body = token.partition(SEPARATOR)
    if not sep:
        raise KeysUnusable("数据不是密文，无法解密")
    raw = base64.urlsafe_b64decode(body)
    return AESGCM(keyring().key(kid)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()


def blind(value: str) -> str:
    """Return the keyed hash that finds `value` (normalised: no spaces, upper case) without revealing it."""
    normalised = "".join(value.split()).upper()
    return hmac.new(keyring().index_key, normalised.encode(), hashlib.sha256).hexdigest()


class EncryptedString(TypeDecorator):
    """A string column stored sealed; reads give the plain text back."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ARG002
        return None if value is None else encrypt(str(value))

    def process_result_value(self, value, dialect):  # noqa: ARG002
        return None if value is None else decrypt(value)


class EncryptedJSON(TypeDecorator):
    """A JSON document stored sealed (replace the whole value to change it; in-place edits are not tracked)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ARG002
        return None if value is None else encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def process_result_value(self, value, dialect):  # noqa: ARG002
        return None if value is None else json.loads(decrypt(value))


def encrypted_columns(metadata) -> Iterator[tuple[object, object]]:
    """Yield (table, column) for every sealed column of the schema."""
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString | EncryptedJSON):
                yield table, column


def rotate(session: Session, metadata, batch: int = 500, progress=None) -> int:
    """Re-seal every value not under the current key, a batch per commit; return how many were re-sealed.

    Values are read and written as raw ciphertext (bypassing the column type) so that each is opened with the key
    it names and sealed with the current one. Rows already under the current key are never selected again, which
    is what makes an interrupted rotation resume where it stopped.
    """
    prefix = keyring().current + SEPARATOR
    total = 0
    for table, column in encrypted_columns(metadata):
        raw = type_coerce(table.c[column.name], Text)
        key_columns = list(table.primary_key.columns)
        while rows := session.execute(
            select(*key_columns, raw).where(raw.is_not(None), ~raw.startswith(prefix)).limit(batch)
        ).all():
            for *ident, sealed in rows:
                session.execute(
                    update(table).where(*(c == v for c, v in zip(key_columns, ident, strict=True)))
                    .values({column.name: literal(encrypt(decrypt(sealed)), Text)})
                )
            session.commit()
            total += len(rows)
            if progress:
                progress(table.name, column.name, len(rows))
    return total
