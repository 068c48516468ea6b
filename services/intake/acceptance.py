"""What intake does with a partner's event, whether it came over HTTP or Kafka: store it
under its aggregate and stage the canonical event for the rest of redthread."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.envelope import CloudEvent, derived_event_id, new_event
from contracts.events import (
    Contract,
    FeedbackSubmitted,
    NeedSubmitted,
    ParticipationRecorded,
    ResearchOutputPublished,
)
from contracts.topics import FEEDBACK, NEEDS, PARTICIPATIONS, RESEARCH_OUTPUTS, Topic
from services.common.consumer import HandlerContext, Rejected


@dataclass(frozen=True)
class Route:
    """Where an accepted event type is stored and published."""

    table: str
    id_column: str
    topic: Topic
    label: str

    def aggregate_id(self, data: Contract) -> str:
        return str(getattr(data, self.id_column))


ROUTES: dict[type[Contract], Route] = {
    NeedSubmitted: Route("needs", "need_id", NEEDS, "need"),
    ResearchOutputPublished: Route("research_outputs", "output_id", RESEARCH_OUTPUTS, "research output"),
    ParticipationRecorded: Route("participations", "participation_id", PARTICIPATIONS, "participation"),
    FeedbackSubmitted: Route("feedback", "feedback_id", FEEDBACK, "feedback"),
}


def partition_key(data: Contract) -> str:
    """Keys follow the registry: need, output, company or match."""
    match data:
        case ParticipationRecorded():
            return data.company.org_number
        case FeedbackSubmitted():
            return str(data.match_id)
        case _:
            return ROUTES[type(data)].aggregate_id(data)


def _extra_columns(data: Contract) -> dict[str, object]:
    match data:
        case NeedSubmitted():
            return {"company_org_number": data.company.org_number if data.company else None}
        case ParticipationRecorded():
            return {"company_org_number": data.company.org_number}
        case FeedbackSubmitted():
            return {"match_id": data.match_id}
        case _:
            return {}


async def accept(ctx: HandlerContext, partner_event: CloudEvent) -> CloudEvent:
    """Store the partner's event and stage its canonical twin; Rejected when the
    aggregate id is already taken by a different event."""
    data = partner_event.data
    route = ROUTES[type(data)]
    canonical = new_event(
        data,
        source=partner_event.envelope.source,
        subject=route.aggregate_id(data),
        caused_by=partner_event,
        event_id=derived_event_id("intake", partner_event.envelope.source, partner_event.id),
    )
    columns = {
        route.id_column: getattr(data, route.id_column),
        "source": partner_event.envelope.source,
        "data": data.model_dump_json(),
        "accepted_event_id": canonical.id,
        **_extra_columns(data),
    }
    names = ", ".join(columns)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    inserted = await ctx.conn.fetchval(
        f"INSERT INTO {route.table} ({names}) VALUES ({placeholders}) "
        f"ON CONFLICT ({route.id_column}) DO NOTHING RETURNING true",
        *columns.values(),
    )
    if not inserted:
        raise Rejected(
            f"{route.label} {route.aggregate_id(data)} was already submitted by another event",
            [(route.id_column, "already exists")],
        )
    await ctx.publish(route.topic.name, partition_key(data), canonical)
    return canonical


HANDLERS = {contract.EVENT_TYPE: accept for contract in ROUTES}
