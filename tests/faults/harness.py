"""The platform under faults: the four services as processes (deploy/local.py), a mail
server and webhook receivers that can go down, a workload of needs with unique ids, and
what the checker needs observed, read from the services' tables and the peers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiosmtpd.controller import Controller

from contracts.envelope import encode, new_event
from contracts.events import NeedSubmitted, ResearchOutputPublished
from contracts.topics import PARTNER_NEEDS
from deploy.local import REPO, SERVICES, ServiceProcesses
from services.common.kafka_security import ADMIN, client_options
from services.common.settings import Settings
from services.matching.engine import Engine, need_document, output_document
from tests.faults.checker import Delivery, Match, Observation, Received, Result, TimelineRow, check
from tests.peers import free_port


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


NEEDS = int(env_float("REDTHREAD_FAULTS_NEEDS", 2000))  # per scenario
RATE = env_float("REDTHREAD_FAULTS_RATE", 100)  # needs per second, offered
KAFKA_SHARE = env_float("REDTHREAD_FAULTS_KAFKA_SHARE", 0.25)  # of the needs, sent on partner.needs.v1
RECOVERY_S = env_float("REDTHREAD_FAULTS_RECOVERY_S", 180)  # how long every effect may take after the heal
GIVE_UP_S = env_float("REDTHREAD_FAULTS_GIVE_UP_S", 900)  # how long a client retries one need
DEMO = REPO / "deploy" / "demo" / "data"
RESULTS: list[str] = []  # one line per scenario, printed again at the end of the run
WEBHOOK_PATH = "/hooks/matches"


# --- peers ---------------------------------------------------------------------------


class MailServer:
    """A real SMTP server (aiosmtpd) on a fixed port, which can be taken down and brought
    back; it keeps (Message-ID, recipient) of every message it accepted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self._controller: Controller | None = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        headers = BytesHeaderParser().parsebytes(envelope.content)
        message_id = headers.get("X-Redthread-Message-Id") or headers.get("Message-ID", "")
        with self._lock:
            for _, address in getaddresses(headers.get_all("To", [])):
                self.received.append(Received(str(message_id).strip(), address))
        return "250 OK"

    def start(self) -> MailServer:
        deadline = time.monotonic() + 30
        while True:
            try:
                self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
                self._controller.start()
                return self
            except (OSError, RuntimeError):  # the port still in TIME_WAIT after a stop
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)


class WebhookReceiver:
    """A real HTTP receiver. `mode`: "ok" answers 200 and counts the call as delivered;
    "fail" answers 500; "hang" holds the request without answering until the mode
    changes, then drops the connection."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls: Counter[str] = Counter()  # by mode, every call
        self._delivered: list[Received] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def set_mode(self, mode: str) -> None:
        with self._changed:
            self.mode = mode
            self._changed.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._changed:
                    receiver.calls[receiver.mode] += 1
                    while receiver.mode == "hang":
                        receiver._changed.wait(1)
                        if receiver.mode != "hang":
                            self.close_connection = True
                            return  # held to the end, never answered
                    mode = receiver.mode
                    if mode == "ok":
                        receiver._delivered.append(Received(self.headers.get("webhook-id", ""), self.path))
                self.send_response(200 if mode == "ok" else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Receive

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.set_mode("ok")
        self._server.shutdown()
        self._server.server_close()

    def delivered(self) -> list[Received]:
        with self._lock:
            return list(self._delivered)


# --- workload ------------------------------------------------------------------------


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def research_outputs() -> list[dict]:
    """The demo's ten research outputs, each under a new id."""
    return [o | {"output_id": str(uuid.uuid4())} for o in _jsonl(DEMO / "research_outputs.jsonl")]


def matching_need_templates(outputs: list[dict]) -> list[dict]:
    """The demo's needs that the engine matches with these outputs, as matching will. A
    coach-only need is told to its coach alone; here it is anonymised instead, so that
    the webhook subscription hears of every match."""
    engine = Engine()
    engine.add_all([
        output_document(o["output_id"], ResearchOutputPublished.model_validate(o)) for o in outputs
    ])
    settings = Settings()
    templates = []
    for need in _jsonl(DEMO / "needs.jsonl"):
        need = need | {"expires_on": None}
        if need.get("confidentiality") == "coach-only":
            need["confidentiality"] = "anonymised"
        hits, _ = engine.propose(need_document(need["need_id"], NeedSubmitted.model_validate(need)),
                                 limit=settings.matches_per_event)
        if hits:
            templates.append(need)
    assert templates, "no demo need matches the demo outputs"
    return templates


@dataclass
class Workload:
    """Needs with unique ids, offered at `rate` per second: most as HTTP requests to
    intake (each with an Idempotency-Key, retried as a careful client would on a lost
    connection, 429 or 5xx), the rest as records on partner.needs.v1 (retried with the
    same CloudEvents id until the broker acknowledges). A need is acknowledged by intake's
    202 or by the broker's acknowledgement of its record."""

    platform: Platform
    count: int = NEEDS
    rate: float = RATE
    kafka_share: float = KAFKA_SHARE
    acknowledged: dict[str, float] = field(default_factory=dict)  # need id → when
    statuses: Counter[str] = field(default_factory=Counter)  # every answer or error seen
    given_up: list[str] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def __post_init__(self) -> None:
        templates = self.platform.templates
        self.needs: list[tuple[str, dict]] = []
        for i in range(self.count):
            template = templates[i % len(templates)]
            need = template | {
                "need_id": str(uuid.uuid4()),
                "coach": template["coach"] | {"email": f"coach{i % 50}@faults.example.se"},
            }
            channel = "kafka" if (i % 100) < self.kafka_share * 100 else "http"
            self.needs.append((channel, need))

    @property
    def need_ids(self) -> set[str]:
        return {need["need_id"] for _, need in self.needs}

    def start(self) -> Workload:
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="workload", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._send_all())
        except BaseException as error:  # noqa: BLE001 - re-raised in join()
            self._error = error
        finally:
            self.finished_at = time.monotonic()

    def wait_acknowledged(self, fraction: float, timeout_s: float = 300) -> None:
        wanted = int(self.count * fraction)
        deadline = time.monotonic() + timeout_s
        while len(self.acknowledged) < wanted:
            if self._error or time.monotonic() > deadline:
                raise AssertionError(f"{len(self.acknowledged)} of {wanted} needs acknowledged within {timeout_s:.0f}s: {self._error!r}")
            time.sleep(0.05)

    def join(self, timeout_s: float = GIVE_UP_S + 60) -> None:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise AssertionError(f"the workload still runs after {timeout_s:.0f}s")
        if self._error:
            raise self._error

    async def _send_all(self) -> None:
        producer = AIOKafkaProducer(**client_options(self.platform.settings, ADMIN), acks="all",
                                    enable_idempotence=True, request_timeout_ms=10_000)
        await producer.start()
        slots = asyncio.Semaphore(32)
        try:
            async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=32)) as client:
                tasks = []
                start = time.monotonic()
                for i, (channel, need) in enumerate(self.needs):
                    await asyncio.sleep(max(0.0, start + i / self.rate - time.monotonic()))
                    await slots.acquire()
                    send = self._send_http(client, need) if channel == "http" else self._send_kafka(producer, need)
                    task = asyncio.create_task(send)
                    task.add_done_callback(lambda _: slots.release())
                    tasks.append(task)
                await asyncio.gather(*tasks)
        finally:
            await producer.stop()

    async def _send_http(self, client: httpx.AsyncClient, need: dict) -> None:
        headers = {"Authorization": f"Bearer {self.platform.keys['faults-crm']}", "Idempotency-Key": need["need_id"]}
        deadline = time.monotonic() + GIVE_UP_S
        pause = 0.25
        while time.monotonic() < deadline:
            try:
                response = await client.post(self.platform.url("intake") + "/v1/needs", json=need, headers=headers)
                self.statuses[str(response.status_code)] += 1
                if response.status_code == 202:
                    self.acknowledged[need["need_id"]] = time.monotonic()
                    return
                if response.status_code < 500 and response.status_code != 429:
                    raise AssertionError(f"intake refused a valid need: {response.status_code} {response.text[:300]}")
                retry_after = response.headers.get("Retry-After", "")
                wait = min(5.0, float(retry_after)) if retry_after.isdigit() else pause
            except httpx.TransportError as error:
                self.statuses[type(error).__name__] += 1
                wait = pause
            await asyncio.sleep(wait)
            pause = min(2.0, pause * 2)
        self.given_up.append(need["need_id"])

    async def _send_kafka(self, producer: AIOKafkaProducer, need: dict) -> None:
        event = new_event(NeedSubmitted.model_validate(need), source="/partners/faults-kafka")
        value, headers = encode(event)
        topic = self.platform.settings.topic(PARTNER_NEEDS.name)
        deadline = time.monotonic() + GIVE_UP_S
        while time.monotonic() < deadline:
            try:
                await producer.send_and_wait(topic, value=value, key=need["need_id"].encode(),
                                             headers=[(k, v.encode()) for k, v in headers.items()])
                self.statuses["kafka-ack"] += 1
                self.acknowledged[need["need_id"]] = time.monotonic()
                return
            except KafkaError as error:
                self.statuses[type(error).__name__] += 1
                await asyncio.sleep(0.5)
        self.given_up.append(need["need_id"])

    def describe(self) -> str:
        kafka = sum(1 for channel, _ in self.needs if channel == "kafka")
        answers = ", ".join(f"{k}×{v}" for k, v in sorted(self.statuses.items()))
        return (f"{len(self.acknowledged)}/{self.count} needs acknowledged ({self.count - kafka} HTTP, {kafka} Kafka; "
                f"{answers}) in {self.finished_at - self.started_at:.0f}s")


# --- the platform --------------------------------------------------------------------


class Platform(ServiceProcesses):
    """The four services as processes, killed, frozen and restarted one by one."""

    def __init__(self, settings: Settings, env: dict[str, str], log_dir: Path, mail: MailServer,
                 webhooks: dict[str, WebhookReceiver]) -> None:
        ports = {name: free_port() for name in SERVICES}
        env = env | {"REDTHREAD_PUBLIC_URL": f"http://127.0.0.1:{ports['notification']}"}
        super().__init__(env, log_dir, ports)
        self.settings = settings
        self.mail = mail
        self.webhooks = webhooks  # by path on their receiver
        self.relays: tuple[str, ...] = ()
        self.keys: dict[str, str] = {}
        self.outputs: list[dict] = []
        self.templates: list[dict] = []

    def start(self, only: tuple[str, ...] = SERVICES, relays: tuple[str, ...] = ()) -> None:
        self.relays = relays
        super().start(only, relays)

    def process(self, name: str) -> subprocess.Popen:
        """A service by its name, or a relay as "<service>-relay"."""
        if name.endswith("-relay"):
            return self.relay_processes[name.removesuffix("-relay")]
        return self.processes[name]

    def signal(self, name: str, signum: int) -> None:
        self.process(name).send_signal(signum)

    def kill(self, name: str) -> None:
        process = self.process(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def respawn(self, name: str) -> None:
        """Start a killed service or relay again, as it was started."""
        if name.endswith("-relay"):
            service = name.removesuffix("-relay")
            self.relay_processes[service] = self._spawn(name, ["-m", "services.common.relay", service], {})
            return
        own_relay = {"REDTHREAD_OUTBOX_RELAY": "own-process"} if name in self.relays else {}
        self.processes[name] = self._spawn(
            name, ["-m", f"services.{name}"], {"REDTHREAD_HTTP_PORT": str(self.ports[name]), **own_relay}
        )

    def exited(self) -> list[str]:
        """Services and relays that are not running (none should be, unless killed)."""
        return [n for n, p in self.processes.items() if p.poll() is not None] + [
            f"{n}-relay" for n, p in self.relay_processes.items() if p.poll() is not None
        ]

    # --- setup ---------------------------------------------------------------------

    def prepare(self) -> None:
        """A webhook subscription to every match, the research outputs published and
        stored by matching: every need sent after this finds its matches at once."""
        iuc = {"Authorization": f"Bearer {self.keys['faults-iuc']}"}
        for path, receiver in self.webhooks.items():
            subscription = {
                "about": "matches", "channel": "webhook", "webhook_url": receiver.url + path,
                "subscriber": {"name": f"CRM {path}", "email": f"crm{path.replace('/', '.')}@faults.example.se",
                               "language": "sv"},
            }
            _eventually(lambda: httpx.post(self.url("notification") + "/v1/subscriptions", json=subscription,
                                           headers=iuc, timeout=5).status_code == 201,
                        60, "notification knows the partner key and takes the subscription")
        self.outputs = research_outputs()
        self.templates = matching_need_templates(self.outputs)
        research = {"Authorization": f"Bearer {self.keys['faults-research']}"}
        for output in self.outputs:
            response = httpx.post(self.url("intake") + "/v1/research-outputs", json=output, headers=research, timeout=10)
            assert response.status_code == 202, response.text
        _eventually(lambda: self.query("SELECT count(*) FROM matching.research_outputs") == len(self.outputs),
                    60, "matching has every research output")

    # --- observing -----------------------------------------------------------------

    def query(self, sql: str):
        async def run():
            conn = await asyncpg.connect(self.settings.database_url, timeout=5)
            try:
                return await conn.fetchval(sql)
            finally:
                await conn.close()

        return asyncio.run(run())

    def execute(self, sql: str) -> None:
        async def run():
            conn = await asyncpg.connect(self.settings.database_url, timeout=5)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run())

    def observe(self) -> Observation:
        return asyncio.run(self._observe())

    async def _observe(self) -> Observation:
        conn = await asyncpg.connect(self.settings.database_url, timeout=5)
        try:
            needs = await conn.fetch("SELECT need_id::text FROM reporting.needs WHERE submitted_at IS NOT NULL")
            matches = await conn.fetch(
                "SELECT match_id::text, need_id::text, output_id::text FROM matching.proposed_matches"
                " WHERE retracted_at IS NULL")
            reported = await conn.fetch(
                "SELECT match_id::text, need_id::text, output_id::text FROM reporting.need_matches"
                " WHERE proposed_at IS NOT NULL")
            timeline = await conn.fetch(
                "SELECT event_id, kind, need_id::text, match_id::text, summary FROM reporting.company_timeline"
                " WHERE kind IN ('need-submitted', 'match-proposed', 'notification-dispatched')")
            deliveries = await conn.fetch(
                "SELECT delivery_id::text, about_id::text, recipient_key, channel FROM notification.deliveries")
        finally:
            await conn.close()
        webhooks = [Received(r.message_id, path) for path, receiver in self.webhooks.items()
                    for r in receiver.delivered() if r.recipient == path]
        return Observation(
            reporting_needs={r[0] for r in needs},
            matches=[Match(*r) for r in matches],
            reporting_matches=[Match(*r) for r in reported],
            timeline=[TimelineRow(r["event_id"], r["kind"], r["need_id"], r["match_id"], _channel(r["summary"]))
                      for r in timeline],
            deliveries=[Delivery(*r) for r in deliveries],
            emails=self.mail.messages(),
            webhooks=webhooks,
        )

    def backlog(self) -> int:
        """Rows not yet relayed in any outbox, plus deliveries still owed."""
        return self.query(
            "SELECT (SELECT count(*) FROM intake.outbox) + (SELECT count(*) FROM matching.outbox)"
            " + (SELECT count(*) FROM notification.outbox) + (SELECT count(*) FROM reporting.outbox)"
            " + (SELECT count(*) FROM notification.deliveries WHERE status = 'pending')")

    # --- the verdict ---------------------------------------------------------------

    def verify(self, scenario: str, workload: Workload, healed_at: float, recovery_s: float = RECOVERY_S,
               also: Callable[[], dict[str, list[str]]] = dict) -> Result:
        """Waits (bounded) until every effect of the workload is there, then until the
        platform is quiet, and judges what it did. The recovery time runs from the heal.
        `also`: more kinds of lost effects, judged alongside."""
        workload.join()
        deadline = max(healed_at, workload.finished_at) + recovery_s

        def judge():
            verdict = check(workload.acknowledged, workload.acknowledged, self.observe(),
                            webhook_receivers=tuple(self.webhooks))
            verdict.lost.update(also())
            return verdict

        recovered_at = None
        while time.monotonic() < deadline:
            try:
                verdict = judge()
            except (OSError, asyncpg.PostgresError, TimeoutError):
                verdict = None  # the database not back yet
            if verdict is not None and verdict.lost_count == 0:
                recovered_at = time.monotonic()
                break
            time.sleep(1)
        self._wait_quiet(timeout_s=60)
        verdict = judge()
        result = Result(scenario, workload.describe(), verdict,
                        None if recovered_at is None else recovered_at - healed_at,
                        None if recovered_at is None else recovered_at - workload.finished_at,
                        unacknowledged=len(workload.given_up))
        print("\n" + result.line(), flush=True)
        RESULTS.append(result.line())
        return result

    def _wait_quiet(self, timeout_s: float) -> None:
        """Until nothing is left to relay or deliver and the effects stop changing."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            try:
                seen = self.observe()
                now = (self.backlog(), len(seen.timeline), len(seen.emails), len(seen.webhooks), len(seen.matches))
            except (OSError, asyncpg.PostgresError, TimeoutError):
                now = None
            if now is not None and now == last and now[0] == 0:
                return
            last = now
            time.sleep(2)


def _channel(summary: str) -> str | None:
    if "via e-post" in summary:
        return "email"
    if "via webhook" in summary:
        return "webhook"
    return None


def _eventually(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except (httpx.HTTPError, OSError, asyncpg.PostgresError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(0.3)


def assert_clean(result: Result, allowed_duplicates: dict[str, int] | None = None) -> None:
    """The issue's bar: 0 lost, 0 duplicated (beyond what is allowed: e-mails on the wire
    at a kill -9), recovered without manual action."""
    verdict = result.verdict
    assert result.recovery_s is not None, f"not recovered within the deadline: {result.line()}"
    assert verdict.lost_count == 0, result.line()
    assert verdict.duplicates_beyond(allowed_duplicates or {}) == 0, result.line()
    assert result.unacknowledged == 0, result.line()
