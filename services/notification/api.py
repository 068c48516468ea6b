"""Notification's HTTP API.

- Partners (same API keys as intake) manage subscriptions: create, list, pause/resume,
  change, delete, rotate a webhook secret, and see each delivery's status.
- The links in every message: unsubscribe (RFC 8058 one-click), answer a match (the
  answer becomes feedback), and each Atom subscription's feed. Their random tokens are
  the credential, as feed readers and mail clients cannot send API keys.
"""


import asyncio
import html
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.envelope import derived_event_id, new_event
from contracts.events import (
    NOT_USEFUL_REASON_WORDS, FeedbackSubmitted, FeedbackVerdict, Language, MatchProposed, NotUsefulReason, Person,
)
from contracts.notices import Cadence, OutgoingMessage, PartnerAccessChanged, Recipient, Url
from contracts.topics import PARTNER_FEEDBACK
from services.common.sealing import sealer_from
from services.common.access import Access, declares, link
from services.common.api_keys import presented_key
from services.common.partner_access import authenticated_partner, operator_dependency
from services.common.consumer import BatchContext
from services.common.problems import Problem, validation_errors
from services.notification.digests import next_digest_at
from services.notification.feeds import FeedEntry, render_atom
from services.notification.handlers import feed_url, unsubscribe_url
from services.notification.outbound import Refused, resolve_destination
from services.notification.routing import About, Channel, Filters
from services.notification.signing import WebhookSecrets
from services.notification.templates import HTML_LANGUAGE_TAGS

if TYPE_CHECKING:
    from services.common.runtime import Service

# Answers from the links in messages reach intake as this partner's feedback.
ANSWERING_PARTNER_SOURCE = "/partners/redthread-notification"
FEED_LINK = link("an Atom feed, for whoever its subscriber gave the feed's address")
UNSUBSCRIBE_LINK = link("the unsubscribe link of one message's recipient")
ANSWER_LINK = link("the answer link of one match message's recipient")
WEBHOOK_CHECK_TIMEOUT_S = 5.0  # a name server that does not answer must not hold the request


class SubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscriber: Recipient = Field(description="Who reads it; the language chooses the templates (sv, no, en)")
    about: About = Field(description="matches (for coaches and IUCs), needs (the need feed), feedback (on outputs)")
    filters: Filters = Field(default_factory=Filters)
    channel: Channel
    webhook_url: Url | None = Field(None, description="Required for the webhook channel")
    cadence: Cadence = Field(Cadence.immediate, description="immediate, or a daily or weekly digest (e-mail, webhook)")

    @model_validator(mode="after")
    def _channel_needs(self) -> "SubscriptionRequest":
        if self.channel is Channel.email and not self.subscriber.email:
            raise ValueError("the email channel needs subscriber.email")
        if self.channel is Channel.webhook and not self.webhook_url:
            raise ValueError("the webhook channel needs webhook_url")
        if self.channel is not Channel.webhook and self.webhook_url:
            raise ValueError("webhook_url belongs to the webhook channel only")
        if self.channel is Channel.atom and self.cadence is not Cadence.immediate:
            raise ValueError("an Atom feed is read when its reader wants: its cadence is immediate")
        return self


class SubscriptionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Annotated[str | None, Field(pattern="^(active|paused)$")] = None
    filters: Filters | None = None
    cadence: Cadence | None = None


class SubscriptionView(BaseModel):
    subscription_id: UUID
    subscriber: Recipient
    about: About
    filters: Filters
    channel: Channel
    webhook_url: str | None
    cadence: Cadence
    status: str
    feed_url: str | None = Field(None, description="The Atom feed (atom channel)")
    unsubscribe_url: str
    next_digest_at: datetime | None
    created_at: datetime
    webhook_secret: str | None = Field(
        None, description="Only in the answer that creates it or rotates it: verify webhook-signature with it"
    )


class DeliveryAttempt(BaseModel):
    attempt: int
    attempted_at: datetime
    outcome: str
    status_code: int | None
    error: str | None


class DeliveryView(BaseModel):
    delivery_id: UUID
    channel: str
    destination: str
    status: str = Field(description="pending, held (for a digest), digested, delivered, failed or cancelled")
    notice_key: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    digest_id: UUID | None
    history: list[DeliveryAttempt]


class AnswerForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    verdict: FeedbackVerdict
    reason: NotUsefulReason | None = Field(None, description="Why it was not useful (only with verdict not-useful)")
    comment: Annotated[str | None, Field(max_length=5000)] = None
    new_question: Annotated[str | None, Field(max_length=5000)] = None

    @model_validator(mode="after")
    def _question_given(self) -> "AnswerForm":
        if self.verdict is FeedbackVerdict.new_question and not self.new_question:
            raise ValueError("say what the new research question is (new_question)")
        if self.reason is not None and self.verdict is not FeedbackVerdict.not_useful:
            raise ValueError("only a not-useful answer gives a reason (reason)")
        return self


class AnswerRecorded(BaseModel):
    feedback_id: UUID
    match_id: UUID
    revision: int
    verdict: FeedbackVerdict
    effect: str = Field(description="recorded, or unchanged when the same answer was given before")


def _view(settings, row: asyncpg.Record, webhook_secret: str | None = None) -> SubscriptionView:
    return SubscriptionView(
        subscription_id=row["subscription_id"],
        subscriber=Recipient.model_validate_json(row["subscriber"]),
        about=row["about"],
        filters=Filters.model_validate_json(row["filters"]),
        channel=row["channel"],
        webhook_url=row["webhook_url"],
        cadence=row["cadence"],
        status=row["status"],
        feed_url=feed_url(settings, row["feed_token"]) if row["feed_token"] else None,
        unsubscribe_url=unsubscribe_url(settings, row["unsubscribe_token"]),
        next_digest_at=row["next_digest_at"],
        created_at=row["created_at"],
        webhook_secret=webhook_secret,
    )


def _page(title: str, body_html: str, status_code: int = 200, language: Language = Language.sv) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang=\"{HTML_LANGUAGE_TAGS[language]}\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "h1{color:#b3261e;font-size:1.4rem}button{font-size:1rem;padding:.5rem 1rem;margin:.25rem}"
        "textarea{width:100%;min-height:5rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>",
        status_code=status_code,
    )


# What a subscription is about, as feed titles and the unsubscribe page say it.
ABOUT_IN_SWEDISH = {About.matches: "matchningar", About.needs: "företagens behov", About.feedback: "återkoppling"}

@dataclass(frozen=True)
class AnswerPage:
    """The answer page's words in one language: the coach reads it in the match's."""

    title: str
    about: str  # {output}, {need}
    verdicts: dict[FeedbackVerdict, str]
    why_not: str
    comment: str
    new_question: str
    send: str
    again: str
    thanks: str
    noted: str  # {verdict}


ANSWER_PAGES = {
    Language.sv: AnswerPage(
        "Vad tyckte företaget?", "Om forskningsresultatet {output} för behovet {need}:",
        {FeedbackVerdict.useful: "Användbart", FeedbackVerdict.not_useful: "Inte användbart",
         FeedbackVerdict.adopted: "Infört i verksamheten", FeedbackVerdict.new_question: "Väcker en ny forskningsfråga"},
        "Varför inte?", "Kommentar", "Ny forskningsfråga", "Skicka svaret",
        "Du kan svara igen senare; det senaste svaret gäller.", "Tack för svaret!",
        "Vi har noterat: {verdict}. Forskarna bakom resultatet får veta det.",
    ),
    Language.no: AnswerPage(
        "Hva syntes bedriften?", "Om forskningsresultatet {output} for behovet {need}:",
        {FeedbackVerdict.useful: "Nyttig", FeedbackVerdict.not_useful: "Ikke nyttig",
         FeedbackVerdict.adopted: "Tatt i bruk i virksomheten", FeedbackVerdict.new_question: "Reiser et nytt forskningsspørsmål"},
        "Hvorfor ikke?", "Kommentar", "Nytt forskningsspørsmål", "Send svaret",
        "Du kan svare igjen senere; det siste svaret gjelder.", "Takk for svaret!",
        "Vi har notert: {verdict}. Forskerne bak resultatet får vite det.",
    ),
    Language.en: AnswerPage(
        "What did the company think?", "About the research result {output} for the need {need}:",
        {FeedbackVerdict.useful: "Useful", FeedbackVerdict.not_useful: "Not useful",
         FeedbackVerdict.adopted: "Adopted in the business", FeedbackVerdict.new_question: "Raises a new research question"},
        "Why not?", "Comment", "New research question", "Send the answer",
        "You can answer again later; the latest answer counts.", "Thank you for your answer!",
        "We have noted: {verdict}. The researchers behind the result will hear of it.",
    ),
}


def _reason_choices(language: Language, prompt: str) -> str:
    """The fixed reasons for "not useful", in the coach's language, under that choice."""
    options = "".join(
        f"<option value=\"{reason.value}\">{html.escape(words)}</option>"
        for reason, words in NOT_USEFUL_REASON_WORDS[language].items()
    )
    return (f"<p style=\"margin-left:1.5rem\"><label>{html.escape(prompt)} "
            f"<select name=\"reason\"><option value=\"\"></option>{options}</select></label></p>")


def build_router(service: "Service") -> APIRouter:
    settings = service.settings
    webhook_secrets = WebhookSecrets(sealer_from(settings))
    router = APIRouter(prefix="/v1")

    @declares(Access("partner"))
    async def current_partner(key: Annotated[str | None, Depends(presented_key)]) -> PartnerAccessChanged:
        return await authenticated_partner(lambda: service.pool, key, service.rate_limits)

    operator = operator_dependency(lambda: service.pool, service.rate_limits)

    PartnerDep = Annotated[PartnerAccessChanged, Depends(current_partner)]
    OperatorDep = Annotated[PartnerAccessChanged, Depends(operator)]

    async def owned(conn: asyncpg.Connection, partner: PartnerAccessChanged, subscription_id: UUID) -> asyncpg.Record:
        row = await conn.fetchrow(
            "SELECT * FROM subscriptions WHERE subscription_id = $1 AND partner_id = $2 AND status <> 'unsubscribed'",
            subscription_id, partner.partner_id,
        )
        if row is None:
            raise Problem(404, f"subscription {subscription_id} does not exist", slug="not-found")
        return row

    # --- subscriptions ------------------------------------------------------------

    @router.post("/subscriptions", status_code=201, tags=["subscriptions"])
    async def create_subscription(request: SubscriptionRequest, partner: PartnerDep) -> SubscriptionView:
        """Subscribe someone (or a partner system) to matches, the need feed, or feedback."""
        subscription_id = UUID(derived_event_id("subscription", partner.partner_id, secrets.token_hex(16)))
        now = datetime.now(UTC)
        if request.webhook_url and not service.settings.webhook_allow_internal:
            await refuse_inward_webhook(request.webhook_url)
        async with service.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO subscriptions (subscription_id, partner_id, subscriber, about, filters, channel, webhook_url,"
                " cadence, unsubscribe_token, feed_token, next_digest_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
                subscription_id,
                partner.partner_id,
                request.subscriber.model_dump_json(),
                request.about.value,
                request.filters.model_dump_json(),
                request.channel.value,
                request.webhook_url,
                request.cadence.value,
                secrets.token_urlsafe(24),
                secrets.token_urlsafe(24) if request.channel is Channel.atom else None,
                next_digest_at(request.cadence, now, hour=settings.digest_hour, timezone=settings.digest_timezone),
            )
            secret = await webhook_secrets.add(conn, subscription_id) if request.channel is Channel.webhook else None
        return _view(settings, row, secret)

    @router.get("/subscriptions", tags=["subscriptions"])
    async def list_subscriptions(partner: PartnerDep) -> list[SubscriptionView]:
        """This partner's subscriptions (not those it has deleted or that were unsubscribed)."""
        async with service.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM subscriptions WHERE partner_id = $1 AND status <> 'unsubscribed' ORDER BY created_at",
                partner.partner_id,
            )
        return [_view(settings, row) for row in rows]

    @router.get("/subscriptions/{subscription_id}", tags=["subscriptions"])
    async def get_subscription(subscription_id: UUID, partner: PartnerDep) -> SubscriptionView:
        async with service.pool.acquire() as conn:
            return _view(settings, await owned(conn, partner, subscription_id))

    @router.patch("/subscriptions/{subscription_id}", tags=["subscriptions"])
    async def change_subscription(subscription_id: UUID, change: SubscriptionChange, partner: PartnerDep) -> SubscriptionView:
        """Pause or resume (status), or change filters or cadence. Items held for a
        digest while paused go out with the next digest after resuming."""
        async with service.pool.acquire() as conn, conn.transaction():
            row = await owned(conn, partner, subscription_id)
            cadence = change.cadence or Cadence(row["cadence"])
            if row["channel"] == Channel.atom and cadence is not Cadence.immediate:
                raise Problem(422, "an Atom feed's cadence is immediate", errors=[
                    {"pointer": "/cadence", "location": ["body", "cadence"], "detail": "must be immediate for atom"}
                ])
            digest_at = row["next_digest_at"]
            if cadence.value != row["cadence"]:
                digest_at = next_digest_at(
                    cadence, datetime.now(UTC), hour=settings.digest_hour, timezone=settings.digest_timezone
                )
            row = await conn.fetchrow(
                "UPDATE subscriptions SET status = coalesce($2, status), filters = coalesce($3, filters),"
                " cadence = $4, next_digest_at = $5, updated_at = now() WHERE subscription_id = $1 RETURNING *",
                subscription_id,
                change.status,
                change.filters.model_dump_json() if change.filters else None,
                cadence.value,
                digest_at,
            )
            if cadence is Cadence.immediate:
                # Nothing is held for a subscription that is no longer a digest.
                await conn.execute(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = now()"
                    " WHERE subscription_id = $1 AND status = 'held'",
                    subscription_id,
                )
        return _view(settings, row)

    @router.delete("/subscriptions/{subscription_id}", status_code=204, tags=["subscriptions"])
    async def delete_subscription(subscription_id: UUID, partner: PartnerDep) -> Response:
        """Stop the subscription now; what was not yet sent is cancelled."""
        async with service.pool.acquire() as conn, conn.transaction():
            await owned(conn, partner, subscription_id)
            await _end_subscription(conn, subscription_id, "the subscription was deleted")
        return Response(status_code=204)

    @router.post("/subscriptions/{subscription_id}/webhook-secret", tags=["subscriptions"])
    async def rotate_secret(subscription_id: UUID, partner: PartnerDep) -> SubscriptionView:
        """A new signing secret. Until the old one expires (24 h by default) every webhook
        is signed with both, so the receiver can switch without missing a message."""
        async with service.pool.acquire() as conn, conn.transaction():
            row = await owned(conn, partner, subscription_id)
            if row["channel"] != Channel.webhook:
                raise Problem(409, "only a webhook subscription has a signing secret")
            secret = await webhook_secrets.rotate(
                conn, subscription_id, timedelta(hours=settings.webhook_secret_overlap_h)
            )
        return _view(settings, row, secret)

    @router.get("/subscriptions/{subscription_id}/deliveries", tags=["subscriptions"])
    async def list_deliveries(
        subscription_id: UUID, partner: PartnerDep, limit: int = Query(50, ge=1, le=500)
    ) -> list[DeliveryView]:
        """What was sent (or is being tried) for this subscription, newest first, with every attempt."""
        async with service.pool.acquire() as conn:
            await owned(conn, partner, subscription_id)
            rows = await conn.fetch(
                "SELECT d.*, coalesce((SELECT jsonb_agg(to_jsonb(a) ORDER BY a.attempt) FROM delivery_attempts a"
                " WHERE a.delivery_id = d.delivery_id), '[]') AS history"
                " FROM deliveries d WHERE d.subscription_id = $1 ORDER BY d.created_at DESC LIMIT $2",
                subscription_id, limit,
            )
        return [
            DeliveryView(
                **{k: row[k] for k in ("delivery_id", "channel", "destination", "status", "notice_key", "attempts",
                                       "last_error", "created_at", "delivered_at", "digest_id")},
                next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
                history=[DeliveryAttempt.model_validate(a) for a in _json(row["history"])],
            )
            for row in rows
        ]

    # --- links in messages ----------------------------------------------------------

    @router.get("/feeds/{token}", tags=["links"], response_class=Response, dependencies=[FEED_LINK],
                responses={200: {"content": {"application/atom+xml": {}}}})
    async def atom_feed(token: str, limit: int = Query(50, ge=1, le=200)) -> Response:
        """An Atom subscription's feed: its latest entries, for any feed reader."""
        async with service.pool.acquire() as conn:
            subscription = await conn.fetchrow(
                "SELECT subscription_id, subscriber, about, status FROM subscriptions"
                " WHERE feed_token = $1 AND status <> 'unsubscribed'",
                token,
            )
            if subscription is None:
                raise Problem(404, "no such feed", slug="not-found")
            rows = await conn.fetch(
                "SELECT delivery_id, created_at, message FROM deliveries WHERE subscription_id = $1 AND channel = 'atom'"
                " AND status = 'delivered' ORDER BY created_at DESC LIMIT $2",
                subscription["subscription_id"], limit,
            )
        recipient = Recipient.model_validate_json(subscription["subscriber"])
        entries = [
            FeedEntry(entry_id=row["delivery_id"], published=row["created_at"], notice=notice)
            for row in rows
            for notice in OutgoingMessage.model_validate_json(row["message"]).notices
        ]
        body = render_atom(
            feed_id=subscription["subscription_id"],
            title=f"redthread: {ABOUT_IN_SWEDISH[subscription['about']]} för {recipient.name}",
            feed_url=feed_url(settings, token),
            language=recipient.language,
            entries=entries,
        )
        return Response(body, media_type="application/atom+xml")

    @router.get("/unsubscribe/{token}", tags=["links"], response_class=HTMLResponse, dependencies=[UNSUBSCRIBE_LINK])
    async def unsubscribe_page(token: str) -> HTMLResponse:
        """Asks before unsubscribing: mail scanners follow links, people press buttons."""
        async with service.pool.acquire() as conn:
            what = await _unsubscribable(conn, token)
        return _page(
            "Avsluta prenumeration",
            f"<p>Vill du sluta få {html.escape(what)} från redthread?</p>"
            f"<form method=\"post\"><button type=\"submit\">Ja, avsluta</button></form>"
            "<p lang=\"en\"><small>Unsubscribe: press the button.</small></p>",
        )

    @router.post("/unsubscribe/{token}", tags=["links"], response_class=HTMLResponse, dependencies=[UNSUBSCRIBE_LINK])
    async def unsubscribe(token: str) -> HTMLResponse:
        """Unsubscribes at once (RFC 8058 one-click: mail clients POST here)."""
        async with service.pool.acquire() as conn, conn.transaction():
            subscription_id = await conn.fetchval(
                "SELECT subscription_id FROM subscriptions WHERE unsubscribe_token = $1 FOR UPDATE", token
            )
            if subscription_id is not None:
                await _end_subscription(conn, subscription_id, "the recipient unsubscribed")
            else:
                coach = await conn.fetchval(
                    "UPDATE coach_recipients SET unsubscribed_at = coalesce(unsubscribed_at, now())"
                    " WHERE unsubscribe_token = $1 RETURNING email",
                    token,
                )
                if coach is None:
                    raise Problem(404, "this unsubscribe link is not known", slug="not-found")
                await conn.execute(
                    "UPDATE deliveries SET status = 'cancelled', last_error = 'the recipient unsubscribed'"
                    " WHERE recipient_key = $1 AND status IN ('pending', 'held')",
                    f"coach:{coach}",
                )
        return _page("Prenumerationen är avslutad", "<p>Du får inga fler sådana meddelanden från redthread.</p>")

    @router.get("/answers/{token}", tags=["links"], response_class=HTMLResponse, dependencies=[ANSWER_LINK])
    async def answer_page(token: str, verdict: FeedbackVerdict | None = None) -> HTMLResponse:
        """The page a match message links to: what the company thinks of the research."""
        async with service.pool.acquire() as conn:
            link = await _answer_link(conn, token, timedelta(days=settings.answer_link_ttl_days))
        match = link["match"]
        language = match.language or Language.sv
        words = ANSWER_PAGES[language]
        choices = "".join(
            f"<p><label><input type=\"radio\" name=\"verdict\" value=\"{v.value}\""
            f"{' checked' if v is verdict else ''} required> {html.escape(label)}</label></p>"
            + (_reason_choices(language, words.why_not) if v is FeedbackVerdict.not_useful else "")
            for v, label in words.verdicts.items()
        )
        about = html.escape(words.about).format(output=f"<strong>{html.escape(match.output_title)}</strong>",
                                                need=f"<strong>{html.escape(match.need_title)}</strong>")
        return _page(
            words.title,
            f"<p>{about}</p>"
            f"<form method=\"post\">{choices}"
            f"<p><label>{html.escape(words.comment)}<br><textarea name=\"comment\" maxlength=\"5000\"></textarea></label></p>"
            f"<p><label>{html.escape(words.new_question)}<br>"
            "<textarea name=\"new_question\" maxlength=\"5000\"></textarea></label></p>"
            f"<button type=\"submit\">{html.escape(words.send)}</button></form>"
            f"<p><small>{html.escape(words.again)}</small></p>",
            language=language,
        )

    @router.post("/answers/{token}", tags=["links"], responses={200: {"model": AnswerRecorded}}, dependencies=[ANSWER_LINK])
    async def answer(token: str, request: Request) -> Response:
        """Records the answer (form or JSON: verdict, comment, new_question) as feedback.
        Answering again replaces the earlier answer."""
        wants_json = request.headers.get("content-type", "").startswith("application/json")
        raw = await request.json() if wants_json else dict(await request.form())
        try:
            form = AnswerForm.model_validate({k: v for k, v in raw.items() if v != ""} if isinstance(raw, dict) else raw)
        except ValidationError as error:
            errors = validation_errors([e | {"loc": ("body", *e["loc"])} for e in error.errors()])
            raise Problem(422, "; ".join(f"{e['pointer']}: {e['detail']}" for e in errors),
                          slug="invalid-request", errors=errors) from None
        async with service.publishing() as transaction:
            link = await _answer_link(transaction.conn, token, timedelta(days=settings.answer_link_ttl_days))
            recorded = await _record_answer(transaction, link["match"], link["reporter"], form)
        if wants_json:
            return Response(recorded.model_dump_json(), media_type="application/json")
        language = link["match"].language or Language.sv
        words = ANSWER_PAGES[language]
        verdict = f"<strong>{html.escape(words.verdicts[form.verdict])}</strong>"
        return _page(words.thanks, f"<p>{html.escape(words.noted).format(verdict=verdict)}</p>", language=language)

    @router.get("/notifications", tags=["notifications"])
    async def list_notifications(_: OperatorDep, match_id: UUID | None = None,
                                 limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
        """Messages about matches that have gone out, newest first, optionally for one match."""
        async with service.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT delivery_id AS notification_id, about_id AS match_id, channel, destination AS recipient,"
                " delivered_at AS dispatched_at, status FROM deliveries"
                " WHERE notice_key LIKE 'match:%' AND status = 'delivered'"
                " AND ($1::uuid IS NULL OR about_id = $1::uuid) ORDER BY delivered_at DESC LIMIT $2",
                match_id, limit,
            )
        return [dict(r) for r in rows]

    return router


async def refuse_inward_webhook(url: str) -> None:
    """A 422 for a webhook URL that points into redthread's network as it resolves now.
    One that does not resolve now is taken: it is checked again at every send."""
    try:
        async with asyncio.timeout(WEBHOOK_CHECK_TIMEOUT_S):
            await resolve_destination(url)
    except Refused as refused:
        raise Problem(422, f"webhook_url: {refused}", slug="invalid-request",
                      errors=[{"pointer": "/webhook_url", "location": ["body", "webhook_url"], "detail": str(refused)}])
    except (OSError, TimeoutError):
        pass


def _json(value) -> list:
    return json.loads(value) if isinstance(value, str) else value


async def _end_subscription(conn: asyncpg.Connection, subscription_id: UUID, why: str) -> None:
    """Nothing more is sent, and who the subscriber was is no longer kept: their name and
    address leave the subscription and the messages kept for its history."""
    await conn.execute(
        "UPDATE subscriptions SET status = 'unsubscribed', updated_at = now(),"
        " subscriber = jsonb_build_object('name', '(avslutad)', 'language', coalesce(subscriber ->> 'language', 'sv'))"
        " WHERE subscription_id = $1",
        subscription_id,
    )
    await conn.execute(
        "UPDATE deliveries SET status = CASE WHEN status IN ('pending', 'held') THEN 'cancelled' ELSE status END,"
        " last_error = CASE WHEN status IN ('pending', 'held') THEN $2 ELSE last_error END,"
        " destination = CASE WHEN channel = 'email' THEN '(avslutad)' ELSE destination END,"
        " message = jsonb_set(message, '{recipient}', jsonb_build_object('name', '(avslutad)',"
        "   'language', coalesce(message -> 'recipient' ->> 'language', 'sv')))"
        " WHERE subscription_id = $1",
        subscription_id, why,
    )


async def _unsubscribable(conn: asyncpg.Connection, token: str) -> str:
    about = await conn.fetchval("SELECT about FROM subscriptions WHERE unsubscribe_token = $1", token)
    if about is not None:
        return ABOUT_IN_SWEDISH[about]
    if await conn.fetchval("SELECT true FROM coach_recipients WHERE unsubscribe_token = $1", token):
        return "förslag på forskning för dina företag"
    raise Problem(404, "this unsubscribe link is not known", slug="not-found")


async def _answer_link(conn: asyncpg.Connection, token: str, valid_for: timedelta) -> dict:
    row = await conn.fetchrow(
        "SELECT l.reporter, l.created_at, l.revoked_at, m.notice FROM answer_links l JOIN known_matches m USING (match_id)"
        " WHERE l.token = $1",
        token,
    )
    if row is None:
        raise Problem(404, "this answer link is not known", slug="not-found")
    if row["revoked_at"] is not None:
        raise Problem(410, "this answer link was revoked; answer through your coach tool", slug="link-revoked")
    if row["created_at"] + valid_for < datetime.now(UTC):
        raise Problem(410, f"this answer link expired {valid_for.days} days after it was sent;"
                      " answer through your coach tool", slug="link-expired")
    return {"reporter": Person.model_validate_json(row["reporter"]), "match": MatchProposed.model_validate_json(row["notice"])}


async def _record_answer(
    transaction: BatchContext, match: MatchProposed, reporter: Person, form: AnswerForm
) -> AnswerRecorded:
    conn = transaction.conn
    email = str(reporter.email).lower()
    feedback_id = UUID(derived_event_id("feedback", match.match_id, email))
    before = await conn.fetchrow(
        "SELECT revision, verdict, reason, comment, new_question FROM answers"
        " WHERE match_id = $1 AND reporter_email = $2 FOR UPDATE",
        match.match_id, email,
    )
    answer = (form.verdict.value, form.reason.value if form.reason else None, form.comment, form.new_question)
    if before is not None and (before["verdict"], before["reason"], before["comment"], before["new_question"]) == answer:
        return AnswerRecorded(feedback_id=feedback_id, match_id=match.match_id, revision=before["revision"],
                              verdict=form.verdict, effect="unchanged")
    revision = before["revision"] + 1 if before else 1
    await conn.execute(
        "INSERT INTO answers (match_id, reporter_email, feedback_id, revision, verdict, reason, comment, new_question)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (match_id, reporter_email) DO UPDATE SET"
        " revision = EXCLUDED.revision, verdict = EXCLUDED.verdict, reason = EXCLUDED.reason, comment = EXCLUDED.comment,"
        " new_question = EXCLUDED.new_question, answered_at = now()",
        match.match_id, email, feedback_id, revision, *answer,
    )
    feedback = FeedbackSubmitted(
        feedback_id=feedback_id,
        revision=revision,
        match_id=match.match_id,
        company_org_number=match.company.org_number if match.company else None,
        reporter=reporter,
        verdict=form.verdict,
        reason=form.reason,
        comment=form.comment,
        new_question=form.new_question,
    )
    transaction.publish(
        PARTNER_FEEDBACK.name,
        str(match.match_id),
        new_event(feedback, source=ANSWERING_PARTNER_SOURCE, subject=str(match.match_id)),
    )
    return AnswerRecorded(feedback_id=feedback_id, match_id=match.match_id, revision=revision,
                          verdict=form.verdict, effect="recorded")

