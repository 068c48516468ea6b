"""Erasure on request, reporting's part (contracts.events.PersonErased).

Reporting keeps one person's address: who a match's message reached (need_matches.
notified_to), emptied. Researchers are kept by name and ORCID without their address, so
they are found by the person id their entry carries (projections.output_content_rows),
and dropped, with their credits. Every erasure is remembered (erased_persons) and applied
once more at the end of a replay, which may project a person's events after their
erasure."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.common.erasure import remember_erased

async def erase_person(conn: asyncpg.Connection, person: str, erased_at: datetime | None = None) -> list[UUID]:
    """Remove `person` from reporting's read models; returns the research outputs whose
    researchers changed (their credits are then recomputed by the caller)."""
    await conn.execute("UPDATE need_matches SET notified_to = NULL WHERE person_id(notified_to) = $1", person)
    outputs = await conn.fetch(
        "UPDATE research_outputs SET researchers = ("
        "  SELECT coalesce(jsonb_agg(r ORDER BY n) FILTER (WHERE r ->> 'person_id' IS DISTINCT FROM $1), '[]')"
        "  FROM jsonb_array_elements(researchers) WITH ORDINALITY AS e(r, n))"
        " WHERE researchers @> jsonb_build_array(jsonb_build_object('person_id', $1::text))"
        " RETURNING output_id",
        person,
    )
    await remember_erased(conn, person, erased_at)
    return [row["output_id"] for row in outputs]


async def persons_erased(conn: asyncpg.Connection) -> list[str]:
    """Everyone erased so far: what a replay erases once more at its end."""
    return [row["person_id"] for row in await conn.fetch("SELECT person_id FROM erased_persons ORDER BY erased_at")]
