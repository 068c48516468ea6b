"""Create redthread's topics from the registry (contracts/topics.py): `make topics`."""

from __future__ import annotations

import asyncio
import sys

from contracts.topics import ALL_TOPICS
from services.common.kafka import ensure_topics
from services.common.settings import Settings


async def main() -> int:
    settings = Settings()
    replication = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    created = await ensure_topics(settings, replication_factor=replication)
    for topic in ALL_TOPICS:
        state = "created" if topic.name in created else "exists "
        print(f"  {state} {settings.topic(topic.name):40} partitions={topic.partitions:<2} writer={topic.writer}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
