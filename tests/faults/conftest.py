"""Fixtures of the fault suite: its own broker and database server for the session (see
infra.py), and per module a namespace, a database and the four services as processes
with a mail server and a webhook receiver."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from services.common.settings import Settings
from tests.faults.harness import WEBHOOK_PATH, MailServer, Platform, WebhookReceiver
from tests.faults.infra import FAULTS_HOME, Kafka, Postgres
from tests.faults.platforms import new_namespace, own_database, running, running_platform, settings_with_topics

DEFAULT_TIMEOUT_S = 900

# The suite's brokers authenticate every client and apply the registry's ACLs, as `make up`'s
# do; their credentials (admin's, the services') are the suite's own. Its services and
# clients inherit this.
os.environ["REDTHREAD_KAFKA_CREDENTIALS_DIR"] = str(FAULTS_HOME / "kafka-credentials")


def pytest_terminal_summary(terminalreporter) -> None:
    from tests.faults.harness import RESULTS

    if RESULTS:
        terminalreporter.section("fault scenarios: lost, duplicated, recovery")
        for line in RESULTS:
            terminalreporter.write_line(line)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "fault_timeout(seconds): fail the test after this long (default 900)")
    config.addinivalue_line("markers", "before_the_others: run first (a long outage that begins while the rest run)")
    config.addinivalue_line("markers", "after_the_others: run last (where that outage ends and is judged)")


def pytest_collection_modifyitems(items) -> None:
    """The peer outage lasts ten minutes and needs nothing but time: its platform takes
    the peers away before the other scenarios and is judged after them."""
    def place(item) -> int:
        return 0 if item.get_closest_marker("before_the_others") else 2 if item.get_closest_marker("after_the_others") else 1

    items.sort(key=place)


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
    return new_namespace()


@pytest.fixture(scope="module")
def database_url(namespace: str, postgres: Postgres) -> Iterator[str]:
    with own_database(postgres, namespace) as url:
        yield url


@pytest.fixture(scope="module")
def settings(namespace: str, database_url: str, kafka: Kafka) -> Settings:
    return settings_with_topics(namespace, database_url, kafka)


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    with running(MailServer()) as server:
        yield server


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    with running(WebhookReceiver()) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def platform_options() -> dict:
    """What a module changes: {"relays": services whose relay runs as its own process,
    "env": extra settings, "webhooks": {path: receiver} besides the default one,
    "placements": {service: deploy.local.Placement} for those not run beside the others}."""
    return {}


@pytest.fixture(scope="module")
def platform(request, settings: Settings, kafka: Kafka, mail: MailServer, webhook: WebhookReceiver,
             platform_options: dict) -> Iterator[Platform]:
    webhooks = {WEBHOOK_PATH: webhook, **platform_options.get("webhooks", {})}
    with running_platform(request.module.__name__.rpartition(".")[2], settings, kafka, mail, webhooks,
                          platform_options) as platform:
        yield platform
