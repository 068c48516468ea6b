"""Reporting: read models built from every event, served over HTTP — a need's matches
and the red thread (timeline) of a company."""

from __future__ import annotations

import json
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, status

from contracts.org_numbers import normalise_org_number
from services.common.runtime import Service, Subscription
from services.common.settings import Settings
from services.reporting.projections import PROJECTED_TOPICS, PROJECTED_TYPES, project_batch

# A timeline row names its company when its event did; otherwise (a feedback, a
# notification) the company is found through the row's need or match.
COMPANY_TIMELINE = """
WITH company_needs AS (SELECT need_id FROM needs WHERE company_org_number = $1),
company_matches AS (SELECT match_id FROM need_matches WHERE need_id IN (SELECT need_id FROM company_needs)),
thread AS (
    SELECT * FROM company_timeline WHERE company_org_number = $1
    UNION SELECT * FROM company_timeline WHERE need_id IN (SELECT need_id FROM company_needs)
    UNION SELECT * FROM company_timeline WHERE match_id IN (SELECT match_id FROM company_matches)
)
SELECT t.occurred_at, t.kind, t.summary, coalesce(t.need_id, m.need_id) AS need_id, t.match_id, t.source, t.event_id
FROM thread t LEFT JOIN need_matches m ON m.match_id = t.match_id
ORDER BY t.occurred_at, t.event_id
"""


def _routes(service: Service) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["reporting"])

    @router.get("/needs/{need_id}/matches")
    async def need_matches(need_id: UUID) -> dict:
        """The research proposed for one need, best first, with reasons and what became of it."""
        async with service.pool.acquire() as conn:
            need = await conn.fetchrow("SELECT title, company_org_number FROM needs WHERE need_id = $1", need_id)
            rows = await conn.fetch(
                "SELECT match_id, output_id, output_title, score, reasons, proposed_at, notified_at, notified_to,"
                " feedback, retracted_at, retraction_reason FROM need_matches WHERE need_id = $1 ORDER BY score DESC",
                need_id,
            )
        if need is None and not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no need {need_id} has been reported")
        return {
            "need_id": need_id,
            "title": need["title"] if need else None,
            "matches": [{**dict(r), "reasons": json.loads(r["reasons"] or "[]")} for r in rows],
        }

    @router.get("/companies/{org_number}/timeline")
    async def company_timeline(
        org_number: str = Path(description="Organisation number, with or without dash"),
        country: str = "SE",
    ) -> dict:
        """The red thread of one company: initiatives, needs, matches, notifications, feedback."""
        try:
            org = normalise_org_number(org_number, country)
        except ValueError as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"org_number: {error}") from None
        async with service.pool.acquire() as conn:
            rows = await conn.fetch(COMPANY_TIMELINE, org)
        return {"org_number": org, "events": [dict(r) for r in rows]}

    return router


def build(settings: Settings | None = None) -> Service:
    return Service(
        "reporting",
        package="services.reporting",
        description=__doc__ or "",
        settings=settings,
        subscriptions=(
            Subscription("reporting", PROJECTED_TOPICS, batch_handler=project_batch, batch_types=PROJECTED_TYPES),
        ),
        http=_routes,
    )
