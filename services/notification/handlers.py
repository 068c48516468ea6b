"""Notification's Kafka side: each event becomes the messages owed to the people who want
it, written as `deliveries` rows in the same transaction as the inbox (the dispatcher
sends them afterwards, retrying as long as it takes). A row per recipient and notice, so
a redelivered event owes nobody a second message."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from contracts.envelope import CloudEvent, derived_event_id, new_event
from contracts.events import (
    Confidentiality,
    FeedbackSubmitted,
    Language,
    MatchProposed,
    MatchRetracted,
    NeedResolved,
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    Person,
    PersonErased,
)
from contracts.notices import (
    Cadence,
    NeedNotice,
    NeedStatus,
    Notice,
    OutgoingMessage,
    PartnerAccessChanged,
    Recipient,
)
from contracts.topics import NEED_FEED
from services.common.consumer import BatchContext
from services.common.partner_access import record_partner_access
from services.notification.erasure import erase_person
from services.notification.routing import (
    About,
    Audience,
    Channel,
    Facets,
    Filters,
    Scope,
    closed_need_notice,
    feedback_facets,
    feedback_notice,
    match_facets,
    match_notice,
    need_facets,
    need_notice,
    wants,
)

log = logging.getLogger(__name__)
SOURCE = "/redthread/notification"


@dataclass(frozen=True)
class Subscriber:
    """A live subscription with what it takes to write to its subscriber."""

    audience: Audience
    partner_id: str
    recipient: Recipient
    channel: Channel
    destination: str
    cadence: Cadence
    unsubscribe_token: str
    # Whether its partner may send feedback: only then do its messages carry answer links,
    # which send feedback in the partner's stead.
    may_answer: bool = False


@dataclass(frozen=True)
class Owed:
    """One message owed to one recipient."""

    delivery_id: UUID
    subscription_id: UUID | None
    recipient_key: str
    notice_key: str
    about_id: UUID | None
    channel: Channel
    destination: str
    message: OutgoingMessage
    status: str  # pending (send now), held (for a digest), delivered (an Atom entry is there once written)


def unsubscribe_url(settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/v1/unsubscribe/{token}"


def answer_url(settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/v1/answers/{token}"


def feed_url(settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/v1/feeds/{token}"


async def live_subscribers(conn: asyncpg.Connection, settings) -> list[Subscriber]:
    rows = await conn.fetch(
        "SELECT s.*, a.access FROM subscriptions s JOIN partner_access a USING (partner_id)"
        " WHERE s.status = 'active' ORDER BY s.created_at"
    )
    subscribers = []
    for row in rows:
        access = PartnerAccessChanged.model_validate_json(row["access"])
        if access.removed:
            continue
        scope = Scope(
            regions=frozenset(access.regions) if access.regions is not None else None,
            org_numbers=frozenset(access.org_numbers) if access.org_numbers is not None else None,
        )
        channel = Channel(row["channel"])
        subscriber = Recipient.model_validate_json(row["subscriber"])
        destination = {
            Channel.email: subscriber.email or "",
            Channel.webhook: row["webhook_url"] or "",
            Channel.atom: feed_url(settings, row["feed_token"] or ""),
        }[channel]
        subscribers.append(
            Subscriber(
                Audience(row["subscription_id"], About(row["about"]), Filters.model_validate_json(row["filters"]), scope),
                row["partner_id"],
                subscriber,
                channel,
                destination,
                Cadence(row["cadence"]),
                row["unsubscribe_token"],
                may_answer=FeedbackSubmitted.EVENT_TYPE in access.event_types,
            )
        )
    return subscribers


class Router:
    """Handles one batch: subscriptions are read once per batch, owed messages written
    in one statement at its end."""

    def __init__(self, batch: BatchContext) -> None:
        self.batch = batch
        self.conn = batch.conn
        self.settings = batch.settings
        self.owed: list[Owed] = []
        self._subscribers: list[Subscriber] | None = None
        self._coaches: dict[str, tuple[bool, str]] = {}  # e-mail -> (opted out, unsubscribe token)
        self._answer_tokens: dict[tuple[UUID, str], str] = {}
        self.erasures: list[str] = []  # person ids, erased after the batch's messages are written

    async def subscribers(self, about: About) -> list[Subscriber]:
        if self._subscribers is None:
            self._subscribers = await live_subscribers(self.conn, self.settings)
        return [s for s in self._subscribers if s.audience.about is about]

    async def audience_for(self, about: About, facets: Facets) -> list[Subscriber]:
        return [s for s in await self.subscribers(about) if wants(s.audience, facets)]

    def owe_subscriber(self, subscriber: Subscriber, notice: Notice, notice_key: str, about_id: UUID, now: datetime) -> None:
        recipient_key = f"subscription:{subscriber.audience.subscription_id}"
        delivery_id = UUID(derived_event_id("delivery", recipient_key, notice_key))
        if subscriber.channel is Channel.atom:
            status = "delivered"  # the feed entry is the delivery
        else:
            status = "pending" if subscriber.cadence is Cadence.immediate else "held"
        message = OutgoingMessage(
            message_id=delivery_id,
            subscription_id=subscriber.audience.subscription_id,
            recipient=subscriber.recipient,
            cadence=subscriber.cadence,
            notices=[notice],
            unsubscribe_url=unsubscribe_url(self.settings, subscriber.unsubscribe_token),
            created_at=now,
        )
        self.owed.append(
            Owed(delivery_id, subscriber.audience.subscription_id, recipient_key, notice_key, about_id,
                 subscriber.channel, subscriber.destination, message, status)
        )

    async def prepare(self, events: list[CloudEvent]) -> None:
        """What the batch's matches need from the database, fetched set-wise before they
        are routed one by one: the matches recorded, their coaches' unsubscribe tokens,
        and an answer link per match and reporter."""
        matches = [e.data for e in events if e.envelope.type == MatchProposed.EVENT_TYPE]
        if not matches:
            return
        await self.conn.execute(
            "INSERT INTO known_matches (match_id, need_id, output_id, notice)"
            " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::jsonb[]) ON CONFLICT (match_id) DO NOTHING",
            [m.match_id for m in matches], [m.need_id for m in matches], [m.output_id for m in matches],
            [m.model_dump_json() for m in matches],
        )
        coaches = sorted({str(m.coach.email).lower() for m in matches if m.coach})
        rows = await self.conn.fetch(
            "INSERT INTO coach_recipients (email, unsubscribe_token) SELECT * FROM unnest($1::text[], $2::text[])"
            " ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email"
            " RETURNING email, unsubscribed_at IS NOT NULL AS opted_out, unsubscribe_token",
            coaches, [secrets.token_urlsafe(24) for _ in coaches],
        )
        self._coaches = {row["email"]: (row["opted_out"], row["unsubscribe_token"]) for row in rows}
        reporters: dict[tuple[UUID, str], str] = {}
        for match in matches:
            if match.coach:
                reporters[_reporter_key(match.match_id, match.coach)] = match.coach.model_dump_json()
            if match.confidentiality is Confidentiality.coach_only:
                continue
            for subscriber in await self.audience_for(About.matches, match_facets(match)):
                # A link (with the person it was for) is kept only for those who get one.
                if subscriber.may_answer and (reporter := _reporter(subscriber)) is not None:
                    reporters[_reporter_key(match.match_id, reporter)] = reporter.model_dump_json()
        keys = list(reporters)
        rows = await self.conn.fetch(
            "INSERT INTO answer_links (token, match_id, reporter)"
            " SELECT * FROM unnest($1::text[], $2::uuid[], $3::jsonb[])"
            " ON CONFLICT (match_id, reporter) DO UPDATE SET match_id = EXCLUDED.match_id"
            " RETURNING token, match_id, reporter",
            [secrets.token_urlsafe(24) for _ in keys], [k[0] for k in keys], [reporters[k] for k in keys],
        )
        self._answer_tokens = {
            _reporter_key(row["match_id"], Person.model_validate_json(row["reporter"])): row["token"] for row in rows
        }

    async def answer_token(self, match_id: UUID, reporter: Person) -> str:
        """The token of the link where `reporter` answers about the match: one per
        reporter and match, the same every time it is asked for."""
        known = self._answer_tokens.get(_reporter_key(match_id, reporter))
        if known is not None:
            return known
        return await self.conn.fetchval(
            "INSERT INTO answer_links (token, match_id, reporter) VALUES ($1, $2, $3)"
            " ON CONFLICT (match_id, reporter) DO UPDATE SET match_id = EXCLUDED.match_id RETURNING token",
            secrets.token_urlsafe(24), match_id, reporter.model_dump_json(),
        )

    async def flush(self) -> None:
        if not self.owed:
            return
        inserted = await self.conn.fetch(
            "INSERT INTO deliveries (delivery_id, subscription_id, recipient_key, notice_key, about_id, channel,"
            " destination, message, status, delivered_at)"
            " SELECT d.*, CASE WHEN d.status = 'delivered' THEN now() END FROM unnest($1::uuid[], $2::uuid[],"
            " $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::jsonb[], $9::text[])"
            " AS d(delivery_id, subscription_id, recipient_key, notice_key, about_id, channel, destination, message, status)"
            " ON CONFLICT (recipient_key, notice_key) DO NOTHING RETURNING delivery_id",
            [o.delivery_id for o in self.owed],
            [o.subscription_id for o in self.owed],
            [o.recipient_key for o in self.owed],
            [o.notice_key for o in self.owed],
            [o.about_id for o in self.owed],
            [o.channel.value for o in self.owed],
            [o.destination for o in self.owed],
            [o.message.model_dump_json() for o in self.owed],
            [o.status for o in self.owed],
        )
        log.debug("%d messages owed (%d already were)", len(inserted), len(self.owed) - len(inserted))
        self.owed.clear()

    # --- per event ------------------------------------------------------------------

    async def match_proposed(self, event: CloudEvent[MatchProposed]) -> None:
        match = event.data  # recorded in known_matches by prepare()
        now = datetime.now(UTC)
        notice_key = f"match:{match.match_id}"
        if match.coach is not None:
            await self._tell_coach(match, notice_key, now)
        facets = match_facets(match)
        if match.confidentiality is Confidentiality.coach_only:
            return  # its coach only
        for subscriber in await self.audience_for(About.matches, facets):
            reporter = _reporter(subscriber) if subscriber.may_answer else None
            token = await self.answer_token(match.match_id, reporter) if reporter else None
            notice = match_notice(match, for_coach=False, answer_url=answer_url(self.settings, token) if token else None)
            if notice is not None:
                self.owe_subscriber(subscriber, notice, notice_key, match.match_id, now)

    async def _tell_coach(self, match: MatchProposed, notice_key: str, now: datetime) -> None:
        coach = match.coach
        email = str(coach.email).lower()
        opted_out, token = self._coaches[email]
        if opted_out:
            log.info("the coach of match %s asked not to be told about matches; it stays visible in reporting", match.match_id)
            return
        answer = await self.answer_token(match.match_id, coach)
        recipient_key = f"coach:{email}"
        delivery_id = UUID(derived_event_id("delivery", recipient_key, notice_key))
        message = OutgoingMessage(
            message_id=delivery_id,
            recipient=Recipient(name=coach.name, email=coach.email, language=match.language or Language.sv),
            notices=[match_notice(match, for_coach=True, answer_url=answer_url(self.settings, answer))],
            unsubscribe_url=unsubscribe_url(self.settings, token),
            created_at=now,
        )
        self.owed.append(
            Owed(delivery_id, None, recipient_key, notice_key, match.match_id, Channel.email, email, message, "pending")
        )

    async def match_retracted(self, event: CloudEvent[MatchRetracted]) -> None:
        match_id = event.data.match_id
        await self.flush()  # what this batch owes for the match must be there to be cancelled
        await self.conn.execute("UPDATE known_matches SET retracted = true WHERE match_id = $1", match_id)
        cancelled = await self.conn.execute(
            "UPDATE deliveries SET status = 'cancelled', last_error = 'the match was retracted'"
            " WHERE about_id = $1 AND status IN ('pending', 'held')",
            match_id,
        )
        log.info("match %s retracted; %s unsent messages cancelled", match_id, cancelled.split()[-1])

    async def need_changed(self, event: CloudEvent[NeedSubmitted] | CloudEvent[NeedUpdated]) -> None:
        need = event.data
        notice = need_notice(need, need_id=need.need_id, revision=need.revision)
        if notice is None:
            return  # coach-only: it never leaves the need's coach
        self._publish_to_need_feed(event, notice)
        now = datetime.now(UTC)
        for subscriber in await self.audience_for(About.needs, need_facets(need)):
            self.owe_subscriber(subscriber, notice, f"need:{need.need_id}:{need.revision}", need.need_id, now)

    async def need_closed(self, event: CloudEvent[NeedWithdrawn] | CloudEvent[NeedResolved]) -> None:
        closed = event.data
        status = NeedStatus.withdrawn if isinstance(closed, NeedWithdrawn) else NeedStatus.resolved
        notice = closed_need_notice(closed.need_id, closed.revision, status, closed.confidentiality)
        if notice is None:
            return
        self._publish_to_need_feed(event, notice)
        # Only those who were told of the need hear that it closed.
        await self.flush()
        told = await self.conn.fetch(
            "SELECT DISTINCT subscription_id FROM deliveries WHERE about_id = $1 AND subscription_id IS NOT NULL",
            closed.need_id,
        )
        told_ids = {row["subscription_id"] for row in told}
        now = datetime.now(UTC)
        for subscriber in await self.subscribers(About.needs):
            if subscriber.audience.subscription_id in told_ids:
                self.owe_subscriber(subscriber, notice, f"need:{closed.need_id}:{closed.revision}", closed.need_id, now)

    def _publish_to_need_feed(self, cause: CloudEvent, notice: NeedNotice) -> None:
        self.batch.publish(
            NEED_FEED.name,
            str(notice.need_id),
            new_event(notice, source=SOURCE, subject=str(notice.need_id), caused_by=cause,
                      event_id=derived_event_id("need-feed", cause.id)),
            cause=cause,
        )

    async def feedback_submitted(self, event: CloudEvent[FeedbackSubmitted]) -> None:
        feedback = event.data
        stored = await self.conn.fetchval("SELECT notice FROM known_matches WHERE match_id = $1", feedback.match_id)
        if stored is None:
            log.info("feedback %s is about match %s, which notification never saw; nobody to tell",
                     feedback.feedback_id, feedback.match_id)
            return
        match = MatchProposed.model_validate_json(stored)
        notice = feedback_notice(feedback, match)
        await self.conn.execute(
            "INSERT INTO feedback_authors (feedback_id, person_id, match_id) VALUES ($1, person_id($2), $3)"
            " ON CONFLICT DO NOTHING",
            feedback.feedback_id, feedback.reporter.email, feedback.match_id,
        )
        now = datetime.now(UTC)
        for subscriber in await self.audience_for(About.feedback, feedback_facets(match)):
            self.owe_subscriber(
                subscriber, notice, f"feedback:{feedback.feedback_id}:{feedback.revision}", feedback.feedback_id, now
            )

    async def partner_access_changed(self, event: CloudEvent[PartnerAccessChanged]) -> None:
        await record_partner_access(self.conn, event.data)
        self._subscribers = None  # the scope may have changed

    async def person_erased(self, event: CloudEvent[PersonErased]) -> None:
        # After the batch's messages are written (flush), so none of them outlives it.
        self.erasures.append(event.data.person_id)


def _reporter(subscriber: Subscriber) -> Person | None:
    """Who answers through a subscriber's link: someone with an address to answer as."""
    recipient = subscriber.recipient
    return Person(name=recipient.name, email=recipient.email) if recipient.email else None


def _reporter_key(match_id: UUID, reporter: Person) -> tuple[UUID, str]:
    return match_id, reporter.model_dump_json()


ROUTES = {
    MatchProposed.EVENT_TYPE: Router.match_proposed,
    MatchRetracted.EVENT_TYPE: Router.match_retracted,
    NeedSubmitted.EVENT_TYPE: Router.need_changed,
    NeedUpdated.EVENT_TYPE: Router.need_changed,
    NeedWithdrawn.EVENT_TYPE: Router.need_closed,
    NeedResolved.EVENT_TYPE: Router.need_closed,
    FeedbackSubmitted.EVENT_TYPE: Router.feedback_submitted,
    PartnerAccessChanged.EVENT_TYPE: Router.partner_access_changed,
    PersonErased.EVENT_TYPE: Router.person_erased,
}


async def route_batch(batch: BatchContext, events: list[CloudEvent]) -> None:
    router = Router(batch)
    await router.prepare(events)
    for event in events:
        with batch.span_of(event):
            await ROUTES[event.envelope.type](router, event)
    await router.flush()
    for person in router.erasures:
        await erase_person(batch.conn, person)


