"""The peers notification delivers to, down for long: the mail server gone for ten minutes,
one webhook receiver answering 500 all that time, another hanging without an answer. Every
message must arrive once the peers are back, without anyone resending by hand, and none
twice.

The outage needs nothing but time, so it spans the other scenarios: a platform of its own
(its own database and namespace, the suite's broker and PostgreSQL) takes its workload
while the peers are away, before the others run; after them, the peers come back and the
outcome is judged. Meanwhile it lives through what the others do to the shared broker and
database as well (kill -9 of both), which must not cost it a message either."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from tests.faults.platforms import new_namespace, own_database, running, running_platform, settings_with_topics
from tests.faults.harness import (
    RECOVERY_S,
    WEBHOOK_PATH,
    MailServer,
    Platform,
    WebhookReceiver,
    Workload,
    assert_clean,
    env_float,
)
from tests.faults.infra import Kafka, Postgres

PEER_OUTAGE_S = env_float("REDTHREAD_FAULTS_PEER_OUTAGE_S", 600)
HANGING_PATH = "/hooks/hanging"


@dataclass
class PeerOutage:
    platform: Platform
    mail: MailServer
    failing: WebhookReceiver
    hanging: WebhookReceiver
    down_since: float | None = None
    workload: Workload | None = None

    def begin(self) -> None:
        """The peers go away, then the workload is sent (and acknowledged) in full."""
        if self.down_since is not None:
            return
        self.mail.stop()
        self.failing.set_mode("fail")
        self.hanging.set_mode("hang")
        self.down_since = time.monotonic()
        self.workload = Workload(self.platform).start()
        self.workload.join()

    def end(self) -> float:
        """When the outage has lasted its time, the peers come back; when that was."""
        time.sleep(max(0.0, self.down_since + PEER_OUTAGE_S - time.monotonic()))  # the outage itself
        self.heal()
        return time.monotonic()

    def heal(self) -> None:
        if not self.mail.running:
            self.mail.start()
        self.failing.set_mode("ok")
        self.hanging.set_mode("ok")


@pytest.fixture(scope="session")
def peer_outage(postgres: Postgres, single_kafka: Kafka) -> Iterator[PeerOutage]:
    with ExitStack() as stack:
        namespace = new_namespace()
        database_url = stack.enter_context(own_database(postgres, namespace))
        settings = settings_with_topics(namespace, database_url, single_kafka)
        mail = stack.enter_context(running(MailServer()))
        failing = stack.enter_context(running(WebhookReceiver()))
        hanging = stack.enter_context(running(WebhookReceiver()))
        platform = stack.enter_context(running_platform(
            "test_peer_outages", settings, single_kafka, mail, {WEBHOOK_PATH: failing, HANGING_PATH: hanging}, {}))
        outage = PeerOutage(platform, mail, failing, hanging)
        try:
            yield outage
        finally:
            outage.heal()  # so that the platform stops cleanly


@pytest.mark.before_the_others
@pytest.mark.fault_timeout(600)
def test_peers_away_while_needs_flow(peer_outage: PeerOutage):
    peer_outage.begin()
    assert not peer_outage.workload.given_up, peer_outage.workload.describe()


@pytest.mark.after_the_others
@pytest.mark.fault_timeout(int(PEER_OUTAGE_S + RECOVERY_S + 600))
def test_peers_back_after_the_outage_every_message_arrives_once(peer_outage: PeerOutage):
    peer_outage.begin()  # when run alone
    healed_at = peer_outage.end()
    failing, hanging = peer_outage.failing, peer_outage.hanging
    result = peer_outage.platform.verify(
        f"mail server down, a webhook answering 500 and one hanging, {PEER_OUTAGE_S:.0f}s, beside the other"
        f" scenarios (calls while down: {failing.calls['fail']} answered 500, {hanging.calls['hang']} held)",
        peer_outage.workload, healed_at)
    assert_clean(result)
    assert not peer_outage.platform.exited(), f"exited on their own: {peer_outage.platform.exited()}"
