"""The matches intake knows, so that feedback can be held to its sender's scope: feedback
is about a match, and a partner may speak only of the companies in its scope. Projected
from redthread.matches.v1, keeping only what that check needs."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from contracts.envelope import CloudEvent
from contracts.events import MatchProposed
from services.common.consumer import BatchContext

# Notification passes on the answers given through the links in its messages (migration
# 005): it has checked the link's token, so it knows the match, and intake may not yet.
ANSWERS_THROUGH_LINKS = "redthread-notification"


@dataclass(frozen=True)
class MatchFacts:
    need_id: UUID
    org_number: str | None
    region: str | None


async def record_matches(batch: BatchContext, events: list[CloudEvent]) -> None:
    rows = [
        (m.match_id, m.need_id, m.company.org_number if m.company else None, m.company.region if m.company else None)
        for m in (event.data for event in events) if isinstance(m, MatchProposed)
    ]
    await batch.conn.executemany(
        "INSERT INTO known_matches (match_id, need_id, company_org_number, company_region) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (match_id) DO NOTHING",
        rows,
    )


async def facts_of(conn: asyncpg.Connection, match_ids: set[UUID]) -> dict[UUID, MatchFacts]:
    rows = await conn.fetch(
        "SELECT match_id, need_id, company_org_number, company_region FROM known_matches"
        " WHERE match_id = ANY($1::uuid[])",
        list(match_ids),
    )
    return {r["match_id"]: MatchFacts(r["need_id"], r["company_org_number"], r["company_region"]) for r in rows}
