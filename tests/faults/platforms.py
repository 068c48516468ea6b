"""How a scenario's platform is made: a namespace and a database of its own on the
suite's PostgreSQL, its topics on the broker it is given, the peers it delivers to, and
the four services as processes with the fault partners provisioned. Used by the fixtures
(conftest.py) and by the peer outage, whose platform outlives one module."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from deploy.demo.partners import provision
from deploy.local import SERVICES
from services.common.kafka_provisioning import provision_broker
from services.common.settings import Settings
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.faults.harness import MailServer, Platform, WebhookReceiver
from tests.faults.infra import FAULTS_HOME, Kafka, Postgres

FAULT_PARTNERS = (
    Partner("faults-crm", "IUC CRM (fault suite)", event_types("needs"), requests_per_minute=1_000_000),
    Partner("faults-kafka", "Coach tool on Kafka (fault suite)", event_types("needs")),
    Partner("faults-research", "Project registry (fault suite)", event_types("research-outputs")),
    Partner("faults-iuc", "IUC adviser tools (fault suite)", event_types("none")),
)


def new_namespace() -> str:
    return "f" + secrets.token_hex(4)


@contextmanager
def own_database(postgres: Postgres, namespace: str) -> Iterator[str]:
    """A database of the namespace's own on the suite's server, dropped afterwards."""
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


def settings_with_topics(namespace: str, database_url: str, kafka: Kafka) -> Settings:
    settings = Settings(namespace=namespace, database_url=database_url, kafka_bootstrap_servers=kafka.bootstrap_servers)
    asyncio.run(asyncio.wait_for(provision_broker(settings, replication_factor=kafka.replication), 60))
    return settings


@contextmanager
def running(peer):
    """A mail server or webhook receiver, started and stopped."""
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@contextmanager
def running_platform(scenario: str, settings: Settings, kafka: Kafka, mail: MailServer,
                     webhooks: dict[str, WebhookReceiver], options: dict) -> Iterator[Platform]:
    """The four services as processes, healthy, with the fault partners provisioned and
    the research outputs published (Platform.prepare); stopped afterwards, frozen ones
    included. `options`: see platform_options."""
    env = {
        "REDTHREAD_NAMESPACE": settings.namespace,
        "DATABASE_URL": settings.database_url,
        "REDTHREAD_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "REDTHREAD_SMTP_PORT": str(mail.port),
        "REDTHREAD_WEBHOOK_ALLOW_INTERNAL": "true",
        # The workload offers 2,000 needs in 20 s, a hundred times a busy day's; embedding
        # each (services/matching/meaning.py, 40-130 ms on these two cores, shared with
        # every process here) would keep matching busy for minutes after every heal, past
        # the recovery bound, whatever the fault. What the faults test (nothing lost,
        # doubled or stuck across the outbox, inbox and deliveries) does not depend on how
        # a pair is scored; meaning's cost is measured by `make bench-matching`.
        "REDTHREAD_MATCH_MEANING": "false",
        **options.get("env", {}),
    }
    log_dir = FAULTS_HOME / "logs" / f"{scenario}-{settings.namespace}"
    platform = Platform(settings, env, log_dir, mail, webhooks)
    platform.placements = options.get("placements", {})
    platform.start(relays=options.get("relays", ()))
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
