"""The operator commands' way into notification's tables."""

from __future__ import annotations

import asyncpg

from services.common.settings import Settings

SCHEMA = "notification"


class MissingSchema(RuntimeError):
    """The database has no notification tables (yet): said in one line."""


async def notification_connection(settings: Settings) -> asyncpg.Connection:
    conn = await asyncpg.connect(settings.database_url, server_settings={"search_path": SCHEMA})
    if await conn.fetchval("SELECT to_regclass('deliveries') IS NULL"):
        await conn.close()
        raise MissingSchema(f"no schema {SCHEMA!r} with deliveries in this database: has notification run against it?")
    return conn
