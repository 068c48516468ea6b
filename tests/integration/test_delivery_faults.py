"""The delivery dispatcher when its peers fail for real: a mail server that goes away and
comes back, a webhook host that hangs, a mail server refusing with a reply code,
PostgreSQL cut away from the dispatcher mid-send, and a given-up delivery resent with the
operator command. Each ends with every delivery sent exactly once (or visibly failed),
on the real PostgreSQL and Kafka; the horizons, pauses and backoffs are shortened so
that each takes seconds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter
from urllib.parse import urlsplit, urlunsplit

import pytest

from contracts.topics import DEAD_LETTERS
from services.common.db import create_pool
from services.notification.delivery import DeliveryDispatcher
from tests.conftest import headers_of, read_topic
from tests.integration.test_notification_delivery import (  # noqa: F401 - fixtures, used by name
    a_webhook_subscription, attempts_of, delivery_settings, dispatchers, mailbox, nothing_left_between_tests, owe,
    pool, receiver, relay, render_email, status_of, until, with_header,
)
from tests.unreliable_peers import CuttableProxy, HangingHttpHost, SwitchableMailServer

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def eventually(condition, timeout_s: float = 10, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not within {timeout_s}s")


async def total_attempts(pool, ids: list[uuid.UUID]) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT coalesce(sum(attempts), 0) FROM deliveries WHERE delivery_id = ANY($1)", ids)


async def test_a_mail_server_down_holds_mails_back_and_sends_each_once_within_seconds_of_its_return(pool, dispatchers):
    mail_server = SwitchableMailServer()  # not started: its port refuses connections
    owed = [(await owe(pool, "email", f"coach{i}@example.se"))[0] for i in range(30)]
    dispatcher = await dispatchers(
        start=True, smtp_port=mail_server.port, smtp_timeout_s=1.0,
        delivery_breaker_failures=3, delivery_breaker_pause_s=0.5,
        # without the breaker's release, a retry would wait up to 30 s after the server is back
        delivery_backoff_initial_s=2.0, delivery_backoff_max_s=30.0,
        delivery_max_attempts=1000, delivery_give_up_after_s=600,
    )
    try:
        await eventually(lambda: dispatcher.breakers.open_breakers(), what="the mail server's breaker opens")
        [breaker] = (await dispatcher.health())["open_breakers"]
        assert breaker["peer"] == "smtp" and "mail server" in breaker["reason"]

        # Held back, the mails spend no attempts: one probe per pause, not a send per mail.
        await asyncio.sleep(0.5)
        before = await total_attempts(pool, owed)
        await asyncio.sleep(2.0)
        assert await total_attempts(pool, owed) - before <= 6
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT bool_and(status = 'pending') FROM deliveries WHERE delivery_id = ANY($1)", owed)
        health = await dispatcher.health()
        assert health["channels"]["email"]["pending"] == 30

        mail_server.start()
        back = asyncio.get_running_loop().time()
        await until(pool, "SELECT bool_and(status = 'delivered') FROM deliveries WHERE delivery_id = ANY($1)", owed,
                    timeout_s=10)
        assert asyncio.get_running_loop().time() - back < 3.0
        assert Counter(mail_server.message_ids()) == Counter({str(d): 1 for d in owed})
        assert not dispatcher.breakers.open_breakers()
    finally:
        mail_server.stop()


async def test_a_hanging_webhook_host_delays_neither_mails_nor_other_hosts(pool, receiver, mailbox, dispatchers):
    hanging = await HangingHttpHost().start()
    try:
        stuck_subscription, _ = await a_webhook_subscription(pool, f"{hanging.url}/hooks/crm")
        stuck = [(await owe(pool, "webhook", f"{hanging.url}/hooks/crm", stuck_subscription))[0] for _ in range(10)]
        url, endpoint = receiver.endpoint([])
        subscription_id, secret = await a_webhook_subscription(pool, url)
        endpoint.secrets.append(secret)
        hooks = [(await owe(pool, "webhook", url, subscription_id))[0] for _ in range(10)]
        mails = [(await owe(pool, "email", f"coach{i}@example.se"))[0] for i in range(10)]
        started = asyncio.get_running_loop().time()
        await dispatchers(start=True, webhook_timeout_s=1.5, delivery_concurrency=4,
                          delivery_webhook_host_concurrency=2, delivery_backoff_initial_s=5.0)

        await until(pool, "SELECT bool_and(status = 'delivered') FROM deliveries WHERE delivery_id = ANY($1)",
                    hooks + mails, timeout_s=10)
        # Within the first hanging calls' timeout: nothing waited for them.
        assert asyncio.get_running_loop().time() - started < 1.5
        assert hanging.most_open <= 2
        assert Counter(call.headers["webhook-id"] for call in endpoint.calls) == Counter({str(d): 1 for d in hooks})
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT bool_and(status = 'pending') FROM deliveries WHERE delivery_id = ANY($1)", stuck)
        await eventually(lambda: hanging.accepted >= 2 and hanging.most_open <= 2, what="the hanging host was called")
    finally:
        await hanging.stop()


async def test_a_5xx_reply_gives_up_at_once_and_a_4xx_is_tried_again(pool, dispatchers, settings):
    mail_server = SwitchableMailServer().start()
    try:
        dispatcher = await dispatchers(smtp_port=mail_server.port)
        mail_server.data_reply = "554 5.7.1 Message rejected as spam"
        refused, _ = await owe(pool, "email", "karin@example.se")
        assert await dispatcher.dispatch_once() == 1
        assert await attempts_of(pool, refused) == [("gave-up", 554)]
        assert (await status_of(pool, refused))["status"] == "failed"
        [letter] = await read_topic(settings, settings.topic(DEAD_LETTERS.name),
                                    where=with_header("dlq_delivery_id", str(refused)))
        assert "permanent" in headers_of(letter)["dlq_reason"] and "554" in headers_of(letter)["dlq_reason"]

        mail_server.data_reply = "451 4.3.0 Try again later"
        later, _ = await owe(pool, "email", "eva@example.se")
        assert await dispatcher.dispatch_once() == 1
        assert await attempts_of(pool, later) == [("failed", 451)]
        assert (await status_of(pool, later))["status"] == "pending"
        assert mail_server.messages == []
    finally:
        mail_server.stop()


async def test_outcomes_wait_out_a_database_outage_past_the_lease_and_nothing_is_sent_twice(
    pool, receiver, dispatchers, delivery_settings, relay,
):
    calls_started = 0

    async def count_call() -> None:
        nonlocal calls_started
        calls_started += 1

    url, endpoint = receiver.endpoint([], delay_s=1.0, on_call=count_call)
    subscription_id, secret = await a_webhook_subscription(pool, url)
    endpoint.secrets.append(secret)
    owed = [(await owe(pool, "webhook", url, subscription_id))[0] for _ in range(12)]

    database = urlsplit(delivery_settings.database_url)
    proxy = await CuttableProxy(database.hostname, database.port).restore()
    proxied = urlunsplit(database._replace(netloc=database.netloc.replace(
        f"{database.hostname}:{database.port}", f"127.0.0.1:{proxy.port}")))
    proxied_pool = await create_pool(proxied, "notification")

    dispatcher = DeliveryDispatcher(
        proxied_pool,
        delivery_settings.model_copy(update={"webhook_timeout_s": 2.0, "smtp_timeout_s": 1.0, "delivery_lease_s": 13.0,
                                             "retry_backoff_initial_s": 0.1, "retry_backoff_max_s": 0.5,
                                             "delivery_concurrency": 4, "delivery_webhook_host_concurrency": 8}),
        "notification", on_commit=relay.wake, render_email=render_email,
    )
    await dispatcher.start()
    try:
        # Four calls under way (one per slot; the receiver answers after 1 s): now the
        # database goes.
        await eventually(lambda: calls_started == 4, what="the first calls under way")
        await proxy.cut()
        await eventually(lambda: len(endpoint.calls) == 4, what="those calls answered")
        await asyncio.sleep(13.0)  # past the lease the rows were claimed with
        # Nothing more was sent while the outcomes could not be recorded: a kill -9 now
        # would send again no more than the slots.
        assert calls_started == 4
        health = await dispatcher.health()
        assert health["unrecorded"] >= 4 and isinstance(health["channels"], str)
        async with pool.acquire() as conn:  # nothing was recorded, nor could be
            assert await conn.fetchval("SELECT count(*) FROM delivery_attempts WHERE delivery_id = ANY($1)", owed) == 0

        await proxy.restore()
        await until(pool, "SELECT bool_and(status = 'delivered') FROM deliveries WHERE delivery_id = ANY($1)", owed,
                    timeout_s=10)
        await asyncio.sleep(0.5)  # a resend, had there been one, would be under way by now
        assert Counter(call.headers["webhook-id"] for call in endpoint.calls) == Counter({str(d): 1 for d in owed})
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM delivery_attempts WHERE delivery_id = ANY($1)", owed) == 12
        assert dispatcher.totals.lost == 0 and dispatcher.totals.delivered == 12
    finally:
        await dispatcher.stop()
        await proxied_pool.close()
        await proxy.cut()


async def test_a_delivery_given_up_at_its_horizon_is_listed_and_resent_by_the_operator_command(
    pool, receiver, dispatchers, settings,
):
    url, endpoint = receiver.endpoint([], always_fail=True)
    subscription_id, secret = await a_webhook_subscription(pool, url)
    endpoint.secrets.append(secret)
    delivery_id, _ = await owe(pool, "webhook", url, subscription_id)
    dispatcher = await dispatchers(start=True, delivery_give_up_after_s=0.5, delivery_max_attempts=1000,
                                   delivery_breaker_failures=1000)
    await until(pool, "SELECT status = 'failed' FROM deliveries WHERE delivery_id = $1", delivery_id)
    [letter] = await read_topic(settings, settings.topic(DEAD_LETTERS.name),
                                where=with_header("dlq_delivery_id", str(delivery_id)))
    assert "retrying for 0.5 s" in headers_of(letter)["dlq_reason"]
    tried = len(endpoint.calls)
    assert tried >= 2

    def ops(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "services.ops", "deliveries", *args], cwd=REPO, capture_output=True, text=True,
            env=os.environ | {"DATABASE_URL": settings.database_url}, timeout=30,
        )

    listed = ops("list", "--status", "failed", "--channel", "webhook", "--since", "1h")
    assert listed.returncode == 0, listed.stderr
    assert str(delivery_id) in listed.stdout and "HTTP 500" in listed.stdout

    dry = ops("resend", "--all-failed", "--dry-run")
    assert dry.returncode == 0 and f"would resend {delivery_id}" in dry.stdout
    assert (await status_of(pool, delivery_id))["status"] == "failed"

    endpoint.always_fail = False
    resent = ops("resend", str(delivery_id))
    assert resent.returncode == 0, resent.stderr
    assert f"resent {delivery_id}" in resent.stdout and "resent 1 deliveries" in resent.stdout
    await until(pool, "SELECT status = 'delivered' FROM deliveries WHERE delivery_id = $1", delivery_id)
    history = await attempts_of(pool, delivery_id)
    assert history[:tried] == [("failed", 500)] * (tried - 1) + [("gave-up", 500)]
    assert history[tried:] == [("delivered", 200)]
    assert len(endpoint.receipts) == 1

    again = ops("resend", str(delivery_id), str(uuid.uuid4()))
    assert again.returncode == 1
    assert "it is delivered, not failed" in again.stdout and "no such delivery" in again.stdout
    assert dispatcher.totals.gave_up == 1
