"""The broker's ACLs, derived from the topic registry (contracts/topics.py) and nothing
else: a topic is writable by its writer and readable by its readers, and a principal may
do nothing it is not granted (the broker runs with allow.everyone.if.no.acl.found=false).

- Each service may read what it reads (intake: every partner topic, by prefix), write
  what it writes and the dead-letter topic when it consumes, and use the consumer groups
  named after it.
- A partner system may write only its own topics (`partner.<id>.*`, where the broker
  vouches for the sender and intake requires the CloudEvents source to be that partner),
  read the need feed, and use consumer groups named `partner.<id>.*`.
- Nobody but admin writes the shared partner topics (notification excepted: it writes
  the answers given through its links to partner.feedback.v1), and only intake writes
  redthread.partner-access.v1, which carries every partner's roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contracts.topics import ALL_TOPICS, NEED_FEED, PARTNER_FAMILIES, PARTNER_ID, SERVICES, Topic
from services.common.kafka_security import ADMIN, service_principal
EVERY_CONSUMER = "every consumer"

Operation = Literal["READ", "WRITE", "IDEMPOTENT_WRITE"]
Resource = Literal["TOPIC", "GROUP", "CLUSTER"]
Pattern = Literal["LITERAL", "PREFIXED"]
CLUSTER = "kafka-cluster"


@dataclass(frozen=True, order=True)
class Grant:
    """An ALLOW ACL for `principal` (a user name, without "User:") from any host."""

    principal: str
    operation: Operation
    resource: Resource
    name: str
    pattern: Pattern = "LITERAL"


def writers(topic: Topic) -> set[str]:
    named = {writer.strip() for writer in topic.writer.split(";")}
    if EVERY_CONSUMER in named:
        named |= {service for service in SERVICES if reads_anything(service)}
    return named & set(SERVICES)


def reads_anything(service: str) -> bool:
    return any(service in topic.readers for topic in ALL_TOPICS)


def service_grants(service: str, namespace: str = "") -> list[Grant]:
    ns = f"{namespace}." if namespace else ""
    principal = service_principal(service)
    grants: set[Grant] = set()
    for topic in ALL_TOPICS:
        if service in topic.readers:
            if topic in PARTNER_FAMILIES:  # shared and partners' own, read by pattern
                grants.add(Grant(principal, "READ", "TOPIC", f"{ns}partner.", "PREFIXED"))
            else:
                grants.add(Grant(principal, "READ", "TOPIC", ns + topic.name))
        if service in writers(topic):
            grants.add(Grant(principal, "WRITE", "TOPIC", ns + topic.name))
    if reads_anything(service):
        grants.add(Grant(principal, "READ", "GROUP", f"{ns}{service_principal(service)}", "PREFIXED"))
    if any(g.operation == "WRITE" for g in grants):
        grants.add(Grant(principal, "IDEMPOTENT_WRITE", "CLUSTER", CLUSTER))
    return sorted(grants)


def registry_grants(namespace: str = "") -> list[Grant]:
    """Every service's grants."""
    return [grant for service in SERVICES for grant in service_grants(service, namespace)]


def check_partner_principal(partner_id: str) -> None:
    """A partner's principal is its id: never the super user's name, never one with a dot
    (services' principals have one, and a dot would let a prefix reach further)."""
    if not PARTNER_ID.match(partner_id):
        raise ValueError(f"partner id {partner_id!r} must be lower-case letters, digits and '-' (no '.')")
    if partner_id == ADMIN:
        raise ValueError(f"{ADMIN!r} is the broker's super user, not a partner")


def partner_grants(partner_id: str, namespace: str = "") -> list[Grant]:
    check_partner_principal(partner_id)
    ns = f"{namespace}." if namespace else ""
    own = f"{ns}partner.{partner_id}."
    return sorted({
        Grant(partner_id, "WRITE", "TOPIC", own, "PREFIXED"),
        Grant(partner_id, "IDEMPOTENT_WRITE", "CLUSTER", CLUSTER),
        Grant(partner_id, "READ", "TOPIC", ns + NEED_FEED.name),
        Grant(partner_id, "READ", "GROUP", own, "PREFIXED"),
    })

