"""The operators' console over HTTP, /v1/operations/…, for operators' keys only. Each
answer is what a `python -m services.ops` command would print, as JSON; the page at
/operations draws them.

Every error is an RFC 9457 problem document.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from contracts.notices import PartnerAccessChanged
from services.common.partner_access import operator_dependency
from services.common.problems import Problem
from services.ops import dead_letters, deliveries, flow, lag, outbox
from services.ops.connection import MissingSchema, notification_connection

if TYPE_CHECKING:
    from services.common.runtime import Service

CONSOLE_PATH = "/operations"
LETTERS_SHOWN = 200
FAILED_SHOWN = 100
# The span tag (services/common/telemetry.py) of what a delivery tells of, by its notice's kind.
ABOUT_TAGS = {"match": "redthread.match_id", "need": "redthread.need_id", "feedback": "redthread.feedback_id"}
# W3C traceparent: version-traceid-parentid-flags.
TRACE_ID_AT = slice(3, 35)


class About(BaseModel):
    operator: str = Field(description="The partner whose key this is")
    trace_viewer_url: str | None = Field(description="The trace viewer's page, when one is set")


class TopicFlowView(BaseModel):
    topic: str = Field(description="The registry's name of the topic (without a namespace)")
    per_slice: list[int] = Field(description="Records written in each slice, oldest first")
    total: int


class Flow(BaseModel):
    minutes: int
    slice_seconds: float
    until: datetime = Field(description="The end of the last slice")
    topics: list[TopicFlowView]


class LagView(BaseModel):
    group: str
    topic: str
    partition: int
    records: int = Field(description="Records written that the group has not committed past")
    seconds: float | None = Field(description="Age of the oldest of them; null when it could not be read in time")


class OutboxView(BaseModel):
    service: str
    waiting: int
    oldest_seconds: float | None
    parked: int = Field(description="Rows Kafka refused, set aside")


class LetterProblem(BaseModel):
    location: str
    message: str


class RedriveRecord(BaseModel):
    at: datetime
    by: str = Field(description="The operator's login, or console:<partner> for the page")
    new_event_id: str


class DeadLetterView(BaseModel):
    dead_letter_id: str
    failed_at: datetime
    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int
    reason: str
    problems: list[LetterProblem]
    event_id: str | None = Field(description="The refused record's CloudEvents id, when it had one")
    event_type: str | None
    redrive_count: int = Field(description="How many times this record was redriven before it was refused")
    quarantined: bool = Field(description=f"Redriven {dead_letters.MAX_REDRIVES}× and refused again: not redriven "
                                          "unless forced")
    cut: bool = Field(description="Its record was cut to fit the dead letter, so it cannot be redriven from it")
    trace_url: str | None = Field(description="Where the trace viewer shows what happened to the record")
    redriven: list[RedriveRecord] = Field(description="Each time an operator sent it back, the latest first")


class DeadLetterRecordView(DeadLetterView):
    key: str | None
    headers: dict[str, str] = Field(description="The refused record's headers, as it had them")
    value: str = Field(description="Its value: UTF-8 text (JSON indented when it is JSON), or base64")
    value_encoding: str = Field(description="utf-8 or base64")
    value_bytes: int | None
    cut_to_fit: bool = Field(description="Only the start of the value was kept; the whole is on its source topic")


class ReasonCount(BaseModel):
    reason: str = Field(description="The reason without what varies from record to record")
    count: int


class DeadLetters(BaseModel):
    total: int = Field(description="Dead letters that pass the filters (as the console has read them from their topic)")
    letters: list[DeadLetterView] = Field(description=f"The newest {LETTERS_SHOWN} of them, newest first")
    by_reason: list[ReasonCount]
    consumers: list[str] = Field(description="Every consumer that has refused something (for filters)")
    source_topics: list[str] = Field(description="Every topic a dead letter came from, by registry name")


class RedriveRequest(BaseModel):
    ids: list[Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[0-9a-fA-F-]+$")]] = Field(
        default_factory=list, max_length=1000,
        description="Only these dead letters (unique prefixes will do); none: every one that passes the filters")
    consumer: str | None = Field(None, max_length=100)
    source_topic: str | None = Field(None, max_length=250)
    reason: str | None = Field(None, max_length=250)
    since: datetime | None = None
    dry_run: bool = Field(False, description="Say what would be sent; send nothing")
    max: int = Field(100, ge=1, le=1000, description="Send at most this many")
    force: bool = Field(False, description=f"Redrive quarantined ones too (redriven {dead_letters.MAX_REDRIVES}×)")


class Redriven(BaseModel):
    dead_letter_id: str
    new_event_id: str
    source_topic: str


class RedriveResult(BaseModel):
    dry_run: bool
    redriven: list[Redriven] = Field(description="Sent back (or, in a dry run, that would be)")
    quarantined: list[str]
    cut: list[str]
    past_max: int
    by_reason: list[ReasonCount]


class OwedView(BaseModel):
    channel: str
    pending: int
    due: int
    oldest_due_seconds: float | None
    held: int = Field(description="Held for a digest")
    failed: int = Field(description="Given up: resendable")


class DeliveryView(BaseModel):
    delivery_id: UUID
    notice_key: str = Field(description="What it tells of: match:<id>, need:<id>:<revision>, feedback:<id>:<revision>,"
                                         " digest:<period>")
    status: str
    channel: str
    destination: str
    attempts: int
    created_at: datetime
    last_error: str | None
    trace_url: str | None


class Deliveries(BaseModel):
    owed: list[OwedView]
    failed: list[DeliveryView] = Field(description=f"The newest {FAILED_SHOWN} given up")


class ResendRequest(BaseModel):
    ids: list[UUID] = Field(min_length=1, max_length=500)


class ResendResult(BaseModel):
    resent: list[UUID]
    refused: list[str] = Field(description="Why each other one named was not resent")


def build_router(service: "Service") -> APIRouter:
    settings = service.settings
    router = APIRouter(prefix="/v1/operations", tags=["operations"])
    Operator = Annotated[PartnerAccessChanged, Depends(operator_dependency(lambda: service.pool, service.rate_limits))]
    viewer = settings.trace_viewer_url.rstrip("/") or None

    def search_link(tag: str, value: str) -> str | None:
        return f"{viewer}/?annotationQuery={quote(f'{tag}={value}')}&lookback=7d" if viewer else None

    async def redrives_of(letters: list[dead_letters.Letter]) -> dict[str, list[RedriveRecord]]:
        async with service.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT dead_letter_id, redriven_at, redriven_by, new_event_id FROM redrives"
                " WHERE dead_letter_id = ANY($1::text[]) ORDER BY redriven_at DESC",
                [letter.dead_letter_id for letter in letters],
            )
        found: dict[str, list[RedriveRecord]] = {}
        for row in rows:
            found.setdefault(row["dead_letter_id"], []).append(
                RedriveRecord(at=row["redriven_at"], by=row["redriven_by"], new_event_id=row["new_event_id"]))
        return found

    def letter_view(letter: dead_letters.Letter, redriven: list[RedriveRecord]) -> DeadLetterView:
        record = letter.letter
        event_id = record.original_headers.get("ce_id")
        traceparent = record.original_headers.get("traceparent", "")
        if viewer and len(traceparent) >= TRACE_ID_AT.stop:
            trace_url: str | None = f"{viewer}/traces/{traceparent[TRACE_ID_AT]}"
        else:
            trace_url = search_link("cloudevents.event_id", event_id) if event_id else None
        return DeadLetterView(
            dead_letter_id=letter.dead_letter_id, failed_at=record.failed_at, consumer=record.consumer,
            source_topic=settings.registry_name(record.source_topic), source_partition=record.source_partition,
            source_offset=record.source_offset, reason=record.reason,
            problems=[LetterProblem(location=p.location, message=p.message) for p in record.problems],
            event_id=event_id, event_type=record.original_headers.get("ce_type"),
            redrive_count=letter.redrive_count, quarantined=letter.quarantined, cut=record.original_truncated,
            trace_url=trace_url, redriven=redriven,
        )

    def delivery_view(row: asyncpg.Record) -> DeliveryView:
        tag = ABOUT_TAGS.get(row["notice_key"].split(":")[0])
        return DeliveryView(**{k: row[k] for k in DeliveryView.model_fields if k != "trace_url"},
                            trace_url=search_link(tag, str(row["about_id"])) if tag and row["about_id"] else None)

    async def notification() -> asyncpg.Connection:
        try:
            return await notification_connection(settings)
        except MissingSchema as missing:
            raise Problem(503, str(missing), slug="not-yet-there") from None

    @router.get("/about")
    async def about(operator: Operator) -> About:
        """Who is asking, and where the trace viewer is."""
        return About(operator=operator.partner_id, trace_viewer_url=viewer)

    @router.get("/flow")
    async def topic_flow(_: Operator, minutes: Annotated[int, Query(ge=5, le=24 * 60)] = 60) -> Flow:
        """Records written per topic over the last `minutes`, in twelve slices."""
        until = datetime.now().astimezone()
        slice_s, flows = await flow.topic_flow(settings, minutes)
        return Flow(minutes=minutes, slice_seconds=slice_s, until=until, topics=[
            TopicFlowView(topic=f.topic, per_slice=list(f.per_slice), total=f.total) for f in flows
        ])

    @router.get("/lag")
    async def consumer_lag(_: Operator) -> list[LagView]:
        """Each consumer group's lag per partition, in records and in seconds."""
        return [LagView(group=g, topic=settings.registry_name(t), partition=p, records=r, seconds=s)
                for g, t, p, r, s in await lag.consumer_lag(settings)]

    @router.get("/outbox")
    async def outboxes(_: Operator) -> list[OutboxView]:
        """Each service's outbox: rows waiting to be sent to Kafka, the oldest, rows parked."""
        return [OutboxView(service=s, waiting=w, oldest_seconds=o, parked=p)
                for s, w, o, p in await outbox.outbox_queues(settings)]

    @router.get("/dead-letters")
    async def list_dead_letters(
        _: Operator,
        consumer: Annotated[str | None, Query(max_length=100)] = None,
        source_topic: Annotated[str | None, Query(max_length=250)] = None,
        reason: Annotated[str | None, Query(max_length=250)] = None,
        since: datetime | None = None,
    ) -> DeadLetters:
        """Dead letters, newest first, filtered; with a count per kind of reason."""
        async with service.pool.acquire() as conn:
            kept = await dead_letters.kept_letters(conn, settings, consumer=consumer, source_topic=source_topic,
                                                   reason=reason, since=since, most=LETTERS_SHOWN)
        redriven = await redrives_of(kept.newest)
        return DeadLetters(
            total=kept.total,
            letters=[letter_view(letter, redriven.get(letter.dead_letter_id, [])) for letter in kept.newest],
            by_reason=[ReasonCount(reason=r, count=n) for r, n in kept.reasons],
            consumers=kept.consumers,
            source_topics=kept.source_topics,
        )

    @router.get("/dead-letters/{dead_letter_id}")
    async def show_dead_letter(
        dead_letter_id: Annotated[str, Path(min_length=4, max_length=64, pattern=r"^[0-9a-fA-F-]+$")], _: Operator,
    ) -> DeadLetterRecordView:
        """One dead letter with the record it refused (a unique prefix of its id will do)."""
        async with service.pool.acquire() as conn:
            found = (await dead_letters.kept_letters(conn, settings, ids=[dead_letter_id], most=2)).newest
        if len(found) != 1:
            raise Problem(404 if not found else 409, f"{'no' if not found else 'more than one'} dead letter has an id "
                          f"starting {dead_letter_id!r}", slug="not-found" if not found else "ambiguous")
        [letter] = found
        record = letter.letter
        redriven = await redrives_of([letter])
        return DeadLetterRecordView(
            **letter_view(letter, redriven.get(letter.dead_letter_id, [])).model_dump(),
            key=record.original_key, headers=record.original_headers, value=dead_letters.readable_value(record),
            value_encoding=record.original_value_encoding, value_bytes=record.original_value_bytes,
            cut_to_fit=record.original_truncated,
        )

    @router.post("/dead-letters/redrive")
    async def redrive(request: RedriveRequest, operator: Operator) -> RedriveResult:
        """Sends the chosen dead letters back to their source topics under new ids (the
        inbox takes each once), and records who did."""
        async with service.pool.acquire() as conn:
            letters = (await dead_letters.kept_letters(
                conn, settings, consumer=request.consumer, source_topic=request.source_topic, reason=request.reason,
                since=request.since, ids=request.ids,
            )).newest[::-1]  # oldest first, as the command sends them
        plan = dead_letters.plan_redrive(letters, request.max, request.force)
        if plan.sendable and not request.dry_run:
            await dead_letters.send_redrives(settings, plan.sendable, f"console:{operator.partner_id}")
        return RedriveResult(
            dry_run=request.dry_run,
            redriven=[Redriven(dead_letter_id=letter.dead_letter_id, new_event_id=letter.redriven_id(),
                               source_topic=settings.registry_name(letter.letter.source_topic))
                      for letter in plan.sendable],
            quarantined=[letter.dead_letter_id for letter in plan.quarantined],
            cut=[letter.dead_letter_id for letter in plan.cut],
            past_max=plan.past_max,
            by_reason=_reasons(plan.sendable),
        )

    @router.get("/deliveries")
    async def owed(_: Operator) -> Deliveries:
        """What notification owes per channel, and the deliveries it gave up on."""
        conn = await notification()
        try:
            return Deliveries(
                owed=[OwedView(channel=o.channel, pending=o.pending, due=o.due, oldest_due_seconds=o.oldest_due_s,
                               held=o.held, failed=o.failed) for o in await deliveries.owed_deliveries(conn)],
                failed=[delivery_view(row) for row in
                        await deliveries.find_deliveries(conn, status="failed", limit=FAILED_SHOWN)],
            )
        finally:
            await conn.close()

    @router.post("/deliveries/resend")
    async def resend(request: ResendRequest, _: Operator) -> ResendResult:
        """Failed deliveries become pending and due now; the dispatcher sends them within its poll interval."""
        conn = await notification()
        try:
            outcome = await deliveries.resend(conn, request.ids)
        finally:
            await conn.close()
        return ResendResult(resent=[row["delivery_id"] for row in outcome.resent], refused=outcome.refused)

    return router


def _reasons(letters: list[Any]) -> list[ReasonCount]:
    return [ReasonCount(reason=reason, count=count) for reason, count in dead_letters.reasons(letters)]
