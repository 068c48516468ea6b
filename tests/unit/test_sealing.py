"""Secrets sealed at rest (services/common/sealing.py)."""

from __future__ import annotations

import base64

import pytest

from services.common.sealing import Sealer, SealingError, _local_key, is_sealed, new_key, sealer_from
from services.common.settings import Settings


def a_sealer() -> Sealer:
    return Sealer(base64.urlsafe_b64decode(new_key()))


def test_a_sealed_secret_opens_only_for_what_it_is_bound_to():
    sealer = a_sealer()
    sealed = sealer.seal("whsec_abc", "subscription-1")
    assert is_sealed(sealed) and "whsec_abc" not in sealed
    assert sealer.open(sealed, "subscription-1") == "whsec_abc"
    with pytest.raises(SealingError, match="bound to something else"):
        sealer.open(sealed, "subscription-2")


def test_the_same_secret_sealed_twice_looks_different():
    sealer = a_sealer()
    assert sealer.seal("x", "a") != sealer.seal("x", "a")


def test_an_altered_value_does_not_open():
    sealer = a_sealer()
    sealed = sealer.seal("whsec_abc", "s")
    head, payload = sealed.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload))
    raw[-1] ^= 1
    with pytest.raises(SealingError):
        sealer.open(f"{head}:{base64.urlsafe_b64encode(bytes(raw)).decode()}", "s")


def test_another_key_is_named_as_such():
    sealed = a_sealer().seal("whsec_abc", "s")
    with pytest.raises(SealingError, match="sealed under key"):
        a_sealer().open(sealed, "s")


def test_the_key_comes_from_the_environment_and_must_be_32_bytes():
    key = new_key()
    assert sealer_from(Settings(secrets_key=key)).key_id == Sealer(base64.urlsafe_b64decode(key)).key_id
    with pytest.raises(SealingError, match="32 bytes"):
        sealer_from(Settings(secrets_key=base64.urlsafe_b64encode(b"short").decode()))


def test_a_local_key_is_made_once_and_kept_private(tmp_path):
    path = tmp_path / "secrets.key"
    first = _local_key(path)
    assert _local_key(path) == first
    assert path.stat().st_mode & 0o077 == 0
    assert len(base64.urlsafe_b64decode(first)) == 32
