"""What intake does with a partner's event, whether it came over HTTP or Kafka.

It checks that the partner may send it, completes it (language, region, IUC), applies it
to the stored aggregate — creating it, superseding an older revision, or closing it —
and stages the canonical event for the rest of redthread. The same event sent twice, or
the same content under a new event id, changes nothing; a stale revision changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from contracts.envelope import CloudEvent, derived_event_id, new_event
from contracts.events import (
    CompanyRef,
    Confidentiality,
    Language,
    Contract,
    FeedbackSubmitted,
    NeedClosed,
    NeedContent,
    NeedResolved,
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    ParticipationRecorded,
    ResearchOutputContent,
    ResearchOutputPublished,
    ResearchOutputUpdated,
    ResearchOutputWithdrawn,
)
from contracts.topics import FEEDBACK, NEEDS, PARTICIPATIONS, RESEARCH_OUTPUTS, Topic
from services.common.consumer import HandlerContext, Rejected
from services.intake.geography import place
from services.intake.language import detect_language
from services.intake.partners import Partner


class Refusal(Rejected):
    """A rejection that HTTP answers with `status`, and Kafka dead-letters."""

    status = 422


class NotFound(Refusal):
    status = 404


class Forbidden(Refusal):
    status = 403


class Conflict(Refusal):
    status = 409


class Effect(StrEnum):
    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"  # the same content again: nothing to do
    STALE = "stale"  # an older revision than the one stored: nothing to do


@dataclass(frozen=True)
class Outcome:
    effect: Effect
    aggregate_id: str
    event_id: str | None  # the canonical event, when one was staged or already exists
    topic: str
    revision: int | None = None


@dataclass(frozen=True)
class Aggregate:
    """Where one kind of aggregate is stored and published."""

    label: str
    table: str
    id_column: str
    topic: Topic
    open_status: str | None = None  # lifecycle aggregates only


NEED = Aggregate("need", "needs", "need_id", NEEDS, open_status="open")
OUTPUT = Aggregate("research output", "research_outputs", "output_id", RESEARCH_OUTPUTS, open_status="published")
PARTICIPATION = Aggregate("participation", "participations", "participation_id", PARTICIPATIONS)
FEEDBACK_ITEM = Aggregate("feedback", "feedback", "feedback_id", FEEDBACK)

AGGREGATE_OF: dict[type[Contract], Aggregate] = {
    NeedSubmitted: NEED,
    NeedUpdated: NEED,
    NeedWithdrawn: NEED,
    NeedResolved: NEED,
    ResearchOutputPublished: OUTPUT,
    ResearchOutputUpdated: OUTPUT,
    ResearchOutputWithdrawn: OUTPUT,
    ParticipationRecorded: PARTICIPATION,
    FeedbackSubmitted: FEEDBACK_ITEM,
}
CREATIONS = (NeedSubmitted, ResearchOutputPublished, ParticipationRecorded, FeedbackSubmitted)
CLOSING_STATUS = {NeedWithdrawn: "withdrawn", NeedResolved: "resolved", ResearchOutputWithdrawn: "withdrawn"}


# --- completing an event (no I/O) ------------------------------------------------------


def complete_company(company: CompanyRef | None) -> CompanyRef | None:
    if company is None:
        return None
    try:
        placement = place(company.country.value, company.county, company.municipality)
    except ValueError as error:
        raise Refusal(str(error), [("company.county", str(error))]) from None
    return company.model_copy(
        update={
            "county": placement.county,
            "municipality": placement.municipality,
            "region": placement.region,
            "iuc": placement.iuc,
        }
    )


def complete(data: Contract) -> Contract:
    """The canonical form: language detected when missing, company placed in its region."""
    changes: dict[str, object] = {}
    if isinstance(data, NeedContent):
        changes["company"] = complete_company(data.company)
        if data.language is None:
            changes["language"] = Language(detect_language(f"{data.title}. {data.description}"))
    elif isinstance(data, ResearchOutputContent):
        if data.language is None:
            changes["language"] = Language(detect_language(f"{data.title}. {data.summary}"))
    elif isinstance(data, ParticipationRecorded):
        changes["company"] = complete_company(data.company)
    return data.model_copy(update=changes) if changes else data


def company_of(data: Contract) -> CompanyRef | None:
    return getattr(data, "company", None)


def partition_key(data: Contract) -> str:
    """Keys follow the registry: need, output, company or match."""
    if isinstance(data, ParticipationRecorded):
        return data.company.org_number
    if isinstance(data, FeedbackSubmitted):
        return str(data.match_id)
    return aggregate_id(data)


def aggregate_id(data: Contract) -> str:
    return str(getattr(data, AGGREGATE_OF[type(data)].id_column))


def check_scope(partner: Partner, data: Contract) -> None:
    if not partner.may_send(data.EVENT_TYPE):
        raise Forbidden(f"partner {partner.partner_id} may not send {data.EVENT_TYPE}")
    company = company_of(data)
    if company is not None and (why_not := partner.may_speak_for(company.org_number, company.region)):
        raise Forbidden(why_not)


# --- applying it to the stored aggregate ---------------------------------------------


async def accept(ctx: HandlerContext, partner: Partner, partner_event: CloudEvent) -> Outcome:
    """Apply a partner's event; raises Refusal (with its HTTP status) when it cannot be."""
    aggregate = AGGREGATE_OF[type(partner_event.data)]
    data = complete(partner_event.data)
    check_scope(partner, data)
    stored = await ctx.conn.fetchrow(
        f"SELECT source, data, {'revision, status, ' if aggregate.open_status else ''}accepted_event_id"
        f" FROM {aggregate.table} WHERE {aggregate.id_column} = $1 FOR UPDATE",
        getattr(data, aggregate.id_column),
    )
    if stored is not None and stored["source"] != partner.source:
        # Another partner's aggregate: as far as this partner knows, it does not exist.
        raise NotFound(f"{aggregate.label} {aggregate_id(data)} does not exist")

    if isinstance(data, CREATIONS):
        return await _create(ctx, aggregate, partner, partner_event, data, stored)
    if stored is None:
        raise NotFound(f"{aggregate.label} {aggregate_id(data)} does not exist")
    if data.revision <= stored["revision"]:
        return Outcome(Effect.STALE, aggregate_id(data), stored["accepted_event_id"], aggregate.topic.name, stored["revision"])
    if stored["status"] != aggregate.open_status:
        raise Conflict(f"{aggregate.label} {aggregate_id(data)} is {stored['status']} and cannot change any more")
    if isinstance(data, NeedClosed):
        data = _with_need_facts(data, json.loads(stored["data"]))
    return await _change(ctx, aggregate, partner_event, data)


async def _create(ctx, aggregate: Aggregate, partner: Partner, partner_event: CloudEvent, data, stored) -> Outcome:
    if stored is not None:
        if json.loads(stored["data"]) == json.loads(data.model_dump_json()):
            return Outcome(Effect.UNCHANGED, aggregate_id(data), stored["accepted_event_id"], aggregate.topic.name, 1)
        raise Conflict(
            f"{aggregate.label} {aggregate_id(data)} already exists with other content; send an update with a higher revision",
            [(aggregate.id_column, "already exists")],
        )
    canonical = _canonical(partner_event, data)
    columns: dict[str, object] = {
        aggregate.id_column: getattr(data, aggregate.id_column),
        "source": partner.source,
        "data": data.model_dump_json(),
        "accepted_event_id": canonical.id,
        **_lookup_columns(data),
    }
    names = ", ".join(columns)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await ctx.conn.execute(f"INSERT INTO {aggregate.table} ({names}) VALUES ({placeholders})", *columns.values())
    await ctx.publish(aggregate.topic.name, partition_key(data), canonical)
    return Outcome(Effect.ACCEPTED, aggregate_id(data), canonical.id, aggregate.topic.name, getattr(data, "revision", None))


async def _change(ctx, aggregate: Aggregate, partner_event: CloudEvent, data) -> Outcome:
    canonical = _canonical(partner_event, data)
    status = CLOSING_STATUS.get(type(data), aggregate.open_status)
    content_sql = ", data = $4" if isinstance(data, (NeedUpdated, ResearchOutputUpdated)) else ""
    params: list[object] = [getattr(data, aggregate.id_column), data.revision, status]
    if content_sql:
        params.append(data.model_dump_json())
    await ctx.conn.execute(
        f"UPDATE {aggregate.table} SET revision = $2, status = $3, updated_at = now(){content_sql}"
        f" WHERE {aggregate.id_column} = $1",
        *params,
    )
    await ctx.publish(aggregate.topic.name, partition_key(data), canonical)
    return Outcome(Effect.ACCEPTED, aggregate_id(data), canonical.id, aggregate.topic.name, data.revision)


def _with_need_facts(data: NeedClosed, stored_need: dict) -> NeedClosed:
    """Closing events carry the need's confidentiality and company, so that no consumer
    has to look them up to respect them."""
    company = stored_need.get("company") or {}
    return data.model_copy(
        update={
            "confidentiality": Confidentiality(stored_need.get("confidentiality", "public")),
            "company_org_number": company.get("org_number"),
        }
    )


def _lookup_columns(data: Contract) -> dict[str, object]:
    if isinstance(data, (NeedSubmitted, ParticipationRecorded)):
        return {"company_org_number": data.company.org_number if data.company else None}
    if isinstance(data, FeedbackSubmitted):
        return {"match_id": data.match_id}
    return {}


def _canonical(partner_event: CloudEvent, data: Contract) -> CloudEvent:
    return new_event(
        data,
        source=partner_event.envelope.source,
        subject=aggregate_id(data),
        caused_by=partner_event,
        event_id=derived_event_id("intake", partner_event.envelope.source, partner_event.id),
    )
