"""Create redthread's topics from the registry (contracts/topics.py) and, with Kafka
security on, the services' principals and ACLs: `make topics`."""

from __future__ import annotations

import asyncio
import sys

from contracts.topics import ALL_TOPICS
from services.common.kafka_acls import registry_grants
from services.common.kafka_provisioning import provision_broker
from services.common.settings import Settings


async def main() -> int:
    settings = Settings()
    replication = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    created = await provision_broker(settings, replication_factor=replication)
    for topic in ALL_TOPICS:
        state = "created" if topic.name in created else "exists "
        print(f"  {state} {settings.topic(topic.name):40} partitions={topic.partitions:<2} writer={topic.writer}")
    if settings.kafka_security == "plaintext":
        print("Kafka security is off (REDTHREAD_KAFKA_SECURITY=plaintext): no principals, no ACLs")
        return 0
    grants = registry_grants(settings.namespace)
    print(f"ACLs from the registry ({len(grants)}):")
    for grant in grants:
        where = f"{grant.name}*" if grant.pattern == "PREFIXED" else grant.name
        print(f"  User:{grant.principal:24} {grant.operation:16} {grant.resource.lower():7} {where}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
