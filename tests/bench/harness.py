"""What every benchmark needs: its own namespace (topics, consumer groups) and database
on the local broker and server, removed afterwards, and a way to print ratios."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from services.common.kafka_security import ADMIN, client_options
from services.common.kafka_provisioning import provision_broker
from services.common.settings import Settings


@asynccontextmanager
async def bench_environment(**overrides) -> AsyncIterator[Settings]:
    server_url = os.environ["DATABASE_URL"]
    namespace = "bench" + secrets.token_hex(3)
    database = f"redthread_{namespace}"
    conn = await asyncpg.connect(server_url)
    await conn.execute(f'CREATE DATABASE "{database}"')
    await conn.close()
    settings = Settings(namespace=namespace, database_url=server_url.rpartition("/")[0] + "/" + database, **overrides)
    await provision_broker(settings)
    try:
        yield settings
    finally:
        admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
        await admin.start()
        try:
            await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(namespace + ".")])
        finally:
            await admin.close()
        conn = await asyncpg.connect(server_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.close()


def report(title: str, rows: list[tuple[str, float, str]], baseline: float) -> None:
    """rows: (name, value, unit); ratios are against `baseline` (same unit)."""
    print(f"\n{title}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, unit in rows:
        print(f"  {name:<{width}}  {value:>12,.0f} {unit:<10} {value / baseline:>6.2f}× baseline")
