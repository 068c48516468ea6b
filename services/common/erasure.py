"""Erasure on request, what every service does alike: remember whom it erased
(erased_persons, services/common/migrations/008_person_erasure.sql), so that what it
rebuilds later erases them again."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def remember_erased(conn: asyncpg.Connection, person: str, erased_at: datetime | None = None) -> None:
    await conn.execute(
        "INSERT INTO erased_persons (person_id, erased_at) VALUES ($1, coalesce($2, now()))"
        " ON CONFLICT (person_id) DO NOTHING",
        person, erased_at,
    )
