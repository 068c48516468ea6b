"""`python -m services.ops outbox`: rows a service committed and has not sent, with the
age of the oldest, and rows parked — read from the service's own schema."""

from __future__ import annotations

import asyncpg

from services.common.db import apply_migrations, create_pool
from services.ops.outbox import outbox_queues


async def test_the_outbox_queue_of_a_service_counts_waiting_and_parked_rows(settings):
    pool = await create_pool(settings.database_url, "matching")
    try:
        await apply_migrations(pool, "services.common", "services.matching")
        async with pool.acquire() as conn:
            for n in range(2):
                await conn.execute(
                    "INSERT INTO outbox (topic, key, value, headers, created_at)"
                    " VALUES ('t', NULL, $1, '{}'::jsonb, now() - interval '90 seconds')", f"row {n}".encode(),
                )
    finally:
        await pool.close()
    queues = {service: (waiting, oldest, parked) for service, waiting, oldest, parked in await outbox_queues(settings)}
    waiting, oldest, parked = queues["matching"]
    assert waiting == 2 and 89 <= oldest <= 120 and parked == 0
    assert "intake" not in queues  # no schema of its own in this database
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("DELETE FROM matching.outbox")
    finally:
        await conn.close()
