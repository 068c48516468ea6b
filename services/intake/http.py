"""Intake's HTTP front door: partners POST the same payloads they would put on Kafka."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, status
from pydantic import BaseModel

from contracts.envelope import new_event
from contracts.events import (
    Contract,
    FeedbackSubmitted,
    NeedSubmitted,
    ParticipationRecorded,
    ResearchOutputPublished,
)
from services.common.consumer import HandlerContext, Rejected
from services.intake.acceptance import ROUTES, accept

if TYPE_CHECKING:
    from services.common.runtime import Service

PartnerHeader = Annotated[
    str,
    Header(
        alias="X-Partner-Id",
        pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$",
        description="Who is sending: becomes the CloudEvents source /partners/<id>",
    ),
]


class Accepted(BaseModel):
    id: UUID
    event_id: str
    topic: str


def build_router(service: "Service") -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["intake"])

    async def submit(data: Contract, partner: str) -> Accepted:
        event = new_event(data, source=f"/partners/{partner}")
        async with service.pool.acquire() as conn, conn.transaction():
            try:
                canonical = await accept(HandlerContext(conn, service.settings, event), event)
            except Rejected as rejection:
                raise HTTPException(status.HTTP_409_CONFLICT, rejection.reason) from None
        service.relay.wake()
        route = ROUTES[type(data)]
        return Accepted(id=getattr(data, route.id_column), event_id=canonical.id, topic=route.topic.name)

    async def read(table: str, id_column: str, item_id: UUID) -> dict:
        async with service.pool.acquire() as conn:
            row = await conn.fetchrow(f"SELECT data, source FROM {table} WHERE {id_column} = $1", item_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {id_column.removesuffix('_id')} {item_id}")
        return {"source": row["source"], "data": json.loads(row["data"])}

    @router.post("/needs", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
    async def submit_need(need: NeedSubmitted, partner: PartnerHeader = "http") -> Accepted:
        """Submit a company need. It is stored, then published on redthread.needs.v1."""
        return await submit(need, partner)

    @router.post("/research-outputs", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
    async def publish_research_output(output: ResearchOutputPublished, partner: PartnerHeader = "http") -> Accepted:
        """Publish a research output; matching proposes it to the needs it may answer."""
        return await submit(output, partner)

    @router.post("/participations", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
    async def record_participation(participation: ParticipationRecorded, partner: PartnerHeader = "http") -> Accepted:
        """Record that a company takes part in an initiative."""
        return await submit(participation, partner)

    @router.post("/feedback", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
    async def submit_feedback(feedback: FeedbackSubmitted, partner: PartnerHeader = "http") -> Accepted:
        """Say what a proposed match was worth to the company."""
        return await submit(feedback, partner)

    @router.get("/needs/{need_id}")
    async def get_need(need_id: UUID) -> dict:
        return await read("needs", "need_id", need_id)

    @router.get("/research-outputs/{output_id}")
    async def get_research_output(output_id: UUID) -> dict:
        return await read("research_outputs", "output_id", output_id)

    return router
