"""Secrets kept at rest, sealed with a key the database never sees.

A value is sealed with AES-256-GCM under the key of REDTHREAD_SECRETS_KEY (32 bytes,
URL-safe base64) and bound to what it belongs to (the associated data, e.g. a
subscription's id), so a sealed value copied onto another row does not open. A sealed
value reads `sealed:v1:<key id>:<base64 nonce + ciphertext>`; the key id (the first bytes
of the key's SHA-256) says which key sealed it, so a wrong key is named as such.

Without REDTHREAD_SECRETS_KEY, a local key is made once in $REDTHREAD_HOME/secrets.key
(readable by its owner only), as `make run` and the tests need; a deployment sets the
variable (docker-compose requires it), or every restart of a container would make a key
that cannot open what the last one sealed."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.settings import Settings, local_home

PREFIX = "sealed:v1:"


class SealingError(RuntimeError):
    """A sealed value that this key cannot open, or a key that is not one."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SealingError(f"the secrets key must be 32 bytes (URL-safe base64), not {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:8]

    def seal(self, value: str, bound_to: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, value.encode(), bound_to.encode())
        return f"{PREFIX}{self.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, value: str, bound_to: str) -> str:
        if not is_sealed(value):
            raise SealingError("not a sealed value")
        key_id, _, payload = value.removeprefix(PREFIX).partition(":")
        if key_id != self.key_id:
            raise SealingError(f"sealed under key {key_id}, but REDTHREAD_SECRETS_KEY is key {self.key_id}")
        raw = base64.urlsafe_b64decode(payload)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], bound_to.encode()).decode()
        except InvalidTag:
            raise SealingError("the sealed value does not open: altered, or bound to something else") from None


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def sealer_from(settings: Settings) -> Sealer:
    if settings.secrets_key is not None:
        encoded = settings.secrets_key.get_secret_value()
    else:
        encoded = _local_key(local_home() / "secrets.key")
    try:
        key = base64.urlsafe_b64decode(encoded.strip())
    except ValueError:
        raise SealingError("REDTHREAD_SECRETS_KEY is not URL-safe base64") from None
    return Sealer(key)


def _local_key(path: Path) -> str:
    """The key in `path`, made there first if there is none; two processes starting at
    once end up with the same one (the file appears whole, by a hard link, or not at all)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(new_key())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text()
