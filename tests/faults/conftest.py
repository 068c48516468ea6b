"""Fixtures of the fault suite: its own broker and database server for the session (see
infra.py), and per module a namespace, a database and the four services as processes
with a mail server and a webhook receiver."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Iterator

import asyncpg
import pytest

from deploy.demo.partners import provision
from deploy.local import SERVICES
from services.common.kafka import ensure_topics
from services.common.settings import Settings
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.faults.harness import WEBHOOK_PATH, MailServer, Platform, WebhookReceiver
from tests.faults.infra import FAULTS_HOME, Kafka, Postgres

FAULT_PARTNERS = (
    Partner("faults-crm", "IUC CRM (fault suite)", event_types("needs"), requests_per_minute=1_000_000),
    Partner("faults-kafka", "Coach tool on Kafka (fault suite)", event_types("needs")),
    Partner("faults-research", "Project registry (fault suite)", event_types("research-outputs")),
    Partner("faults-iuc", "IUC adviser tools (fault suite)", event_types("none")),
)
DEFAULT_TIMEOUT_S = 900


def pytest_terminal_summary(terminalreporter) -> None:
    from tests.faults.harness import RESULTS

    if RESULTS:
        terminalreporter.section("fault scenarios: lost, duplicated, recovery")
        for line in RESULTS:
            terminalreporter.write_line(line)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "fault_timeout(seconds): fail the test after this long (default 900)")


@pytest.fixture(autouse=True)
def fault_timeout(request) -> Iterator[None]:
    """Every test has a deadline: SIGALRM fails it, and the fixtures' finalizers still
    restart whatever it killed."""
    marker = request.node.get_closest_marker("fault_timeout")
    seconds = int(marker.args[0]) if marker else DEFAULT_TIMEOUT_S

    def expired(signum, frame):
        raise TimeoutError(f"{request.node.name} ran past its {seconds}s timeout")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def single_kafka() -> Iterator[Kafka]:
    kafka = Kafka(nodes=1)
    kafka.start()
    yield kafka
    kafka.stop()


@pytest.fixture(scope="module")
def kafka(single_kafka: Kafka) -> Iterator[Kafka]:
    """The broker a module's platform uses; a module may override it (the three nodes).
    Whatever node a test killed is running again afterwards."""
    yield single_kafka
    for node in single_kafka.nodes:
        if not node.running():
            single_kafka.restart(node)


@pytest.fixture(scope="module")
def namespace() -> str:
    return "f" + secrets.token_hex(4)


@pytest.fixture(scope="module")
def database_url(namespace: str, postgres: Postgres) -> Iterator[str]:
    name = f"redthread_{namespace}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(postgres.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    base, _, _ = postgres.url.rpartition("/")
    yield f"{base}/{name}"
    if postgres.postmaster_pid() is None:
        postgres.restart()
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def settings(namespace: str, database_url: str, kafka: Kafka) -> Settings:
    settings = Settings(namespace=namespace, database_url=database_url, kafka_bootstrap_servers=kafka.bootstrap_servers)
    asyncio.run(asyncio.wait_for(ensure_topics(settings, replication_factor=kafka.replication), 60))
    return settings


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def platform_options() -> dict:
    """What a module changes: {"relays": services whose relay runs as its own process,
    "env": extra settings, "webhooks": {path: receiver} besides the default one,
    "placements": {service: deploy.local.Placement} for those not run beside the others}."""
    return {}


@pytest.fixture(scope="module")
def platform(request, settings: Settings, kafka: Kafka, mail: MailServer, webhook: WebhookReceiver,
             platform_options: dict) -> Iterator[Platform]:
    env = {
        "REDTHREAD_NAMESPACE": settings.namespace,
        "DATABASE_URL": settings.database_url,
        "REDTHREAD_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "REDTHREAD_SMTP_PORT": str(mail.port),
        "REDTHREAD_WEBHOOK_ALLOW_INTERNAL": "true",
        **platform_options.get("env", {}),
    }
    log_dir = FAULTS_HOME / "logs" / f"{request.module.__name__.rpartition('.')[2]}-{settings.namespace}"
    webhooks = {WEBHOOK_PATH: webhook, **platform_options.get("webhooks", {})}
    platform = Platform(settings, env, log_dir, mail, webhooks)
    platform.placements = platform_options.get("placements", {})
    platform.start(relays=platform_options.get("relays", ()))
    try:
        platform.wait_healthy(timeout_s=120)
        platform.keys = asyncio.run(provision(settings, FAULT_PARTNERS))
        platform.prepare()
        yield platform
    finally:
        for name in list(platform.processes) + [f"{s}-relay" for s in platform.relay_processes]:
            try:
                platform.signal(name, signal.SIGCONT)  # a frozen process must hear SIGTERM
            except ProcessLookupError:
                pass
        platform.stop()
        print(f"\nservice logs: {log_dir}")
        for name in SERVICES:
            path = log_dir / f"{name}.log"
            if path.exists() and os.environ.get("REDTHREAD_FAULTS_LOG_TAILS"):
                print(f"--- {name}.log (tail)\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]))
