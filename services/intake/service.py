"""Intake: the front door. Checks who is sending and what they may send, validates and
completes it, stores it, and publishes the canonical events every other service reads."""

from __future__ import annotations

import gc
import logging
from functools import partial

from contracts.envelope import CloudEvent
from contracts.events import (
    FeedbackSubmitted,
    MatchProposed,
    NeedSubmitted,
    PersonErased,
    PersonKeyIssued,
    ParticipationRecorded,
    ResearchOutputPublished,
)
from contracts.notices import PartnerAccessChanged
from contracts.topics import (
    PARTNER_ACCESS,
    ERASURES,
    FEEDBACK,
    MATCHES,
    partner_topic_owner,
    NEEDS,
    PARTICIPATIONS,
    PARTNER_FEEDBACK,
    PERSON_KEYS,
    PARTNER_NEEDS,
    PARTNER_PARTICIPATIONS,
    PARTNER_RESEARCH_OUTPUTS,
    RESEARCH_OUTPUTS,
)
from services.common.consumer import BatchContext, Rejected
from services.common.runtime import Publication, Service, Subscription
from services.common.settings import Settings
from services.intake.acceptance import AGGREGATE_OF, Effect, Forbidden, accept_batch
from services.intake.http import build_router
from services.intake.known_matches import record_matches
from services.intake.partners import Partner, PartnerDirectory, partner_id_from_source

log = logging.getLogger(__name__)


def kafka_batch_handler(directory: PartnerDirectory):
    """Events from the partner topics: the CloudEvents source names the partner, whose
    scope applies exactly as over HTTP (docs/partner-access.md: how the Kafka principal
    is tied to it)."""

    async def accept_from_kafka(batch: BatchContext, events: list[CloudEvent]) -> None:
        submissions: list[tuple[Partner, CloudEvent]] = []
        # A batch comes from few partners over few topics: each is looked up once.
        partners: dict[str, Partner | None] = {}
        refusals: dict[tuple[str, str], str | None] = {}
        for event in events:
            source = event.envelope.source
            if source not in partners:
                partner_id = partner_id_from_source(source)
                partners[source] = await directory.partner(partner_id) if partner_id else None
            partner = partners[source]
            if partner is None:
                batch.reject(event, Forbidden(f"source {source!r} is not a registered partner (expected /partners/<id>)"))
                continue
            topic = batch.topic_of[event.id]
            if (source, topic) not in refusals:
                refusals[(source, topic)] = wrong_topic(partner, topic)
            if why_not := refusals[(source, topic)]:
                batch.reject(event, Forbidden(why_not))
            else:
                submissions.append((partner, event))
        results = await accept_batch(batch, submissions)
        for (partner, event), result in zip(submissions, results, strict=True):
            if isinstance(result, Rejected):
                batch.reject(event, result)
            elif result.effect is not Effect.ACCEPTED:
                with batch.span_of(event):
                    log.info("%s %s from %s: %s", event.envelope.type, result.aggregate_id, partner.partner_id,
                             result.effect)

    return accept_from_kafka


def tune_garbage_collection() -> None:
    """Intake allocates hundreds of short-lived objects per event, nearly all freed by
    reference counting; the cyclic collector, run every 700 allocations by default, kept
    re-walking everything built at start (schemas, routes, tables: ~100,000 objects) and
    cost about a tenth of intake's CPU. What exists once started lives as long as the
    process, so it is frozen out of collection, and collections are made rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def wrong_topic(partner: Partner, topic: str) -> str | None:
    """Why `partner`'s event may not come on `topic`, or None when it may."""
    _, owner = partner_topic_owner(topic) or (None, None)
    if owner is not None and owner != partner.partner_id:
        return f"{topic} carries only events from /partners/{owner}, not from {partner.source}"
    if owner is None and partner.own_kafka_topics:
        return (
            f"partner {partner.partner_id} sends on its own topics (partner.{partner.partner_id}.*); "
            f"its source on the shared topic {topic} is not trusted"
        )
    return None


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    directory = PartnerDirectory(ttl_s=settings.partner_cache_s)
    service = Service(
        "intake",
        package="services.intake",
        description=__doc__ or "",
        settings=settings,
        subscriptions=(
            Subscription(
                "intake",
                (PARTNER_NEEDS, PARTNER_RESEARCH_OUTPUTS, PARTNER_PARTICIPATIONS, PARTNER_FEEDBACK),
                batch_handler=kafka_batch_handler(directory),
                batch_types=frozenset(contract.EVENT_TYPE for contract in AGGREGATE_OF),
                partner_topics_by_pattern=True,
                # Each batch is a few set-wise statements and one transaction: with a
                # backlog, batches of 1,000 accepted 4–5 % more events per second than 500.
                max_batch=1000,
            ),
            Subscription("intake-matches", (MATCHES,), batch_handler=record_matches,
                         batch_types=frozenset({MatchProposed.EVENT_TYPE})),
        ),
        publications=(
            Publication(NEEDS, NeedSubmitted),
            Publication(RESEARCH_OUTPUTS, ResearchOutputPublished),
            Publication(PARTICIPATIONS, ParticipationRecorded),
            Publication(FEEDBACK, FeedbackSubmitted),
            Publication(PARTNER_ACCESS, PartnerAccessChanged),
            Publication(ERASURES, PersonErased),
            Publication(PERSON_KEYS, PersonKeyIssued),
        ),
        http=partial(build_router, directory=directory),
        on_start=(lambda service: directory.bind(service.pool), lambda service: tune_garbage_collection()),
    )
    service.http_app.state.partner_directory = directory
    return service
