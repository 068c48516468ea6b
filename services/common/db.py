"""PostgreSQL access: one pool per service, bound to the service's own schema, and
versioned SQL migrations applied at start."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Serialises migrations when several instances of a service start at once.
_MIGRATION_LOCK = 0x7ED7_4EAD


async def create_pool(database_url: str, schema: str, *, max_size: int = 10) -> asyncpg.Pool:
    await _ensure_schema(database_url, schema)
    return await asyncpg.create_pool(
        database_url, min_size=1, max_size=max_size, server_settings={"search_path": schema}
    )


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection in a transaction. Once the transaction has committed its work is
    done: if handing the connection back fails (it broke just after the commit, the
    database going away), that is logged, not raised, so that no caller takes the
    committed work for failed and does it again."""
    conn = await pool.acquire()
    try:
        async with conn.transaction():
            yield conn
    finally:
        try:
            await pool.release(conn)
        except Exception as error:  # noqa: BLE001 - the pool has dropped the connection
            log.warning("a connection broke as it was handed back to the pool: %r", error)


async def _ensure_schema(database_url: str, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()


def migration_scripts(*packages: str) -> list[tuple[str, str]]:
    """(name, sql) of every migration, the shared ones first, in version order per package."""
    scripts: list[tuple[str, str]] = []
    for package in dict.fromkeys(packages):  # a package named twice is applied once
        folder = resources.files(package) / "migrations"
        names = sorted(f.name for f in folder.iterdir() if _MIGRATION_NAME.match(f.name))
        scripts += [(f"{package}:{name}", (folder / name).read_text()) for name in names]
    return scripts


async def apply_migrations(pool: asyncpg.Pool, *packages: str) -> list[str]:
    """Apply what is not yet applied in this schema; returns the names applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_scripts(*packages):
            if name in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied_now.append(name)
    if applied_now:
        log.info("applied migrations: %s", ", ".join(applied_now))
    return applied_now
