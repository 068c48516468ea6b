"""The peers notification delivers to, down for long: the mail server gone for ten minutes,
one webhook receiver answering 500 all that time, another hanging without an answer. Run
together, to keep the suite short. Every message must arrive once the peers are back,
without anyone resending by hand, and none twice."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.faults.harness import RECOVERY_S, WebhookReceiver, Workload, assert_clean, env_float

PEER_OUTAGE_S = env_float("REDTHREAD_FAULTS_PEER_OUTAGE_S", 600)
HANGING_PATH = "/hooks/hanging"


@pytest.fixture(scope="module")
def hanging() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def platform_options(hanging) -> dict:
    return {"webhooks": {HANGING_PATH: hanging}}


@pytest.mark.fault_timeout(int(PEER_OUTAGE_S + RECOVERY_S + 600))
def test_mail_server_down_webhook_failing_and_hanging(platform, mail, webhook, hanging):
    mail.stop()
    webhook.set_mode("fail")
    hanging.set_mode("hang")
    down_since = time.monotonic()
    try:
        workload = Workload(platform).start()
        workload.join()
        time.sleep(max(0.0, down_since + PEER_OUTAGE_S - time.monotonic()))  # the outage itself
    finally:
        mail.start()
        webhook.set_mode("ok")
        hanging.set_mode("ok")
    healed_at = time.monotonic()
    result = platform.verify(
        f"mail server down, a webhook answering 500 and one hanging, {PEER_OUTAGE_S:.0f}s"
        f" (calls while down: {webhook.calls['fail']} answered 500, {hanging.calls['hang']} held)",
        workload, healed_at)
    assert_clean(result)
