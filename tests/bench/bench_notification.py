"""`make bench-notification`: notifications dispatched per second, by e-mail and to a
webhook, and the latency from a MatchProposed put on redthread.matches.v1 to the message
arriving at its receiver, each rate as a ratio to sending the same messages raw, measured
in the same run against the same receivers.

- receivers (their own process, so that neither side shares a core's GIL with them): a
  real SMTP server (aiosmtpd) and a real HTTP server (uvicorn) that note each arrival's
  time on the machine's monotonic clock, which every process here reads alike.
- notification runs as its own process, sending mail to that SMTP server. A partner's
  access is put on the partner-access topic as intake would announce it, and the
  webhook subscription is made through notification's HTTP API with that partner's key.
- e-mail: N MatchProposed with a coach each (a distinct address), put on the topic in
  one burst; rate = N / (first produced → last mail received); latency per message =
  its arrival - the moment its event was produced. Then a paced run (a few events per
  second) for the latency when nothing queues.
- webhook: one subscription about matches and N MatchProposed without a coach; the same
  measures; every received call's signature is verified with standardwebhooks.
- baselines: the very messages notification stored for the run (e-mails rendered
  beforehand, webhook bodies and signature headers made beforehand) sent straight to the
  same receivers with the dispatcher's concurrency (`delivery_concurrency`): aiosmtplib over
  persistent SMTP connections, as the dispatcher sends (and, for comparison, a new
  connection per mail), and httpx POSTs through one client with as many connections.

BENCH_EVENTS (default 2000) sets N; BENCH_TIMEOUT_S (default 300) bounds each wait.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from standardwebhooks import Webhook

from contracts.envelope import encode, new_event
from contracts.events import Confidentiality, MatchProposed, MatchReason
from contracts.notices import ApiKeyHash, OutgoingMessage, PartnerAccessChanged
from contracts.topics import MATCHES, PARTNER_ACCESS
from deploy.local import ServiceProcesses
from services.common.kafka_security import ADMIN, client_options
from services.common.api_keys import KEY_PREFIX, hash_secret
from services.notification.signing import signature_header
from services.notification.templates import render_email
from tests.bench.harness import bench_environment, report
from tests.peers import free_port

EVENTS = int(os.environ.get("BENCH_EVENTS", "2000"))
PACED_EVENTS = max(20, min(100, EVENTS // 20))
PACED_PER_S = 10.0
TIMEOUT_S = float(os.environ.get("BENCH_TIMEOUT_S", "300"))
PARTNER = "bench-crm"
ORGS = ["5560360793", "5565148326", "5567123483", "5562514587"]
HOOK_PATH = "/hooks/matches"
REPO = Path(__file__).resolve().parents[2]


# --- the receivers, in their own process ------------------------------------------------


async def serve_receivers(smtp_port: int, http_port: int) -> None:
    """An SMTP server and an HTTP server on one event loop. GET /_count says how many
    arrived; GET /_arrivals hands them over and forgets them."""
    import uvicorn
    from aiosmtpd.smtp import SMTP

    mails: list[tuple[str, float, int]] = []  # (recipient, arrived, bytes)
    samples: list[str] = []  # a few whole mails, to check what arrived
    hooks: list[tuple[float, dict[str, str], bytes]] = []
    callers: set[tuple[str, int]] = set()  # the connections webhook calls came over

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
            mails.append((envelope.rcpt_tos[0], time.monotonic(), len(envelope.content)))
            if len(samples) < 3:
                samples.append(envelope.content.decode("utf-8", "replace"))
            return "250 OK"

    async def app(scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        arrived = time.monotonic()
        payload = b""
        if scope["method"] == "POST":
            hooks.append((arrived, {k.decode(): v.decode() for k, v in scope["headers"]}, body))
            callers.add(tuple(scope["client"]))
        elif scope["path"] == "/_count":
            payload = json.dumps({"smtp": len(mails), "webhook": len(hooks)}).encode()
        elif scope["path"] == "/_arrivals":
            payload = json.dumps({
                "smtp": mails, "samples": samples, "webhook": [(t, h, b.decode()) for t, h, b in hooks],
                "connections": len(callers),
            }).encode()
            mails.clear()
            samples.clear()
            hooks.clear()
            callers.clear()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    loop = asyncio.get_running_loop()
    # A fixed hostname: without one aiosmtpd asks socket.getfqdn() on every connection.
    smtp = await loop.create_server(lambda: SMTP(Handler(), hostname="bench-receiver"), "127.0.0.1", smtp_port)
    config = uvicorn.Config(app, host="127.0.0.1", port=http_port, lifespan="off", access_log=False,
                            log_level="warning", backlog=1024)
    try:
        await uvicorn.Server(config).serve()  # until SIGTERM
    finally:
        smtp.close()


class Receivers:
    def __init__(self) -> None:
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.bench_notification", "--receivers",
             str(self.smtp_port), str(self.http_port)],
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.url + "/_count", timeout=1)
                return
            except httpx.HTTPError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the benchmark's receivers did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    async def count(self, channel: str) -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get(self.url + "/_count", timeout=10)).json()[channel]

    async def wait_for(self, channel: str, count: int, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while (seen := await self.count(channel)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: only {seen} of {count} arrived within {TIMEOUT_S:.0f}s")
            await asyncio.sleep(0.1)

    async def take(self) -> dict:
        async with httpx.AsyncClient() as client:
            return (await client.get(self.url + "/_arrivals", timeout=60)).json()


# --- events -----------------------------------------------------------------------------


def matches(count: int, tag: str, *, coach: bool) -> list[MatchProposed]:
    return [
        MatchProposed(
            match_id=uuid.uuid4(),
            need_id=uuid.uuid4(),
            output_id=uuid.uuid4(),
            score=0.72,
            method="concepts-tfidf-v1",
            reasons=[MatchReason(kind="shared-concepts", explanation="Båda handlar om: ställtid, SMED")],
            need_title=f"Långa ställtider i press {i}",
            output_title="SMED i pressverkstaden: en metod för kortare ställtider",
            output_summary="En steg-för-steg-metod för att korta omställningstider i små verkstäder, prövad i "
            "tolv företag: ställtiden halverades i medeltal inom ett halvår.",
            company={"org_number": ORGS[i % len(ORGS)], "name": f"Verkstad {i} AB", "county": "Jönköpings län",
                     "municipality": "Värnamo", "region": "Småland och öarna", "iuc": "IUC Sjuhärad"},
            coach={"name": "Karin Lindqvist", "email": f"coach-{tag}-{i}@iuc.example.se"} if coach else None,
            confidentiality=Confidentiality.public,
            language="sv",
            focus_areas=["P2"],
        )
        for i in range(count)
    ]


def records(events: list[MatchProposed]) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    out = []
    for match in events:
        value, headers = encode(new_event(match, source="/redthread/matching", subject=str(match.match_id)))
        out.append((str(match.need_id).encode(), value, [(k, v.encode()) for k, v in headers.items()]))
    return out


async def produce(producer: AIOKafkaProducer, topic: str, batch, per_s: float | None = None) -> list[float]:
    """Puts the records on `topic` (at `per_s`, or all at once); when each was produced."""
    produced = []
    futures = []
    started = time.monotonic()
    for n, (key, value, headers) in enumerate(batch):
        if per_s:
            await asyncio.sleep(max(0.0, started + n / per_s - time.monotonic()))
        produced.append(time.monotonic())
        futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        if per_s:
            await futures[-1]
    await asyncio.gather(*futures)
    return produced


async def announce_partner(producer: AIOKafkaProducer, settings) -> str:
    """The partner's access as intake announces it; returns the partner's API key."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    access = PartnerAccessChanged(
        partner_id=PARTNER, name="Benchmark CRM", event_types=[],
        keys=[ApiKeyHash(key_id=key_id, sha256=hash_secret(secret).hex())],
    )
    value, headers = encode(new_event(access, source="/redthread/intake", subject=PARTNER))
    await producer.send_and_wait(settings.topic(PARTNER_ACCESS.name), value=value, key=PARTNER.encode(),
                                 headers=[(k, v.encode()) for k, v in headers.items()])
    return f"{KEY_PREFIX}_{key_id}_{secret}"


# --- measures ---------------------------------------------------------------------------


class Run:
    """What one path came to: rate (messages/s) and latencies (s)."""

    def __init__(self, count: int, first: float, arrivals: dict[str, float], sent_at: dict[str, float],
                 connections: int | None = None) -> None:
        self.connections = connections  # TCP connections the webhook calls came over
        missing = set(sent_at) - set(arrivals)
        if missing:
            raise RuntimeError(f"{len(missing)} messages never arrived (e.g. {next(iter(missing))})")
        self.rate = count / (max(arrivals[k] for k in sent_at) - first)
        self.latencies = sorted(arrivals[k] - sent_at[k] for k in sent_at)

    def p(self, q: float) -> float:
        return self.latencies[min(len(self.latencies) - 1, int(q * len(self.latencies)))] * 1000


def mail_arrivals(taken: dict) -> dict[str, float]:
    arrivals: dict[str, float] = {}
    for recipient, arrived, _size in taken["smtp"]:
        if recipient in arrivals:
            raise RuntimeError(f"{recipient} received the same message twice")
        arrivals[recipient] = arrived
    return arrivals


def hook_arrivals(taken: dict, secret: str | None) -> dict[str, float]:
    """match_id → arrival; every call's signature verified when `secret` is given."""
    verifier = Webhook(secret) if secret else None
    arrivals: dict[str, float] = {}
    for arrived, headers, body in taken["webhook"]:
        payload = verifier.verify(body, headers) if verifier else json.loads(body)
        match_id = payload["notices"][0]["match_id"]
        if match_id in arrivals:
            raise RuntimeError(f"match {match_id} was told twice")
        arrivals[match_id] = arrived
    return arrivals


async def notification_email(producer, settings, receivers: Receivers, count: int, per_s: float | None = None) -> Run:
    events = matches(count, uuid.uuid4().hex[:6], coach=True)
    batch = records(events)
    produced = await produce(producer, settings.topic(MATCHES.name), batch, per_s)
    await receivers.wait_for("smtp", count, "e-mails")
    taken = await receivers.take()
    sample = message_from_string(taken["samples"][0], policy=policy.default)
    if not sample["Subject"] or sample.get_body(("plain",)) is None:
        raise RuntimeError(f"not the mail expected:\n{taken['samples'][0][:2000]}")
    arrivals = mail_arrivals(taken)
    sent_at = {str(m.coach.email): t for m, t in zip(events, produced, strict=True)}
    return Run(count, produced[0], arrivals, sent_at)


async def notification_webhook(producer, settings, receivers: Receivers, secret: str, count: int,
                               per_s: float | None = None) -> Run:
    events = matches(count, "hook", coach=False)
    batch = records(events)
    produced = await produce(producer, settings.topic(MATCHES.name), batch, per_s)
    await receivers.wait_for("webhook", count, "webhook calls")
    taken = await receivers.take()
    arrivals = hook_arrivals(taken, secret)
    sent_at = {str(m.match_id): t for m, t in zip(events, produced, strict=True)}
    return Run(count, produced[0], arrivals, sent_at, taken["connections"])


def notification_db(settings):
    return asyncpg.connect(settings.database_url, server_settings={"search_path": "notification"})


async def stored_messages(settings, channel: str, since_count: int) -> list[tuple[str, OutgoingMessage]]:
    """(destination, message) of the latest `since_count` deliveries on `channel`: what the
    baselines send."""
    conn = await notification_db(settings)
    try:
        rows = await conn.fetch(
            "SELECT destination, message::text AS message FROM deliveries WHERE channel = $1 AND status = 'delivered'"
            " ORDER BY created_at DESC LIMIT $2",
            channel, since_count,
        )
    finally:
        await conn.close()
    return [(row["destination"], OutgoingMessage.model_validate_json(row["message"])) for row in rows]


async def in_parallel(items: list, concurrency: int, send) -> None:
    queue = iter(items)

    async def worker(n: int) -> None:
        for item in queue:
            await send(n, item)

    await asyncio.gather(*(worker(n) for n in range(concurrency)))


async def raw_email(settings, receivers: Receivers, mails: list[tuple[str, EmailMessage]], *, persistent: bool) -> Run:
    """The pre-rendered mails sent straight to the SMTP server, `delivery_concurrency` at
    once: a connection per mail, or over persistent ones as the dispatcher sends."""
    concurrency = settings.delivery_concurrency
    clients: list[aiosmtplib.SMTP] = []
    if persistent:
        clients = [aiosmtplib.SMTP(hostname=settings.smtp_host, port=receivers.smtp_port, timeout=settings.smtp_timeout_s)
                   for _ in range(concurrency)]
        await asyncio.gather(*(c.connect() for c in clients))

    async def send(n: int, item: tuple[str, EmailMessage]) -> None:
        destination, email = item
        if persistent:
            await clients[n].send_message(email, recipients=[destination])
        else:
            await aiosmtplib.send(email, recipients=[destination], hostname=settings.smtp_host,
                                  port=receivers.smtp_port, timeout=settings.smtp_timeout_s)

    started = time.monotonic()
    try:
        await in_parallel(mails, concurrency, send)
    finally:
        for client in clients:
            await client.quit()
    await receivers.wait_for("smtp", len(mails), "raw e-mails")
    arrivals = mail_arrivals(await receivers.take())
    return Run(len(mails), started, arrivals, {destination: started for destination, _ in mails})


async def raw_webhook(settings, receivers: Receivers, calls: list[tuple[str, bytes, dict[str, str]]]) -> Run:
    """The same bodies with their signature headers POSTed by one httpx client with
    `delivery_concurrency` connections, that many at once."""
    concurrency = settings.delivery_concurrency
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=settings.webhook_timeout_s) as client:

        async def send(_n: int, call: tuple[str, bytes, dict[str, str]]) -> None:
            response = await client.post(receivers.url + HOOK_PATH, content=call[1], headers=call[2])
            response.raise_for_status()

        started = time.monotonic()
        await in_parallel(calls, concurrency, send)
    await receivers.wait_for("webhook", len(calls), "raw webhook calls")
    taken = await receivers.take()
    arrivals = hook_arrivals(taken, None)
    return Run(len(calls), started, arrivals, {match_id: started for match_id, _, _ in calls}, taken["connections"])


async def settle(settings, timeout_s: float = 60) -> None:
    """Until notification has nothing left to send, and its relay has caught up."""
    conn = await notification_db(settings)
    deadline = time.monotonic() + timeout_s
    try:
        while await conn.fetchval(
            "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending') + (SELECT count(*) FROM outbox)"
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("notification did not settle")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    await asyncio.sleep(0.5)


# --- the benchmark ----------------------------------------------------------------------


async def main() -> int:
    receivers = Receivers()
    async with bench_environment() as settings:
        port = free_port()
        log_dir = Path(os.environ.get("REDTHREAD_HOME", ".local")) / "logs" / "bench"
        notification = ServiceProcesses(
            {
                "REDTHREAD_NAMESPACE": settings.namespace,
                "DATABASE_URL": settings.database_url,
                "REDTHREAD_SMTP_PORT": str(receivers.smtp_port),
                "REDTHREAD_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "REDTHREAD_WEBHOOK_ALLOW_INTERNAL": "true",  # the receiver runs on 127.0.0.1
            },
            log_dir / "notification",
            ports={"notification": port},
        )
        producer = AIOKafkaProducer(**client_options(settings, ADMIN), acks="all",
                                    enable_idempotence=True, linger_ms=5)
        try:
            receivers.start()
            notification.start(only=("notification",))
            await asyncio.to_thread(notification.wait_healthy, 60)
            await producer.start()
            print(f"notification benchmark: {EVENTS} matches per channel, then {PACED_EVENTS} at {PACED_PER_S:.0f}/s; "
                  f"notification pid {notification.processes['notification'].pid}, "
                  f"{settings.delivery_concurrency} sends at once; logs in {log_dir / 'notification'}", flush=True)
            key = await announce_partner(producer, settings)

            # --- e-mail ---
            await notification_email(producer, settings, receivers, 1)  # warm-up: the group has its partitions
            print("  e-mail: burst", flush=True)
            email = await notification_email(producer, settings, receivers, EVENTS)
            await settle(settings)
            print("  e-mail: paced", flush=True)
            email_paced = await notification_email(producer, settings, receivers, PACED_EVENTS, PACED_PER_S)
            await settle(settings)
            stored = await stored_messages(settings, "email", EVENTS)
            render_started = time.perf_counter()
            mails = [(destination, render_email(message, sender=settings.mail_from)) for destination, message in stored]
            render_ms = (time.perf_counter() - render_started) / len(mails) * 1000
            print("  e-mail: raw baselines", flush=True)
            raw_mail = await raw_email(settings, receivers, mails, persistent=False)
            raw_mail_kept = await raw_email(settings, receivers, mails, persistent=True)

            # --- webhook ---
            api = httpx.AsyncClient(base_url=notification.url("notification"), headers={"Authorization": f"Bearer {key}"})
            async with api:
                deadline = time.monotonic() + 30
                while (await api.get("/v1/subscriptions")).status_code == 401:  # the access event not read yet
                    if time.monotonic() > deadline:
                        raise TimeoutError("notification never took the partner's key")
                    await asyncio.sleep(0.2)
                created = await api.post("/v1/subscriptions", json={
                    "subscriber": {"name": "Benchmark CRM"}, "about": "matches", "channel": "webhook",
                    "webhook_url": receivers.url + HOOK_PATH,
                })
                if created.status_code != 201:
                    raise RuntimeError(f"subscription: {created.status_code} {created.text[:300]}")
                secret = created.json()["webhook_secret"]
            await notification_webhook(producer, settings, receivers, secret, 1)  # warm-up
            print("  webhook: burst", flush=True)
            hook = await notification_webhook(producer, settings, receivers, secret, EVENTS)
            await settle(settings)
            print("  webhook: paced", flush=True)
            hook_paced = await notification_webhook(producer, settings, receivers, secret, PACED_EVENTS, PACED_PER_S)
            await settle(settings)
            calls = []
            for _, message in await stored_messages(settings, "webhook", EVENTS):
                body = message.model_dump_json().encode()  # as the dispatcher sends it
                msg_id = str(message.message_id)
                stamp = datetime.now(UTC).replace(microsecond=0)
                headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(stamp.timestamp())),
                           "content-type": "application/json",
                           "webhook-signature": signature_header([secret], msg_id, stamp, body)}
                calls.append((str(message.notices[0].match_id), body, headers))
            print("  webhook: raw baseline", flush=True)
            raw_hook = await raw_webhook(settings, receivers, calls)
        finally:
            try:
                await producer.stop()
            finally:
                notification.stop()
                receivers.stop()

    report(
        f"e-mail: messages per second (ratio to raw aiosmtplib, same mails, same SMTP server, "
        f"{settings.delivery_concurrency} at once):",
        [
            ("raw aiosmtplib, persistent connections (as the dispatcher)", raw_mail_kept.rate, "mails/s"),
            ("raw aiosmtplib.send, a new connection per mail", raw_mail.rate, "mails/s"),
            ("notification: MatchProposed on Kafka → mail received", email.rate, "mails/s"),
        ],
        baseline=raw_mail_kept.rate,
    )
    report(
        f"webhook: calls per second (ratio to raw httpx POSTs, same bodies, same receiver, "
        f"{settings.delivery_concurrency} at once):",
        [
            ("raw httpx POST", raw_hook.rate, "calls/s"),
            ("notification: MatchProposed on Kafka → webhook received", hook.rate, "calls/s"),
        ],
        baseline=raw_hook.rate,
    )
    print(f"  TCP connections the calls came over: notification {hook.connections:,} for {EVENTS:,} calls, "
          f"raw {raw_hook.connections:,}")
    print("\nlatency, ms (produced → received; raw: start of the run → received)")
    print(f"  {'':<44} {'p50':>8} {'p99':>8}")
    for name, run in [
        (f"e-mail, burst of {EVENTS}", email),
        (f"e-mail, paced {PACED_EVENTS} at {PACED_PER_S:.0f}/s", email_paced),
        (f"raw e-mail, {EVENTS} at once", raw_mail),
        (f"webhook, burst of {EVENTS}", hook),
        (f"webhook, paced {PACED_EVENTS} at {PACED_PER_S:.0f}/s", hook_paced),
        (f"raw webhook, {EVENTS} at once", raw_hook),
    ]:
        print(f"  {name:<44} {run.p(0.5):>8,.0f} {run.p(0.99):>8,.0f}")
    print(f"\nrendering one e-mail (templates.render_email): {render_ms:.2f} ms in this process")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--receivers"]:
        asyncio.run(serve_receivers(int(sys.argv[2]), int(sys.argv[3])))
        sys.exit(0)
    sys.exit(asyncio.run(main()))
