"""Who a Kafka client is. Every connection authenticates (SASL/SCRAM-SHA-512) as a
principal, and the broker's ACLs (services/common/kafka_acls.py) decide what it may do:

- `redthread.<service>` for each service: its consumers, its outbox relay, its tools;
- `admin` for provisioning and the operators' tools, the broker's only super user;
- a partner's id for a partner system that publishes on Kafka itself.

A password comes from REDTHREAD_KAFKA_PASSWORD (one process, one principal: compose), or
else from a file named after the principal in the credentials directory, where `make up`
keeps the local ones (readable by their owner only)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from faststream.security import SASLScram512

from services.common.settings import Settings, local_home

ADMIN = "admin"
SCRAM_MECHANISM = "SCRAM-SHA-512"


def service_principal(service: str) -> str:
    return f"redthread.{service}"


class MissingCredential(RuntimeError):
    """No password for a principal: said in one line, with what to do."""


def credentials_dir(settings: Settings) -> Path:
    if settings.kafka_credentials_dir:
        return Path(settings.kafka_credentials_dir)
    return local_home() / "kafka" / "credentials"


def principal_of(settings: Settings, principal: str) -> str:
    """Who a client that would be `principal` authenticates as (settings.kafka_principal
    overrides)."""
    return settings.kafka_principal or principal


def password_of(settings: Settings, principal: str) -> str:
    if settings.kafka_password is not None:
        return settings.kafka_password.get_secret_value()
    path = credentials_dir(settings) / principal
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise MissingCredential(
            f"no Kafka password for {principal}: set REDTHREAD_KAFKA_PASSWORD, or run `make up`, "
            f"which keeps the local ones in {path.parent}"
        ) from None


def ensure_password(settings: Settings, principal: str) -> str:
    """The principal's local password; a new random one, in a file only its owner can
    read, when it has none yet."""
    path = credentials_dir(settings) / principal
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def client_options(settings: Settings, principal: str) -> dict[str, Any]:
    """Keyword arguments that connect an aiokafka client as `principal`."""
    options: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers}
    if settings.kafka_security == "plaintext":
        return options
    principal = principal_of(settings, principal)
    return options | {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": SCRAM_MECHANISM,
        "sasl_plain_username": principal,
        "sasl_plain_password": password_of(settings, principal),
    }


def broker_security(settings: Settings, principal: str) -> SASLScram512 | None:
    """The same for a FastStream broker."""
    if settings.kafka_security == "plaintext":
        return None
    principal = principal_of(settings, principal)
    return SASLScram512(principal, password_of(settings, principal))
