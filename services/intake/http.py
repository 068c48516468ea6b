"""Intake's HTTP front door: partners send the same payloads they would put on Kafka.

Every request carries the partner's API key (`Authorization: Bearer rt_…` or
`X-API-Key`). A request with an `Idempotency-Key` header is answered once; repeats get
the first answer again.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import new_event
from contracts.events import (
    Contract,
    Email,
    PersonErased,
    PersonKeyDestroyed,
    ShortText,
    FeedbackSubmitted,
    NeedResolved,
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    ParticipationRecorded,
    ResearchOutputPublished,
    ResearchOutputUpdated,
    ResearchOutputWithdrawn,
    person_id,
)
from contracts.topics import ERASURES, PERSON_KEYS
from services.common.access import Access, declares
from services.common.api_keys import presented_key, unauthenticated
from services.common.partner_access import not_an_operator
from services.common.problems import Problem
from services.common.telemetry import describe_current_span
from services.intake.acceptance import NEED, OUTPUT, Aggregate, Effect, Outcome, Refusal, accept_batch
from services.intake.erasure import erase_person
from services.intake.partners import Partner, PartnerDirectory

if TYPE_CHECKING:
    from services.common.runtime import Service


class Accepted(BaseModel):
    id: str = Field(description="The need, output, participation or feedback id")
    event_id: str | None = Field(description="The canonical event on Kafka")
    topic: str
    effect: Effect = Field(description="accepted, or unchanged when the same content was sent before")
    revision: int | None = None


class Stored(BaseModel):
    source: str
    revision: int | None
    status: str | None
    data: dict


class WhoAmI(BaseModel):
    partner_id: str
    name: str
    event_types: list[str]
    regions: list[str] | None
    org_numbers: list[str] | None
    requests_per_minute: int


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email = Field(description="The person's e-mail address: how every service knows them")
    reason: ShortText | None = Field(None, examples=["Begäran om radering 2026-12-07 (ärende 4711)"])


class Erasure(BaseModel):
    person_id: str = Field(description="The person's id in PersonErased (a digest of the address, not the address)")
    event_id: str = Field(description="The PersonErased event on redthread.erasures.v1")
    erased_here: dict[str, int] = Field(description="Rows changed in intake, by table")


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Any unique string; a repeated request with the same key gets the first answer again",
    ),
]

PROBLEM_RESPONSES = {
    401: {"description": "No valid API key"},
    403: {"description": "The partner may not send this (event type, region or company)"},
    404: {"description": "No such aggregate among this partner's"},
    409: {"description": "Conflicts with what is stored (an older revision, a closed need, other content)"},
    413: {"description": "Body too large"},
    422: {"description": "Invalid body: problem+json with a JSON pointer per problem"},
    429: {"description": "Rate limit; see Retry-After"},
}


def build_router(service: "Service", directory: PartnerDirectory) -> APIRouter:
    @declares(Access("partner"))
    async def current_partner(key: Annotated[str | None, Depends(presented_key)]) -> Partner:
        partner = await directory.authenticate(key) if key else None
        if partner is None:
            raise unauthenticated()
        service.rate_limits.charge_partner(partner.partner_id, partner.requests_per_minute)
        return partner

    PartnerDep = Annotated[Partner, Depends(current_partner)]

    @declares(Access("operator"))
    async def operator(key: Annotated[str | None, Depends(presented_key)]) -> Partner:
        partner = await current_partner(key)
        if not partner.operator:
            raise not_an_operator(partner.partner_id)
        return partner
    router = APIRouter(prefix="/v1", tags=["intake"], responses=PROBLEM_RESPONSES)

    async def submit(request: Request, partner: Partner, data: Contract, idempotency_key: str | None) -> Response:
        request_hash = hashlib.sha256(
            f"{request.method} {request.url.path}\n{data.model_dump_json()}".encode()
        ).digest()
        async with service.publishing() as transaction:
            conn = transaction.conn
            if idempotency_key:
                earlier = await conn.fetchrow(
                    "SELECT request_hash, status_code, response FROM idempotent_requests"
                    " WHERE partner_id = $1 AND idempotency_key = $2",
                    partner.partner_id, idempotency_key,
                )
                if earlier is not None:
                    if bytes(earlier["request_hash"]) != request_hash:
                        raise Problem(422, "this Idempotency-Key was used for a different request", slug="idempotency-key-reused")
                    return JSONResponse(json.loads(earlier["response"]), status_code=earlier["status_code"])
            event = new_event(data, source=partner.source)
            describe_current_span(event)
            [outcome] = await accept_batch(transaction, [(partner, event)])
            if isinstance(outcome, Refusal):
                raise Problem(
                    outcome.status,
                    outcome.reason,
                    errors=[{"pointer": "/" + loc.replace(".", "/"), "detail": msg} for loc, msg in outcome.problems] or None,
                )
            if outcome.effect is Effect.STALE:
                raise Problem(
                    409,
                    f"revision {getattr(data, 'revision', '?')} is not newer than the stored revision {outcome.revision}",
                    slug="stale-revision",
                )
            body = _accepted(outcome).model_dump(mode="json")
            if idempotency_key:
                await conn.execute(
                    "INSERT INTO idempotent_requests (partner_id, idempotency_key, request_hash, status_code, response)"
                    " VALUES ($1, $2, $3, 202, $4::jsonb)",
                    partner.partner_id, idempotency_key, request_hash, json.dumps(body),
                )
        return JSONResponse(body, status_code=status.HTTP_202_ACCEPTED)

    async def read(partner: Partner, aggregate: Aggregate, item_id: UUID) -> Stored:
        async with service.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT source, data, revision, status FROM {aggregate.table} WHERE {aggregate.id_column} = $1", item_id
            )
        if row is None or row["source"] != partner.source:
            raise Problem(404, f"{aggregate.label} {item_id} does not exist", slug="not-found")
        return Stored(source=row["source"], revision=row["revision"], status=row["status"], data=json.loads(row["data"]))

    def same_id(path_id: UUID, body_id: UUID, field: str) -> None:
        if path_id != body_id:
            raise Problem(
                422, f"{field} in the body ({body_id}) differs from the path ({path_id})",
                slug="invalid-request", errors=[{"pointer": f"/{field}", "detail": "must equal the id in the path"}],
            )

    accepted = {"status_code": status.HTTP_202_ACCEPTED, "response_model": Accepted}

    @router.post("/needs", **accepted)
    async def submit_need(request: Request, need: NeedSubmitted, partner: PartnerDep, key: IdempotencyKey = None) -> Response:
        """Submit a company need. It is stored, then published on redthread.needs.v1."""
        return await submit(request, partner, need, key)

    @router.put("/needs/{need_id}", **accepted)
    async def update_need(
        request: Request, need_id: UUID, need: NeedUpdated, partner: PartnerDep, key: IdempotencyKey = None
    ) -> Response:
        """Replace the need's content with a higher revision."""
        same_id(need_id, need.need_id, "need_id")
        return await submit(request, partner, need, key)

    @router.post("/needs/{need_id}/withdrawal", **accepted)
    async def withdraw_need(
        request: Request, need_id: UUID, withdrawal: NeedWithdrawn, partner: PartnerDep, key: IdempotencyKey = None
    ) -> Response:
        """Withdraw the need: nothing more will be proposed for it."""
        same_id(need_id, withdrawal.need_id, "need_id")
        return await submit(request, partner, withdrawal, key)

    @router.post("/needs/{need_id}/resolution", **accepted)
    async def resolve_need(
        request: Request, need_id: UUID, resolution: NeedResolved, partner: PartnerDep, key: IdempotencyKey = None
    ) -> Response:
        """Mark the need as resolved."""
        same_id(need_id, resolution.need_id, "need_id")
        return await submit(request, partner, resolution, key)

    @router.get("/needs/{need_id}", response_model=Stored)
    async def get_need(need_id: UUID, partner: PartnerDep) -> Stored:
        """A need this partner sent, as stored now."""
        return await read(partner, NEED, need_id)

    @router.post("/research-outputs", **accepted)
    async def publish_research_output(
        request: Request, output: ResearchOutputPublished, partner: PartnerDep, key: IdempotencyKey = None
    ) -> Response:
        """Publish a research output; matching proposes it to the needs it may answer."""
        return await submit(request, partner, output, key)

    @router.put("/research-outputs/{output_id}", **accepted)
    async def update_research_output(
        request: Request, output_id: UUID, output: ResearchOutputUpdated, partner: PartnerDep, key: IdempotencyKey = None
    ) -> Response:
        """Replace the output's content with a higher revision."""
        same_id(output_id, output.output_id, "output_id")
        return await submit(request, partner, output, key)

    @router.post("/research-outputs/{output_id}/withdrawal", **accepted)
    async def withdraw_research_output(
        request: Request, output_id: UUID, withdrawal: ResearchOutputWithdrawn, partner: PartnerDep,
        key: IdempotencyKey = None,
    ) -> Response:
        """Withdraw the output."""
        same_id(output_id, withdrawal.output_id, "output_id")
        return await submit(request, partner, withdrawal, key)

    @router.get("/research-outputs/{output_id}", response_model=Stored)
    async def get_research_output(output_id: UUID, partner: PartnerDep) -> Stored:
        """A research output this partner sent, as stored now."""
        return await read(partner, OUTPUT, output_id)

    @router.post("/participations", **accepted)
    async def record_participation(
        request: Request, participation: ParticipationRecorded, partner: PartnerDep, key: IdempotencyKey = None
    ) -> Response:
        """Record that a company takes part in an initiative."""
        return await submit(request, partner, participation, key)

    @router.post("/feedback", **accepted)
    async def submit_feedback(
        request: Request, feedback: FeedbackSubmitted, partner: PartnerDep, key: IdempotencyKey = None
    ) -> Response:
        """Say what a proposed match was worth to the company."""
        return await submit(request, partner, feedback, key)

    @router.post("/erasures", status_code=202, tags=["erasure"])
    async def erase(request: ErasureRequest, by: Annotated[Partner, Depends(operator)]) -> Erasure:
        """Forget a person (GDPR art. 17): intake removes what it keeps about them at once,
        and announces PersonErased, on which every other service does the same."""
        person = person_id(request.email)
        now = datetime.now(UTC)
        event = new_event(PersonErased(person_id=person, erased_at=now, reason=request.reason), source=by.source)
        destroyed = new_event(PersonKeyDestroyed(person_id=person, destroyed_at=now), source="/redthread/intake",
                              subject=person, caused_by=event)
        async with service.publishing() as transaction:
            erased = await erase_person(transaction.conn, person)
            transaction.publish(ERASURES.name, person, event)
            transaction.publish(PERSON_KEYS.name, person, destroyed)
        return Erasure(person_id=person, event_id=event.id, erased_here=erased)

    @router.get("/partners/me", response_model=WhoAmI, tags=["partners"])
    async def who_am_i(partner: PartnerDep) -> WhoAmI:
        """The partner this API key belongs to, and what it may send."""
        return WhoAmI(
            partner_id=partner.partner_id,
            name=partner.name,
            event_types=sorted(partner.event_types),
            regions=sorted(partner.regions) if partner.regions is not None else None,
            org_numbers=sorted(partner.org_numbers) if partner.org_numbers is not None else None,
            requests_per_minute=partner.requests_per_minute,
        )

    return router


def _accepted(outcome: Outcome) -> Accepted:
    return Accepted(
        id=outcome.aggregate_id, event_id=outcome.event_id, topic=outcome.topic, effect=outcome.effect,
        revision=outcome.revision,
    )

