"""Provisioning the broker as admin: topics from the registry, the services' SCRAM
credentials and the ACLs of services/common/kafka_acls.py; and a partner's own principal.

aiokafka's admin client has no call for SCRAM credentials and creates one ACL per
request, so the two Kafka requests (AlterUserScramCredentials, CreateAcls) are declared
here on aiokafka's protocol types and sent through its admin client's connection."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Sequence
from typing import TypeAlias

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.protocol.admin import DescribeAclsRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    String,
    TaggedFields,
)

from contracts.topics import ALL_TOPICS, PARTNER_FAMILIES, Topic, own_topic
from services.common.kafka_acls import SERVICES, Grant, check_partner_principal, partner_grants, registry_grants
from services.common.kafka_security import ADMIN, client_options, ensure_password, service_principal
from services.common.settings import Settings

# --- the protocol's codes (org.apache.kafka.common.acl / resource) --------------------
RESOURCE_TYPES = {"TOPIC": 2, "GROUP": 3, "CLUSTER": 4}
PATTERN_TYPES = {"LITERAL": 3, "PREFIXED": 4}
OPERATIONS = {"READ": 3, "WRITE": 4, "IDEMPOTENT_WRITE": 12}
ALLOW = 3
SCRAM_SHA_512 = 2
# Kafka accepts 4096 to 16384.
SCRAM_ITERATIONS = 8192


# --- AlterUserScramCredentials (API 51), v0 ---------------------------------------------


class AlterUserScramCredentialsResponse_v0(Response):  # noqa: N801 - aiokafka's naming
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(
            ("user", CompactString("utf-8")),
            ("error_code", Int16),
            ("error_message", CompactString("utf-8")),
            ("tags", TaggedFields),
        )),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # noqa: N801
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(
            ("name", CompactString("utf-8")),
            ("mechanism", Int8),
            ("tags", TaggedFields),
        )),
        ("upsertions", CompactArray(
            ("name", CompactString("utf-8")),
            ("mechanism", Int8),
            ("iterations", Int32),
            ("salt", CompactBytes),
            ("salted_password", CompactBytes),
            ("tags", TaggedFields),
        )),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentials(Request[AlterUserScramCredentialsRequest_v0]):
    API_KEY = 51

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def build(self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]) -> AlterUserScramCredentialsRequest_v0:
        upsertions = []
        for user, password in self.users.items():
            salt = secrets.token_bytes(32)
            # SCRAM's SaltedPassword (RFC 5802, Hi): the broker never sees the password.
            salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
            upsertions.append((user, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted, {}))
        return request_struct_class([], upsertions, {})


# --- CreateAcls (API 30), v1 and v2, many creations per request ---------------------------


class CreateAclsResponse_v1(Response):  # noqa: N801
    API_KEY = 30
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(("error_code", Int16), ("error_message", String("utf-8")))),
    )


class CreateAclsResponse_v2(Response):  # noqa: N801
    API_KEY = 30
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("error_code", Int16), ("error_message", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class CreateAclsRequest_v1(RequestStruct):  # noqa: N801
    API_KEY = 30
    API_VERSION = 1
    RESPONSE_TYPE = CreateAclsResponse_v1
    SCHEMA = Schema(
        ("creations", Array(
            ("resource_type", Int8), ("resource_name", String("utf-8")), ("pattern_type", Int8),
            ("principal", String("utf-8")), ("host", String("utf-8")), ("operation", Int8), ("permission", Int8),
        )),
    )


class CreateAclsRequest_v2(RequestStruct):  # noqa: N801
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 2
    RESPONSE_TYPE = CreateAclsResponse_v2
    SCHEMA = Schema(
        ("creations", CompactArray(
            ("resource_type", Int8), ("resource_name", CompactString("utf-8")), ("pattern_type", Int8),
            ("principal", CompactString("utf-8")), ("host", CompactString("utf-8")), ("operation", Int8),
            ("permission", Int8), ("tags", TaggedFields),
        )),
        ("tags", TaggedFields),
    )


CreateAclsStruct: TypeAlias = CreateAclsRequest_v1 | CreateAclsRequest_v2


class CreateAcls(Request[CreateAclsStruct]):
    API_KEY = 30

    def __init__(self, grants: Sequence[Grant]) -> None:
        self.grants = grants

    def build(self, request_struct_class: type[CreateAclsStruct]) -> CreateAclsStruct:
        flexible = request_struct_class.FLEXIBLE_VERSION
        creations = [
            (RESOURCE_TYPES[g.resource], g.name, PATTERN_TYPES[g.pattern], f"User:{g.principal}", "*",
             OPERATIONS[g.operation], ALLOW, *([{}] if flexible else []))
            for g in self.grants
        ]
        return request_struct_class(creations, {}) if flexible else request_struct_class(creations)


class ProvisioningError(RuntimeError):
    pass


def _raise_errors(what: str, errors: list[tuple[str, int, str | None]]) -> None:
    failed = [f"{subject}: {for_code(code).__name__} {message or ''}".strip() for subject, code, message in errors if code]
    if failed:
        raise ProvisioningError(f"{what} failed for " + "; ".join(failed))


async def set_scram_credentials(admin: AIOKafkaAdminClient, users: dict[str, str]) -> None:
    """Create or replace the SCRAM-SHA-512 credential of each user (name -> password)."""
    response = await admin._send_to_controller(AlterUserScramCredentials(users))  # noqa: SLF001
    _raise_errors("setting SCRAM credentials", [(user, code, message) for user, code, message, _ in response.results])


async def create_acls(admin: AIOKafkaAdminClient, grants: Sequence[Grant], wait_s: float = 30) -> None:
    """Create these ACLs (those that exist already stay as they are) and wait until the
    broker's authorizer applies them: the controller answers once they are committed,
    the broker applies them when it has read them, and a client started in between
    would be refused."""
    if not grants:
        return
    response = await admin._send_request(CreateAcls(grants))  # noqa: SLF001
    results = [(str(grant), result[0], result[1]) for grant, result in zip(grants, response.results, strict=True)]
    _raise_errors("creating ACLs", results)
    wanted = {(f"User:{g.principal}", OPERATIONS[g.operation], RESOURCE_TYPES[g.resource], g.name, PATTERN_TYPES[g.pattern])
              for g in grants}
    deadline = asyncio.get_running_loop().time() + wait_s
    while not wanted <= await _acls_in_effect(admin):
        if asyncio.get_running_loop().time() > deadline:
            raise ProvisioningError(f"the broker did not apply {len(wanted)} new ACLs within {wait_s:.0f}s")
        await asyncio.sleep(0.05)


async def _acls_in_effect(admin: AIOKafkaAdminClient) -> set[tuple[str, int, int, str, int]]:
    """(principal, operation, resource type, name, pattern type) of every ALLOW ACL."""
    any_ = 1  # ANY for resource type, pattern type, operation and permission alike
    response = await admin._send_request(DescribeAclsRequest(any_, None, any_, None, None, any_, any_))  # noqa: SLF001
    if response.error_code:
        raise ProvisioningError(f"describing ACLs failed: {for_code(response.error_code).__name__} {response.error_message}")
    return {
        (principal, operation, resource_type, name, pattern)
        for resource_type, name, pattern, acls in response.resources
        for principal, _host, operation, permission in acls
        if permission == ALLOW
    }


def admin_client(settings: Settings, client_id: str = "redthread-admin") -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**client_options(settings, ADMIN), client_id=client_id)


async def provision_broker(settings: Settings, topics: Sequence[Topic] = ALL_TOPICS, replication_factor: int = 1) -> list[str]:
    """Missing topics from the registry and, with security on, the services' principals
    (local passwords made when missing) and their ACLs; returns the names of the topics
    created. Running it again is harmless: the same passwords are set once more."""
    admin = admin_client(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(settings.topic(t.name), num_partitions=t.partitions, replication_factor=replication_factor,
                     topic_configs=dict(t.config))
            for t in topics
            if settings.topic(t.name) not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
        if settings.kafka_security != "plaintext":
            principals = [service_principal(service) for service in SERVICES]
            await set_scram_credentials(admin, {p: ensure_password(settings, p) for p in principals})
            await create_acls(admin, registry_grants(settings.namespace))
        return [t.name for t in topics if settings.topic(t.name) in {n.name for n in missing}]
    finally:
        await admin.close()


async def provision_partner(settings: Settings, partner_id: str) -> list[str]:
    """A partner's own topics and, with security on, the ACLs of its principal: it may
    write only its own topics and read the need feed."""
    admin = admin_client(settings)
    await admin.start()
    try:
        names = {family: settings.topic(own_topic(family, partner_id)) for family in PARTNER_FAMILIES}
        missing = set(names.values()) - set(await admin.list_topics())
        if missing:
            await admin.create_topics(
                [NewTopic(name, num_partitions=f.partitions, replication_factor=1) for f, name in names.items() if name in missing]
            )
        if settings.kafka_security != "plaintext":
            await create_acls(admin, partner_grants(partner_id, settings.namespace))
        return sorted(names.values())
    finally:
        await admin.close()


async def set_partner_password(settings: Settings, partner_id: str) -> str:
    """A new random password for the partner's principal, replacing the old one."""
    if settings.kafka_security == "plaintext":
        raise ProvisioningError("the broker runs without security (REDTHREAD_KAFKA_SECURITY=plaintext): nothing to set")
    check_partner_principal(partner_id)
    password = secrets.token_urlsafe(24)
    admin = admin_client(settings)
    await admin.start()
    try:
        await set_scram_credentials(admin, {partner_id: password})
    finally:
        await admin.close()
    return password
