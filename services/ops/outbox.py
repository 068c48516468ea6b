"""`outbox`: what each service has committed but not yet sent to Kafka, and what Kafka
refused (`outbox_parked`), per service schema."""

from __future__ import annotations

import argparse

import asyncpg

from services.common.settings import SERVICE_PORTS, Settings


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("outbox", help="each service's outbox: rows waiting, the oldest, rows parked")
    parser.set_defaults(run=show_outbox)


async def outbox_queues(settings: Settings) -> list[tuple[str, int, float | None, int]]:
    """(service, rows waiting, age of the oldest in seconds, rows parked) for each service
    whose schema has an outbox in this database."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        found = []
        for service in SERVICE_PORTS:
            if await conn.fetchval("SELECT to_regclass($1) IS NULL", f"{service}.outbox"):
                continue
            row = await conn.fetchrow(
                f'SELECT (SELECT count(*) FROM "{service}".outbox) AS waiting,'
                f' (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM "{service}".outbox) AS oldest,'
                f' (SELECT count(*) FROM "{service}".outbox_parked) AS parked'
            )
            found.append((service, row["waiting"], row["oldest"], row["parked"]))
        return found
    finally:
        await conn.close()


async def show_outbox(args: argparse.Namespace, settings: Settings) -> int:
    queues = await outbox_queues(settings)
    for service, waiting, oldest, parked in queues:
        age = "-" if oldest is None else f"{oldest:,.1f} s"
        print(f"{service:<13} {waiting:>7,} waiting  oldest {age:>10}  {parked:>5,} parked")
    if not queues:
        print("no service's outbox in this database: have the services run against it?")
    return 0
