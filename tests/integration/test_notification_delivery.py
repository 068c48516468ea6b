"""The delivery dispatcher against real peers: an HTTP receiver that verifies every
webhook as a partner would (standardwebhooks), an SMTP server (aiosmtpd), and the real
PostgreSQL and Kafka. Retries end in one delivery or one dead letter, secrets rotate
without cutting receivers off, and two dispatchers never send the same delivery twice."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import asyncpg
import pytest
import uvicorn
from aiosmtpd.smtp import SMTP
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contracts.envelope import derived_event_id
from contracts.events import DeadLetterRecord, NotificationDispatched
from contracts.notices import MatchNotice, OutgoingMessage, Recipient
from contracts.topics import DEAD_LETTERS, NOTIFICATIONS
from services.common.db import apply_migrations, create_pool
from services.common.outbox import OutboxRelay
from services.notification.delivery import DeliveryDispatcher
from services.common.sealing import is_sealed, sealer_from
from services.common.settings import Settings
from services.notification.signing import WebhookSecrets
from tests.conftest import headers_of, read_topic

pytestmark = pytest.mark.integration

try:
    from services.notification.templates import render_email
except ImportError:  # the templates are being written; until then a stand-in, for these tests only

    def render_email(message: OutgoingMessage, *, sender: str) -> EmailMessage:
        if message.recipient.email is None:
            raise ValueError("the recipient has no e-mail address")
        mail = EmailMessage()
        mail["From"] = sender
        mail["To"] = message.recipient.email
        mail["Subject"] = f"Ny forskning för behovet \"{message.notices[0].need_title}\""
        mail["Message-ID"] = f"<{message.message_id}@redthread.local>"
        mail.set_content("Hej!")
        return mail


# --- real peers ----------------------------------------------------------------------


@dataclass
class Call:
    body: bytes
    headers: dict[str, str]
    status: int


@dataclass
class Endpoint:
    """One webhook receiver: accepts a call only if one of its secrets verifies it."""

    secrets: list[str]
    fail_first: int = 0
    always_fail: bool = False
    delay_s: float = 0.0
    on_call: Callable[[], Awaitable[None]] | None = None
    calls: list[Call] = field(default_factory=list)

    @property
    def receipts(self) -> list[Call]:
        """The calls it answered with success."""
        return [call for call in self.calls if call.status == 200]


class Receiver:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.url = ""
        self.app = Starlette(routes=[Route("/hooks/{name}", self._receive, methods=["POST"])])

    def endpoint(self, secrets: list[str], **behaviour) -> tuple[str, Endpoint]:
        name = uuid.uuid4().hex
        self.endpoints[name] = Endpoint(list(secrets), **behaviour)
        return f"{self.url}/hooks/{name}", self.endpoints[name]

    async def _receive(self, request: Request) -> Response:
        endpoint = self.endpoints[request.path_params["name"]]
        body = await request.body()
        headers = dict(request.headers)
        status = 200
        if not any(_verifies(secret, body, headers) for secret in endpoint.secrets):
            status = 401
        elif endpoint.always_fail or len(endpoint.calls) < endpoint.fail_first:
            status = 500
        if endpoint.on_call:
            await endpoint.on_call()
        await asyncio.sleep(endpoint.delay_s)
        endpoint.calls.append(Call(body, headers, status))
        return Response("ok" if status == 200 else "kaputt", status_code=status)


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


class Mailbox:
    """aiosmtpd handler: keeps what it accepts, refuses the addresses in `refuse`."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802 - aiosmtpd's hook
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
async def receiver():
    receiver = Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(receiver.app, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield receiver
    server.should_exit = True
    await asyncio.wait_for(serving, 10)


@pytest.fixture(scope="module")
async def mailbox():
    mailbox = Mailbox()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(mailbox, hostname="mail.test", enable_SMTPUTF8=True), "127.0.0.1", 0
    )
    mailbox.port = server.sockets[0].getsockname()[1]
    yield mailbox
    server.close()
    await server.wait_closed()


# --- the notification schema, its relay and dispatchers ------------------------------


@pytest.fixture(scope="module")
async def pool(settings):
    pool = await create_pool(settings.database_url, "notification")
    await apply_migrations(pool, "services.common", "services.notification")
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def relay(pool, settings):
    relay = OutboxRelay(pool, settings, "notification")
    await relay.start()
    yield relay
    await relay.stop()


@pytest.fixture(autouse=True)
async def nothing_left_between_tests(pool):
    yield
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM deliveries; DELETE FROM subscriptions")


@pytest.fixture
def delivery_settings(settings, mailbox):
    return settings.model_copy(update={
        "delivery_backoff_initial_s": 0.01,
        "delivery_backoff_max_s": 0.05,
        "delivery_max_attempts": 4,
        "delivery_poll_interval_s": 0.05,
        "webhook_timeout_s": 2.0,
        "webhook_allow_internal": True,  # the receivers listen on 127.0.0.1
        "smtp_host": "127.0.0.1",
        "smtp_port": mailbox.port,
    })


@pytest.fixture
async def dispatchers(pool, delivery_settings, relay):
    """Makes dispatchers (started on request) and stops them all after the test."""
    made: list[DeliveryDispatcher] = []

    async def make(*, start: bool = False, **changes) -> DeliveryDispatcher:
        dispatcher = DeliveryDispatcher(
            pool, delivery_settings.model_copy(update=changes), "notification",
            on_commit=relay.wake, render_email=render_email,
        )
        made.append(dispatcher)
        if start:
            await dispatcher.start()
        return dispatcher

    yield make
    for dispatcher in made:
        await dispatcher.stop()


# --- what is owed ---------------------------------------------------------------------


def a_message(delivery_id: uuid.UUID, *, to: str | None = None, subscription_id: uuid.UUID | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=delivery_id,
        subscription_id=subscription_id,
        recipient=Recipient(name="Karin Lindqvist", email=to),
        notices=[
            MatchNotice(
                match_id=uuid.uuid4(),
                need_id=uuid.uuid4(),
                output_id=uuid.uuid4(),
                need_title="Långa ställtider i pressverkstaden",
                output_title="SMED-metod för kortare ställtider i pressar",
                output_summary="En beprövad metod för att korta ställtiden vid omställning.",
                score=0.71,
                reasons=[{"kind": "shared-concepts", "explanation": "Båda handlar om: ställtid, SMED"}],
                company={"org_number": "556036-0793", "name": "Värnamo Pressgjuteri AB"},
            )
        ],
        unsubscribe_url="http://127.0.0.1:8003/v1/unsubscribe/token",
        created_at=datetime.now(UTC),
    )


async def a_webhook_subscription(pool: asyncpg.Pool, url: str) -> tuple[uuid.UUID, str]:
    """A subscription and its first secret."""
    subscription_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO subscriptions (subscription_id, partner_id, subscriber, about, filters, channel, webhook_url,"
            " cadence, unsubscribe_token) VALUES ($1, 'iuc-smaland', $2, 'matches', '{}', 'webhook', $3, 'immediate', $4)",
            subscription_id, json.dumps({"name": "IUC Småland CRM"}), url, uuid.uuid4().hex,
        )
        secret = await webhook_secrets().rotate(conn, subscription_id, timedelta(hours=1))
    return subscription_id, secret


def webhook_secrets() -> WebhookSecrets:
    """The same key as the dispatcher's (the local one, or REDTHREAD_SECRETS_KEY)."""
    return WebhookSecrets(sealer_from(Settings()))


async def owe(pool: asyncpg.Pool, channel: str, destination: str, subscription_id: uuid.UUID | None = None,
              **columns) -> tuple[uuid.UUID, OutgoingMessage]:
    """A pending delivery, as the deciding half of notification writes it."""
    delivery_id = uuid.uuid4()
    message = a_message(delivery_id, to=destination if channel == "email" else None, subscription_id=subscription_id)
    columns = {"status": "pending", "message": message.model_dump_json()} | columns
    names = ["delivery_id", "subscription_id", "recipient_key", "notice_key", "channel", "destination", *columns]
    values = [delivery_id, subscription_id, f"subscription:{subscription_id}" if subscription_id else f"coach:{destination}",
              f"match:{message.notices[0].match_id}", channel, destination, *columns.values()]
    async with pool.acquire() as conn:
        await conn.execute(
            f"INSERT INTO deliveries ({', '.join(names)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(names)))})",
            *values,
        )
    return delivery_id, message


async def until(pool: asyncpg.Pool, query: str, *args, timeout_s: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        async with pool.acquire() as conn:
            if await conn.fetchval(query, *args):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {timeout_s}s: {query} {args}")


async def attempts_of(pool: asyncpg.Pool, delivery_id: uuid.UUID) -> list[tuple[str, int | None]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT outcome, status_code FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt", delivery_id
        )
    return [(r["outcome"], r["status_code"]) for r in rows]


async def status_of(pool: asyncpg.Pool, delivery_id: uuid.UUID) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM deliveries WHERE delivery_id = $1", delivery_id)


def with_header(name: str, value: str):
    return lambda record: headers_of(record).get(name) == value


# --- the stories ----------------------------------------------------------------------


async def test_a_webhook_failing_three_times_is_delivered_once_and_announced(pool, receiver, dispatchers, settings):
    url, endpoint = receiver.endpoint([], fail_first=3)
    subscription_id, secret = await a_webhook_subscription(pool, url)
    endpoint.secrets.append(secret)
    delivery_id, message = await owe(pool, "webhook", url, subscription_id)
    await dispatchers(start=True)

    await until(pool, "SELECT status = 'delivered' FROM deliveries WHERE delivery_id = $1", delivery_id)

    assert [call.status for call in endpoint.calls] == [500, 500, 500, 200]
    assert len(endpoint.receipts) == 1
    receipt = endpoint.receipts[0]
    assert receipt.headers["webhook-id"] == str(delivery_id)
    assert receipt.headers["user-agent"] == "redthread-notification"
    assert receipt.headers["content-type"] == "application/json"
    assert OutgoingMessage.model_validate_json(receipt.body) == message
    assert await attempts_of(pool, delivery_id) == [("failed", 500)] * 3 + [("delivered", 200)]
    row = await status_of(pool, delivery_id)
    assert row["attempts"] == 4 and row["lease_until"] is None and row["delivered_at"] is not None

    match = message.notices[0]
    event_id = derived_event_id("notification-delivery", delivery_id, match.match_id)
    records = await read_topic(settings, settings.topic(NOTIFICATIONS.name), where=with_header("ce_id", event_id))
    assert len(records) == 1
    assert records[0].key == str(match.need_id).encode()
    dispatched = NotificationDispatched.model_validate_json(records[0].value)
    # Who was told, not where: the address stays with notification, which an erasure reaches.
    assert (dispatched.match_id, dispatched.channel, dispatched.recipient) == (
        match.match_id, "webhook", f"subscription:{subscription_id}")
    assert dispatched.company_org_number == "556036-0793"


async def test_a_webhook_that_always_fails_is_dead_lettered_with_the_reason(pool, receiver, dispatchers, settings):
    url, endpoint = receiver.endpoint([], always_fail=True)
    subscription_id, secret = await a_webhook_subscription(pool, url)
    endpoint.secrets.append(secret)
    delivery_id, message = await owe(pool, "webhook", url, subscription_id)
    dispatcher = await dispatchers(start=True)

    await until(pool, "SELECT status = 'failed' FROM deliveries WHERE delivery_id = $1", delivery_id)

    assert await attempts_of(pool, delivery_id) == [("failed", 500)] * 3 + [("gave-up", 500)]
    assert len(endpoint.calls) == 4 and not endpoint.receipts
    last_error = (await status_of(pool, delivery_id))["last_error"]
    assert "HTTP 500" in last_error and "kaputt" not in last_error, "what a receiver answers is not the partner's to read"
    records = await read_topic(
        settings, settings.topic(DEAD_LETTERS.name), where=with_header("dlq_delivery_id", str(delivery_id))
    )
    assert len(records) == 1
    headers = headers_of(records[0])
    assert "gave up after 4 attempts" in headers["dlq_reason"] and "HTTP 500" in headers["dlq_reason"]
    assert headers["dlq_consumer"] == "notification-delivery"
    assert headers["dlq_source_topic"] == "notification.deliveries"
    letter = DeadLetterRecord.model_validate_json(records[0].value)
    assert letter.reason == headers["dlq_reason"]
    kept = OutgoingMessage.model_validate_json(letter.original_value)
    assert kept.notices == message.notices and kept.recipient.name == f"subscription:{subscription_id}"
    assert letter.original_headers["recipient"] == f"subscription:{subscription_id}"
    assert url not in records[0].value.decode() and url not in str(headers), "no address on the dead-letter topic"
    # Given up is given up: nothing more is sent.
    assert await dispatcher.dispatch_once() == 0
    assert len(endpoint.calls) == 4


async def test_a_webhook_that_resolves_inward_at_send_time_is_never_called(pool, receiver, dispatchers):
    """The subscription was taken (say the name pointed outward then); at send time the
    URL, written as one number, is this machine: no call, the delivery gives up at once."""
    url, endpoint = receiver.endpoint([])
    as_a_number = url.replace("127.0.0.1", str(int.from_bytes(bytes([127, 0, 0, 1]), "big")))
    subscription_id, secret = await a_webhook_subscription(pool, as_a_number)
    endpoint.secrets.append(secret)
    delivery_id, _ = await owe(pool, "webhook", as_a_number, subscription_id)
    dispatcher = await dispatchers(webhook_allow_internal=False)

    assert await dispatcher.dispatch_once() == 1
    assert await attempts_of(pool, delivery_id) == [("gave-up", None)]
    assert "resolves to 127.0.0.1" in (await status_of(pool, delivery_id))["last_error"]
    assert not endpoint.calls


async def test_a_webhook_is_called_at_the_address_checked_with_the_name_the_partner_wrote(pool, receiver, dispatchers):
    url, endpoint = receiver.endpoint([])
    as_a_number = url.replace("127.0.0.1", "2130706433")
    subscription_id, secret = await a_webhook_subscription(pool, as_a_number)
    endpoint.secrets.append(secret)
    delivery_id, _ = await owe(pool, "webhook", as_a_number, subscription_id)
    dispatcher = await dispatchers(webhook_allow_internal=True)

    assert await dispatcher.dispatch_once() == 1
    assert await attempts_of(pool, delivery_id) == [("delivered", 200)]
    [receipt] = endpoint.receipts
    assert receipt.headers["host"] == as_a_number.split("/")[2]


async def test_after_a_rotation_old_and_new_secret_verify_until_the_overlap_ends(pool, receiver, dispatchers):
    url, endpoint = receiver.endpoint([])
    subscription_id, old = await a_webhook_subscription(pool, url)
    async with pool.acquire() as conn:
        new = await webhook_secrets().rotate(conn, subscription_id, timedelta(seconds=1))
        assert await webhook_secrets().valid(conn, subscription_id) == [new, old]
    endpoint.secrets += [old, new]
    dispatcher = await dispatchers()

    await owe(pool, "webhook", url, subscription_id)
    assert await dispatcher.dispatch_once() == 1
    during = endpoint.receipts[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert _verifies(old, during.body, during.headers) and _verifies(new, during.body, during.headers)

    await asyncio.sleep(1.1)  # the overlap ends
    async with pool.acquire() as conn:
        assert await webhook_secrets().valid(conn, subscription_id) == [new]
    await owe(pool, "webhook", url, subscription_id)
    assert await dispatcher.dispatch_once() == 1
    after = endpoint.receipts[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert _verifies(new, after.body, after.headers) and not _verifies(old, after.body, after.headers)

    async with pool.acquire() as conn:  # the next rotation clears the expired secret away
        newest = await webhook_secrets().rotate(conn, subscription_id, timedelta(hours=1))
        kept = await conn.fetch("SELECT secret FROM webhook_secrets WHERE subscription_id = $1", subscription_id)
        assert await webhook_secrets().valid(conn, subscription_id) == [newest, new]
    assert len(kept) == 2 and all(is_sealed(r["secret"]) for r in kept)


async def test_webhook_secrets_are_sealed_at_rest_and_bound_to_their_subscription(pool, receiver, dispatchers):
    url, endpoint = receiver.endpoint([])
    subscription_id, secret = await a_webhook_subscription(pool, url)
    other_id, _ = await a_webhook_subscription(pool, url)
    async with pool.acquire() as conn:
        [stored] = await conn.fetch("SELECT secret FROM webhook_secrets WHERE subscription_id = $1", subscription_id)
        assert is_sealed(stored["secret"]) and secret not in stored["secret"]
        # Copied onto another subscription, a sealed secret does not open: that webhook gets no signature.
        await conn.execute("UPDATE webhook_secrets SET secret = $2 WHERE subscription_id = $1", other_id, stored["secret"])
        assert await webhook_secrets().valid(conn, other_id) == []
        # A secret stored in clear (before sealing) is sealed when notification starts, and still signs.
        await conn.execute("UPDATE webhook_secrets SET secret = $2 WHERE subscription_id = $1", subscription_id, secret)
    assert await webhook_secrets().seal_clear_ones(pool) == 1
    async with pool.acquire() as conn:
        assert is_sealed(await conn.fetchval("SELECT secret FROM webhook_secrets WHERE subscription_id = $1", subscription_id))
    endpoint.secrets.append(secret)
    await owe(pool, "webhook", url, subscription_id)
    assert await (await dispatchers()).dispatch_once() == 1
    assert _verifies(secret, endpoint.receipts[-1].body, endpoint.receipts[-1].headers)


async def test_an_email_reaches_the_mail_server(pool, mailbox, dispatchers, settings):
    delivery_id, message = await owe(pool, "email", "karin.lindqvist@example.se")
    match = message.notices[0]
    async with pool.acquire() as conn:  # the match as notification got it: its need is anonymised
        await conn.execute(
            "INSERT INTO known_matches (match_id, need_id, output_id, notice) VALUES ($1, $2, $3, $4)",
            match.match_id, match.need_id, match.output_id,
            json.dumps({"company": {"org_number": "212000-0142"}, "confidentiality": "anonymised"}),
        )
    dispatcher = await dispatchers()

    assert await dispatcher.dispatch_once() == 1

    recipients, mail = next((to, m) for to, m in mailbox.received if str(delivery_id) in m["Message-ID"])
    assert recipients == ["karin.lindqvist@example.se"]
    assert mail["To"].addresses[0].addr_spec == "karin.lindqvist@example.se"
    assert mail["Message-ID"].strip("<>").startswith(str(delivery_id))
    assert await attempts_of(pool, delivery_id) == [("delivered", None)]
    event_id = derived_event_id("notification-delivery", delivery_id, match.match_id)
    [record] = await read_topic(settings, settings.topic(NOTIFICATIONS.name), where=with_header("ce_id", event_id))
    dispatched = NotificationDispatched.model_validate_json(record.value)
    assert (dispatched.channel, dispatched.recipient, dispatched.subject) == ("email", "coach", mail["Subject"])
    assert (dispatched.company_org_number, dispatched.confidentiality) == ("212000-0142", "anonymised")


async def test_a_message_that_cannot_be_an_email_gives_up_at_once(pool, dispatchers):
    delivery_id, message = await owe(pool, "email", "karin.lindqvist@example.se")
    without_address = message.model_copy(update={"recipient": Recipient(name="Karin Lindqvist")})
    async with pool.acquire() as conn:
        await conn.execute("UPDATE deliveries SET message = $2 WHERE delivery_id = $1", delivery_id,
                           without_address.model_dump_json())
    dispatcher = await dispatchers()

    assert await dispatcher.dispatch_once() == 1
    assert await attempts_of(pool, delivery_id) == [("gave-up", None)]
    assert "cannot be rendered as e-mail" in (await status_of(pool, delivery_id))["last_error"]


async def test_a_refused_recipient_gives_up_at_once_and_a_mail_server_down_is_retried(pool, mailbox, dispatchers, settings):
    mailbox.refuse.add("nobody@example.se")
    refused, _ = await owe(pool, "email", "nobody@example.se")
    dispatcher = await dispatchers()
    assert await dispatcher.dispatch_once() == 1
    assert (await status_of(pool, refused))["status"] == "failed"
    assert await attempts_of(pool, refused) == [("gave-up", 550)]
    [letter] = await read_topic(settings, settings.topic(DEAD_LETTERS.name), where=with_header("dlq_delivery_id", str(refused)))
    assert "refused nobody@example.se" in headers_of(letter)["dlq_reason"]

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        down = await dispatchers(smtp_port=closed.getsockname()[1])
        later, _ = await owe(pool, "email", "karin.lindqvist@example.se")
        assert await down.dispatch_once() == 1
    row = await status_of(pool, later)
    assert row["status"] == "pending" and row["attempts"] == 1 and "mail server" in row["last_error"]
    assert await attempts_of(pool, later) == [("failed", None)]


async def test_two_dispatchers_never_send_a_delivery_twice(pool, receiver, dispatchers):
    url, endpoint = receiver.endpoint([], delay_s=0.02)
    subscription_id, secret = await a_webhook_subscription(pool, url)
    endpoint.secrets.append(secret)
    owed = [(await owe(pool, "webhook", url, subscription_id))[0] for _ in range(40)]
    first = await dispatchers(delivery_batch_size=6, delivery_concurrency=3)
    second = await dispatchers(delivery_batch_size=6, delivery_concurrency=3)

    async def keep_dispatching(dispatcher: DeliveryDispatcher) -> int:
        claimed = 0
        deadline = asyncio.get_running_loop().time() + 15
        while asyncio.get_running_loop().time() < deadline:
            if not (claimed_now := await dispatcher.dispatch_once()):
                await asyncio.sleep(0.01)  # the other may hold the rest
            claimed += claimed_now
            async with pool.acquire() as conn:
                if not await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'"):
                    return claimed
        raise AssertionError("deliveries left pending")

    claims = await asyncio.gather(keep_dispatching(first), keep_dispatching(second))

    assert sum(claims) == 40 and min(claims) > 0  # both worked, on different rows
    sent = Counter(call.headers["webhook-id"] for call in endpoint.calls)
    assert sent == Counter({str(d): 1 for d in owed})
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM delivery_attempts WHERE delivery_id = ANY($1)", owed) == 40


async def test_a_crashed_instances_rows_are_sent_once_their_lease_expires_and_delivered_rows_never(pool, receiver, dispatchers):
    url, endpoint = receiver.endpoint([])
    subscription_id, secret = await a_webhook_subscription(pool, url)
    endpoint.secrets.append(secret)
    expired, _ = await owe(pool, "webhook", url, subscription_id, lease_until=datetime.now(UTC) - timedelta(seconds=1))
    leased, _ = await owe(pool, "webhook", url, subscription_id, lease_until=datetime.now(UTC) + timedelta(minutes=1))
    await owe(pool, "webhook", url, subscription_id, status="delivered", delivered_at=datetime.now(UTC))
    await owe(pool, "webhook", url, subscription_id, next_attempt_at=datetime.now(UTC) + timedelta(minutes=1))
    dispatcher = await dispatchers()

    assert await dispatcher.dispatch_once() == 1
    assert await dispatcher.dispatch_once() == 0
    assert [call.headers["webhook-id"] for call in endpoint.calls] == [str(expired)]
    assert (await status_of(pool, leased))["attempts"] == 0


async def test_an_outcome_is_not_recorded_once_the_lease_passed_to_another_instance(pool, receiver, dispatchers):
    url, endpoint = receiver.endpoint([])
    subscription_id, secret = await a_webhook_subscription(pool, url)
    endpoint.secrets.append(secret)
    delivery_id, _ = await owe(pool, "webhook", url, subscription_id)

    async def taken_over() -> None:  # as if our lease ran out and another instance claimed the row
        async with pool.acquire() as conn:
            await conn.execute("UPDATE deliveries SET lease_until = now() + interval '1 minute' WHERE delivery_id = $1",
                               delivery_id)

    endpoint.on_call = taken_over
    dispatcher = await dispatchers()
    assert await dispatcher.dispatch_once() == 1
    row = await status_of(pool, delivery_id)
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert await attempts_of(pool, delivery_id) == []
    assert dispatcher.totals.lost == 1


async def test_an_unreadable_delivery_is_dead_lettered_and_the_loop_goes_on(pool, receiver, dispatchers, settings):
    url, endpoint = receiver.endpoint([])
    subscription_id, secret = await a_webhook_subscription(pool, url)
    endpoint.secrets.append(secret)
    broken, _ = await owe(pool, "webhook", url, subscription_id, message='{"not": "a message"}')
    fine, _ = await owe(pool, "webhook", url, subscription_id)
    unsigned, _ = await owe(pool, "webhook", url, None)  # no subscription, so nothing to sign with
    await dispatchers(start=True)

    await until(pool, "SELECT status = 'delivered' FROM deliveries WHERE delivery_id = $1", fine)
    await until(pool, "SELECT status = 'failed' FROM deliveries WHERE delivery_id = $1", broken)
    await until(pool, "SELECT status = 'failed' FROM deliveries WHERE delivery_id = $1", unsigned)
    assert await attempts_of(pool, broken) == [("gave-up", None)]
    assert [call.headers["webhook-id"] for call in endpoint.calls] == [str(fine)]
    [letter] = await read_topic(settings, settings.topic(DEAD_LETTERS.name), where=with_header("dlq_delivery_id", str(broken)))
    assert "not an OutgoingMessage" in headers_of(letter)["dlq_reason"]
    assert "no valid webhook secret" in (await status_of(pool, unsigned))["last_error"]
