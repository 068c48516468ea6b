"""What intake does with a partner's event, whether it came over HTTP or Kafka.

It checks that the partner may send it, completes it (language, region, IUC), applies it
to the stored aggregate — creating it, superseding an older revision, or closing it —
and stages the canonical event for the rest of redthread. The same event sent twice, or
the same content under a new event id, changes nothing; a stale revision changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple
from uuid import UUID

import asyncpg
import pydantic_core

from contracts.envelope import FASTSTREAM_CORRELATION_HEADER, JSON_CONTENT_TYPE, SPEC_VERSION, CloudEvent
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
from services.common.consumer import BatchContext, Rejected, TransientError
from services.intake.geography import place
from services.intake.language import detect_language
from services.intake.companies import CompanyBook, Registered, as_registered, registered_companies, save_registrations
from services.intake.known_matches import ANSWERS_THROUGH_LINKS, MatchFacts, facts_of
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


class Outcome(NamedTuple):  # one per event: a tuple is built in a third of a frozen dataclass's time
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
    lookups: tuple[str, ...] = ()  # columns copied out of the data, for queries


NEED = Aggregate("need", "needs", "need_id", NEEDS, open_status="open", lookups=("company_org_number",))
OUTPUT = Aggregate("research output", "research_outputs", "output_id", RESEARCH_OUTPUTS, open_status="published")
PARTICIPATION = Aggregate(
    "participation", "participations", "participation_id", PARTICIPATIONS, lookups=("company_org_number",)
)
FEEDBACK_ITEM = Aggregate("feedback", "feedback", "feedback_id", FEEDBACK, lookups=("match_id",))

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
# Events whose data becomes the aggregate's content.
CONTENT_EVENTS = (*CREATIONS, NeedUpdated, ResearchOutputUpdated)
# Creations that may be sent again with a higher revision to replace the earlier content.
REANSWERABLE = (FeedbackSubmitted,)
CLOSING_STATUS = {NeedWithdrawn: "withdrawn", NeedResolved: "resolved", ResearchOutputWithdrawn: "withdrawn"}


# --- completing an event (no I/O) ------------------------------------------------------


# Placing is pure and companies recur: cache it (errors are raised, never cached).
_place = lru_cache(maxsize=50_000)(place)


def complete_company(company: CompanyRef | None) -> CompanyRef | None:
    if company is None:
        return None
    # Companies recur: each is completed once. Keyed by its field values, not by the
    # model, whose hash and equality cost more than the completion saves.
    key = tuple(company.__dict__.values())
    completed = _completed_companies.get(key)
    if completed is None:
        if len(_completed_companies) >= _COMPLETED_COMPANIES_KEPT:
            _completed_companies.clear()  # bounded memory; it fills again with what recurs
        completed = _completed_companies[key] = _completed_company(company)  # a refusal raises, is not kept
    return completed


_completed_companies: dict[tuple, CompanyRef] = {}
_COMPLETED_COMPANIES_KEPT = 50_000


def _completed_company(company: CompanyRef) -> CompanyRef:
    try:
        placement = _place(company.country.value, company.county, company.municipality)
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


_LANGUAGE_OF = {language.value: language for language in Language}  # cheaper than calling the enum


def complete(data: Contract) -> Contract:
    """The canonical form: language detected when missing, company placed in its region."""
    changes: dict[str, object] = {}
    if isinstance(data, NeedContent):
        changes["company"] = complete_company(data.company)
        if data.language is None:
            changes["language"] = _LANGUAGE_OF[detect_language(f"{data.title}. {data.description}")]
    elif isinstance(data, ResearchOutputContent):
        if data.language is None:
            changes["language"] = _LANGUAGE_OF[detect_language(f"{data.title}. {data.summary}")]
    elif isinstance(data, ParticipationRecorded):
        changes["company"] = complete_company(data.company)
    return data.model_copy(update=changes) if changes else data


def company_of(data: Contract) -> CompanyRef | None:
    return getattr(data, "company", None)


def partition_key(data: Contract, subject: str | None = None) -> str:
    """Keys follow the registry: need, output, company or match. `subject`: the
    aggregate id, when the caller has it already."""
    if isinstance(data, ParticipationRecorded):
        return data.company.org_number
    if isinstance(data, FeedbackSubmitted):
        return str(data.match_id)
    return subject or aggregate_id(data)


def aggregate_id(data: Contract) -> str:
    return str(getattr(data, AGGREGATE_OF[type(data)].id_column))


def check_may_send(partner: Partner, data: Contract) -> None:
    if not partner.may_send(data.EVENT_TYPE):
        raise Forbidden(f"partner {partner.partner_id} may not send {data.EVENT_TYPE}")


def check_company_scope(partner: Partner, company: CompanyRef, registered: Registered | None) -> None:
    """The partner's scope must cover the company as the event describes it and as it is
    registered (services/intake/companies.py): moving it takes both regions."""
    if why_not := partner.may_speak_for(company.org_number, company.region):
        raise Forbidden(why_not)
    if registered is not None and registered.company.region != company.region and (
        why_not := partner.may_speak_for(company.org_number, registered.company.region)
    ):
        raise Forbidden(f"company {company.org_number} is registered in region {registered.company.region}: {why_not}")


def check_feedback(partner: Partner, feedback: FeedbackSubmitted, match: MatchFacts | None) -> None:
    """Feedback is about a match redthread proposed, for a company in the sender's scope;
    answers through a message's link were checked by notification, which sent the link."""
    if partner.partner_id == ANSWERS_THROUGH_LINKS:
        return
    if match is None:
        raise NotFound(f"match {feedback.match_id} is not known to intake: feedback is about a match redthread proposed")
    if why_not := partner.may_speak_for(match.org_number, match.region):
        raise Forbidden(f"feedback about match {feedback.match_id}: {why_not}")


# --- deciding what an event does to its aggregate (no I/O) ----------------------------


def canonical_json(data: Contract) -> str:
    """An event's data as JSON, as it is published (contracts.envelope.encode: fields
    without a value left out) and stored; stored once, serialised once."""
    return data.model_dump_json(exclude_none=True)


def same_content(stored: str, content: str) -> bool:
    """Whether two contents are the same, absent and null fields alike (aggregates
    stored before intake stored the published form hold their nulls)."""
    return _without_nulls(json.loads(stored)) == _without_nulls(json.loads(content))


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@dataclass
class State:
    """An aggregate as intake holds it, while a batch is decided."""

    source: str
    data: str  # the canonical JSON of its latest content (canonical_json)
    accepted_event_id: str
    revision: int = 1
    status: str | None = None
    lookup: tuple = ()  # values of Aggregate.lookups, when changed
    in_database: bool = True
    changed: bool = False


def decide(
    aggregate: Aggregate, state: State | None, partner: Partner, data: Contract, canonical_id: str, subject: str
) -> tuple[Outcome, State | None]:
    """What `data` from `partner` does to the aggregate `subject` (its id) in `state`:
    the outcome, and the new state when it changes. Raises Refusal when it cannot be
    applied."""
    if state is not None and state.source != partner.source:
        # Another partner's aggregate: as far as this partner knows, it does not exist.
        raise NotFound(f"{aggregate.label} {subject} does not exist")
    topic = aggregate.topic.name
    revision = getattr(data, "revision", None)

    if isinstance(data, CREATIONS):
        content = canonical_json(data)
        if state is None:
            created = State(
                partner.source, content, canonical_id, revision or 1, aggregate.open_status, lookup_values(data), False, True
            )
            return Outcome(Effect.ACCEPTED, subject, canonical_id, topic, revision), created
        if same_content(state.data, content):
            return Outcome(Effect.UNCHANGED, subject, state.accepted_event_id, topic, state.revision), None
        if isinstance(data, REANSWERABLE):
            # A new answer to the same question replaces the old one; a late older answer changes nothing.
            if revision <= state.revision:
                return Outcome(Effect.STALE, subject, state.accepted_event_id, topic, state.revision), None
            replaced = State(
                state.source, content, canonical_id, revision, state.status, lookup_values(data), state.in_database, True
            )
            return Outcome(Effect.ACCEPTED, subject, canonical_id, topic, revision), replaced
        raise Conflict(
            f"{aggregate.label} {subject} already exists with other content; send an update with a higher revision",
            [(aggregate.id_column, "already exists")],
        )
    if state is None:
        raise NotFound(f"{aggregate.label} {subject} does not exist")
    if revision <= state.revision:
        return Outcome(Effect.STALE, subject, state.accepted_event_id, topic, state.revision), None
    if state.status != aggregate.open_status:
        raise Conflict(f"{aggregate.label} {subject} is {state.status} and cannot change any more")
    new_content = isinstance(data, (NeedUpdated, ResearchOutputUpdated))
    changed = State(
        state.source,
        canonical_json(data) if new_content else state.data,
        canonical_id,
        revision,
        CLOSING_STATUS.get(type(data), aggregate.open_status),
        lookup_values(data) if new_content else state.lookup,
        state.in_database,
        True,
    )
    return Outcome(Effect.ACCEPTED, subject, canonical_id, topic, revision), changed


# --- applying a batch of events --------------------------------------------------------


async def accept_batch(batch: BatchContext, submissions: list[tuple[Partner, CloudEvent]]) -> list[Outcome | Refusal]:
    """Apply partners' events in order, with one read and one write per kind of
    aggregate; each result is the event's Outcome or why it was refused."""
    results: list[Outcome | Refusal | None] = [None] * len(submissions)
    prepared: list[tuple[int, Partner, CloudEvent, Contract, Aggregate]] = []
    # The stored states are read (and locked) while the events are completed: completing
    # changes neither an event's kind nor its aggregate id.
    wanted = [(AGGREGATE_OF[type(event.data)], event.data) for _, event in submissions]
    loading = asyncio.ensure_future(_load_states(batch, wanted))
    try:
        await asyncio.sleep(0)  # the read is on its way
        for index, (partner, event) in enumerate(submissions):
            try:
                data = complete(event.data)
                check_may_send(partner, data)
            except Refusal as refusal:
                results[index] = refusal
                continue
            prepared.append((index, partner, event, data, AGGREGATE_OF[type(data)]))
    except BaseException:
        await asyncio.wait([loading])  # the connection must be idle for whatever comes next
        raise
    states = await loading
    feedback_about = {data.match_id for _, _, _, data, _ in prepared if isinstance(data, FeedbackSubmitted)}
    matches = await facts_of(batch.conn, feedback_about) if feedback_about else {}
    described = {company.org_number for *_, data, _ in prepared if (company := company_of(data)) is not None}
    companies = CompanyBook(await registered_companies(batch.conn, described) if described else {})
    # The batch is accepted in one transaction: its canonical events share that moment.
    accepted_at = _json_time(datetime.now(UTC))
    for index, partner, event, data, aggregate in prepared:
        subject = aggregate_id(data)
        key = (aggregate.table, subject)
        canonical_id = _canonical_id(event)
        company = company_of(data)
        try:
            if company is not None:
                registered = companies.registered.get(company.org_number)
                if (filled := as_registered(company, registered)) is not company:
                    company, data = filled, data.model_copy(update={"company": filled})
                check_company_scope(partner, company, registered)
            if isinstance(data, FeedbackSubmitted):
                check_feedback(partner, data, matches.get(data.match_id))
            outcome, changed = decide(aggregate, states.get(key), partner, data, canonical_id, subject)
        except Refusal as refusal:
            results[index] = refusal
            continue
        results[index] = outcome
        if changed is not None:
            if company is not None:
                companies.described(partner.partner_id, company)
            states[key] = changed
            if isinstance(data, NeedClosed):
                data = _with_need_facts(data, json.loads(changed.data))
            # An event that brings new content was just serialised as the new state.
            value = changed.data.encode() if isinstance(data, CONTENT_EVENTS) else canonical_json(data).encode()
            headers = _canonical_headers(event, data, canonical_id, subject, accepted_at)
            batch.publish_record(aggregate.topic.name, partition_key(data, subject), value, headers, cause=event)
    await _save_states(batch, states)
    await save_registrations(batch.conn, companies.changed)
    return results  # type: ignore[return-value]


async def _load_states(batch: BatchContext, aggregates: list[tuple[Aggregate, Contract]]) -> dict[tuple[str, str], State]:
    wanted: dict[Aggregate, set] = {}
    for aggregate, data in aggregates:
        wanted.setdefault(aggregate, set()).add(getattr(data, aggregate.id_column))
    states: dict[tuple[str, str], State] = {}
    for aggregate, ids in sorted(wanted.items(), key=lambda item: item[0].table):  # one locking order for all
        # Aggregates without a lifecycle keep their revision (feedback answered again) in the data.
        lifecycle = (
            "revision, status" if aggregate.open_status
            else "coalesce((data->>'revision')::int, 1) AS revision, NULL AS status"
        )
        lookups = "".join(f", {c}" for c in aggregate.lookups)
        rows = await batch.conn.fetch(
            f"SELECT {aggregate.id_column} AS id, source, data, accepted_event_id, {lifecycle}{lookups}"
            f" FROM {aggregate.table} WHERE {aggregate.id_column} = ANY($1) ORDER BY 1 FOR UPDATE",
            list(ids),
        )
        for row in rows:
            states[(aggregate.table, str(row["id"]))] = State(
                row["source"], row["data"], row["accepted_event_id"], row["revision"], row["status"],
                tuple(row[c] for c in aggregate.lookups),
            )
    return states


async def _save_states(batch: BatchContext, states: dict[tuple[str, str], State]) -> None:
    """One INSERT and one UPDATE per kind of aggregate, whatever the number of rows."""
    by_table = {a.table: a for a in AGGREGATE_OF.values()}
    inserts: dict[str, list[tuple]] = {}
    updates: dict[str, list[tuple]] = {}
    for (table, item_id), state in states.items():
        if not state.changed:
            continue
        lifecycle = (state.revision, state.status) if by_table[table].open_status else ()
        row = (item_id, state.data, state.accepted_event_id, *lifecycle, *state.lookup)
        if state.in_database:
            updates.setdefault(table, []).append(row)
        else:
            inserts.setdefault(table, []).append((*row, state.source))
    for table, rows in inserts.items():
        try:
            # A binary COPY: about half the cost of INSERT … SELECT FROM unnest(…).
            await batch.conn.copy_records_to_table(
                table, records=rows, columns=(*_written_columns(by_table[table]), "source")
            )
        except asyncpg.UniqueViolationError:
            # Another transaction (another instance, the same aggregate on another partition) has
            # just created one of these aggregates: decide again once it can be seen.
            raise TransientError(f"{by_table[table].label} created concurrently by another transaction") from None
    for table, rows in updates.items():
        columns = _written_columns(by_table[table])
        assignments = ", ".join(f"{c} = u.{c}" for c in columns[1:])
        await batch.conn.execute(
            f"UPDATE {table} SET {assignments}, updated_at = now()"
            f" FROM unnest({_array_parameters(columns)}) AS u({', '.join(columns)})"
            f" WHERE {table}.{columns[0]} = u.{columns[0]}",
            *map(list, zip(*rows)),
        )


def _written_columns(aggregate: Aggregate) -> list[str]:
    lifecycle = ["revision", "status"] if aggregate.open_status else []
    return [aggregate.id_column, "data", "accepted_event_id", *lifecycle, *aggregate.lookups]


_COLUMN_TYPES = {
    "need_id": "uuid", "output_id": "uuid", "participation_id": "uuid", "feedback_id": "uuid", "match_id": "uuid",
    "data": "json", "accepted_event_id": "text", "revision": "integer", "status": "text",
    "company_org_number": "text",
}


def _array_parameters(columns: list[str]) -> str:
    """$1::uuid[], $2::json[], …: one array parameter per column."""
    return ", ".join(f"${i}::{_COLUMN_TYPES[c]}[]" for i, c in enumerate(columns, start=1))


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


def lookup_values(data: Contract) -> tuple:
    """The values of the aggregate's lookup columns, taken from its content."""
    if isinstance(data, (NeedContent, ParticipationRecorded)):
        return (data.company.org_number if data.company else None,)
    if isinstance(data, FeedbackSubmitted):
        return (data.match_id,)
    return ()


def _canonical_id(partner_event: CloudEvent) -> str:
    """contracts.envelope.derived_event_id("intake", source, id), computed without the
    uuid module's objects: the same event handled again gets the same canonical id."""
    name = f"intake|{partner_event.envelope.source}|{partner_event.id}".encode()
    digest = bytearray(hashlib.sha1(_DERIVED_ID_NAMESPACE + name).digest()[:16])  # noqa: S324 - UUIDv5 is SHA-1
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_DERIVED_ID_NAMESPACE = UUID("8d6f4c1e-8c2b-4c1a-9a57-3b1f0c6d2e10").bytes  # contracts.envelope.derived_event_id's


def _canonical_headers(
    partner_event: CloudEvent, data: Contract, event_id: str, subject: str, time: str
) -> dict[str, str]:
    """The headers of the canonical event of an accepted partner event: with the value
    canonical_json(data), exactly encode(new_event(data, source=…, subject=…,
    caused_by=partner_event, event_id=…, time=…)), built directly from attributes that are all
    valid already (the partner's envelope was validated, the rest is intake's own),
    which costs a third of that."""
    envelope = partner_event.envelope
    correlation_id = partner_event.correlation_id
    return {
        "ce_id": event_id,
        "ce_source": envelope.source,
        "ce_type": data.EVENT_TYPE,
        "ce_specversion": SPEC_VERSION,
        "ce_time": time,  # _json_time of the moment it was accepted
        "ce_subject": subject,
        "ce_schemaversion": str(data.SCHEMA_VERSION),
        "ce_correlationid": correlation_id,
        "ce_causationid": partner_event.id,
        "content-type": JSON_CONTENT_TYPE,
        FASTSTREAM_CORRELATION_HEADER: correlation_id,
    }


def _json_time(time: datetime) -> str:
    """A time as pydantic writes it in JSON (and so as encode writes ce_time)."""
    return pydantic_core.to_json(time)[1:-1].decode()
