"""Proves, against a real broker, what docs/partner-access.md says a partner principal
may and may not do on Kafka.

Runs the SASL/SCRAM broker of deploy/kafka/sasl.sh (127.0.0.1:19092), creates the
topics, provisions a partner on the shared partner topics (User:<partner>), a second one
on its own partner.<id>.* topics, and intake (User:redthread.intake), then checks with
aiokafka what each principal is allowed and denied, and rotates the first partner's
password without a moment in which it cannot connect. Prints one PASS or
FAIL line per check; the exit code is 0 when all pass, else 1.

A broker this script starts is stopped and wiped afterwards (unless --keep); one that
was already running is used as it is and left running.

    .venv/bin/python deploy/kafka/sasl_check.py        # or: deploy/kafka/sasl.sh check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

HERE = Path(__file__).resolve().parent
SASL_SH = HERE / "sasl.sh"
BOOTSTRAP = "127.0.0.1:19092"
PARTNER_TOPIC = "partner.needs.v1"
CANONICAL_TOPIC = "redthread.needs.v1"
INTAKE_GROUP = "redthread.intake"
TIMEOUT_S = 30


class Report:
    def __init__(self) -> None:
        self.failed = 0
        self.passed = 0

    def result(self, ok: bool, what: str, detail: str = "") -> None:
        self.passed += ok
        self.failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {what}{f' ({detail})' if detail else ''}", flush=True)


def sasl_sh(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(SASL_SH), *args], input=stdin, text=True, capture_output=True, check=False,
    )
    for line in (proc.stdout + proc.stderr).splitlines():
        print(f"    {line}", flush=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"sasl.sh {args[0]} exited with {proc.returncode}")
    return proc


def client_config(user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> dict[str, object]:
    return {
        "bootstrap_servers": BOOTSTRAP,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
        "request_timeout_ms": 15000,
    }


def need_event(partner: str, source: str | None = None) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A need as a CloudEvent in the Kafka binding's binary mode (README, "Events on the wire")."""
    need_id = str(uuid.uuid4())
    body = {
        "need_id": need_id,
        "company": {"org_number": "556036-0793", "name": "Värnamo Pressgjuteri AB", "county": "Jönköpings län"},
        "coach": {"name": "Karin Lindqvist", "email": "karin@example.se"},
        "title": "Långa ställtider i pressverkstaden",
        "description": "Omställningen mellan artiklar tar över två timmar.",
        "need_type": "process",
        "focus_areas": ["P2"],
        "keywords": ["ställtid", "SMED"],
    }
    headers = [
        ("ce_id", f"sasl-check-{uuid.uuid4()}".encode()),
        ("ce_source", (source or f"/partners/{partner}").encode()),
        ("ce_type", b"redthread.need.submitted"),
        ("ce_specversion", b"1.0"),
        ("ce_time", b"2026-11-24T09:00:00Z"),
        ("content-type", b"application/json"),
    ]
    return need_id.encode(), json.dumps(body).encode(), headers


async def produce(config: dict[str, object], topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]):
    producer = AIOKafkaProducer(**config, acks="all", enable_idempotence=True)
    try:
        await asyncio.wait_for(producer.start(), TIMEOUT_S)
        return await asyncio.wait_for(producer.send_and_wait(topic, value, key=key, headers=headers), TIMEOUT_S)
    finally:
        await producer.stop()


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def authentication_fails(config: dict[str, object]) -> tuple[bool, str]:
    """aiokafka reports a failed SASL handshake only as "Unable to bootstrap"; the reason
    (SaslAuthenticationFailed) is in its log, so that is read to tell it from a dead broker."""
    captured = _Captured()
    aiokafka_log = logging.getLogger("aiokafka")
    aiokafka_log.addHandler(captured)
    try:
        await produce(config, PARTNER_TOPIC, *need_event("nobody"))
    except KafkaConnectionError:
        reasons = [m for m in captured.messages if "SaslAuthenticationFailed" in m]
        if reasons:
            return True, reasons[0].split(": ", 1)[-1]
        return False, "could not connect, but not because of authentication: " + "; ".join(captured.messages[-2:])
    finally:
        aiokafka_log.removeHandler(captured)
    return False, "the client connected and produced"


async def expect(report: Report, what: str, action: Callable[[], Awaitable[object]], error: type[Exception] | None) -> None:
    """Runs action; passes when it succeeds (error None) or fails with exactly `error`."""
    try:
        result = await action()
    except Exception as exc:  # noqa: BLE001 - every outcome is reported
        ok = error is not None and isinstance(exc, error)
        report.result(ok, what, f"{type(exc).__name__}: {exc}")
        return
    report.result(error is None, what, "allowed" if result is None else str(result))


async def intake_reads(config: dict[str, object], ce_id: bytes) -> str:
    """Consume partner.needs.v1 in group redthread.intake until the record with ce_id shows up."""
    consumer = AIOKafkaConsumer(
        PARTNER_TOPIC, **config, group_id=INTAKE_GROUP, auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await asyncio.wait_for(consumer.start(), TIMEOUT_S)
    try:
        deadline = asyncio.get_running_loop().time() + TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers)
                    if headers.get("ce_id") == ce_id:
                        await consumer.commit()
                        return f"read it at offset {record.offset} with ce_source={headers['ce_source'].decode()}, committed"
        raise TimeoutError(f"the record {ce_id.decode()} did not arrive within {TIMEOUT_S}s")
    finally:
        await consumer.stop()


async def partner_reads(config: dict[str, object]) -> None:
    consumer = AIOKafkaConsumer(**config, auto_offset_reset="earliest", enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), TIMEOUT_S)
    try:
        consumer.assign([TopicPartition(PARTNER_TOPIC, 0)])
        await consumer.getmany(timeout_ms=5000)
        await consumer.getmany(timeout_ms=2000)
    finally:
        await consumer.stop()


async def partner_joins_intake_group(config: dict[str, object]) -> None:
    consumer = AIOKafkaConsumer(PARTNER_TOPIC, **config, group_id=INTAKE_GROUP, enable_auto_commit=False)
    try:
        await asyncio.wait_for(consumer.start(), TIMEOUT_S)
        await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()


async def checks(report: Report, partner: str, partner_pw: str, intake_pw: str) -> None:
    partner_cfg = client_config(partner, partner_pw)
    intake_cfg = client_config("redthread.intake", intake_pw)

    key, value, headers = need_event(partner)
    ce_id = dict(headers)["ce_id"]

    async def produce_partner_topic() -> str:
        meta = await produce(partner_cfg, PARTNER_TOPIC, key, value, headers)
        return f"partition {meta.partition} offset {meta.offset}, idempotent, acks=all"

    await expect(report, f"User:{partner} may write {PARTNER_TOPIC}", produce_partner_topic, None)
    await expect(
        report, f"User:{partner} may not write {CANONICAL_TOPIC}",
        lambda: produce(partner_cfg, CANONICAL_TOPIC, key, value, headers), TopicAuthorizationFailedError,
    )
    await expect(
        report, f"User:{partner} may not read {PARTNER_TOPIC}",
        lambda: partner_reads(partner_cfg), TopicAuthorizationFailedError,
    )
    await expect(
        report, f"User:{partner} may not join consumer group {INTAKE_GROUP}",
        lambda: partner_joins_intake_group(partner_cfg), GroupAuthorizationFailedError,
    )
    ok, detail = await authentication_fails(client_config(partner, partner_pw + "-wrong"))
    report.result(ok, f"User:{partner} with a wrong password is not authenticated", detail)
    ok, detail = await authentication_fails(client_config(f"no-such-partner-{secrets.token_hex(3)}", partner_pw))
    report.result(ok, "an unknown user is not authenticated", detail)

    await expect(
        report, f"User:redthread.intake reads {PARTNER_TOPIC} in group {INTAKE_GROUP}",
        lambda: intake_reads(intake_cfg, ce_id), None,
    )

    async def intake_publishes() -> str:
        meta = await produce(intake_cfg, CANONICAL_TOPIC, key, value, headers)
        return f"partition {meta.partition} offset {meta.offset}"

    await expect(report, f"User:redthread.intake may write {CANONICAL_TOPIC}", intake_publishes, None)
    await expect(
        report, f"User:redthread.intake may not write {PARTNER_TOPIC}",
        lambda: produce(intake_cfg, PARTNER_TOPIC, key, value, headers), TopicAuthorizationFailedError,
    )

    # The documented limitation: ACLs say who may write a topic, not what a record claims.
    spoof_key, spoof_value, spoof_headers = need_event(partner, source="/partners/someone-else")

    async def spoof() -> str:
        meta = await produce(partner_cfg, PARTNER_TOPIC, spoof_key, spoof_value, spoof_headers)
        return f"accepted at offset {meta.offset}: intake must not trust ce_source on a shared topic"

    await expect(
        report, f"(limitation) the broker lets User:{partner} write ce_source=/partners/someone-else", spoof, None,
    )

    await rotation(report, partner, partner_pw)


async def own_topics(report: Report, partner: str, other: str, other_pw: str) -> None:
    """The recommended model: each partner writes only topics named partner.<id>.*, so the
    topic a record arrived on names the partner the broker authenticated."""
    cfg = client_config(other, other_pw)
    own = f"partner.{other}.needs.v1"
    foreign = f"partner.{partner}.needs.v1"

    async def writes(topic: str) -> str:
        meta = await produce(cfg, topic, *need_event(other))
        return f"offset {meta.offset}"

    await expect(report, f"own topics: User:{other} may write {own} (PREFIXED partner.{other}.)",
                 lambda: writes(own), None)
    await expect(report, f"own topics: User:{other} may not write another partner's {foreign}",
                 lambda: writes(foreign), TopicAuthorizationFailedError)
    await expect(report, f"own topics: User:{other} may not write the shared {PARTNER_TOPIC}",
                 lambda: writes(PARTNER_TOPIC), TopicAuthorizationFailedError)


async def rotation(report: Report, partner: str, old_pw: str) -> None:
    """Kafka keeps one SCRAM credential per user and mechanism, so a new password goes in
    under the other mechanism; both work until the old one is deleted."""
    new_pw = secrets.token_urlsafe(24)
    old_cfg = client_config(partner, old_pw, "SCRAM-SHA-512")
    new_cfg = client_config(partner, new_pw, "SCRAM-SHA-256")

    async def writes(cfg: dict[str, object]) -> str:
        meta = await produce(cfg, PARTNER_TOPIC, *need_event(partner))
        return f"offset {meta.offset}"

    sasl_sh("set-password", partner, "SCRAM-SHA-256", "-", stdin=new_pw + "\n")
    await expect(report, "rotation: after adding a SCRAM-SHA-256 password, the old SCRAM-SHA-512 one still works",
                 lambda: writes(old_cfg), None)
    await expect(report, "rotation: the new SCRAM-SHA-256 password works at the same time",
                 lambda: writes(new_cfg), None)
    sasl_sh("drop-password", partner, "SCRAM-SHA-512")
    ok, detail = await authentication_fails(old_cfg)
    report.result(ok, "rotation: once SCRAM-SHA-512 is dropped, the old password is refused", detail)
    await expect(report, "rotation: the new password still works, same principal and ACLs",
                 lambda: writes(new_cfg), None)
    # Why rotation needs the second mechanism: a new password for the same mechanism
    # replaces the credential, and the previous password stops working at once.
    sasl_sh("set-password", partner, "SCRAM-SHA-256", "-", stdin=secrets.token_urlsafe(24) + "\n")
    ok, detail = await authentication_fails(new_cfg)
    report.result(ok, "one credential per mechanism: setting SCRAM-SHA-256 again invalidates its previous password", detail)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partner", default="iuc-smaland", help="partner id to provision (default: %(default)s)")
    parser.add_argument("--own-topics-partner", default="produktionslyftet",
                        help="a second partner, provisioned with its own partner.<id>.* topics (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="leave a broker this script started running, with its data")
    args = parser.parse_args()
    # aiokafka's own error lines would only repeat the checks; authentication_fails reads them.
    aiokafka_log = logging.getLogger("aiokafka")
    aiokafka_log.setLevel(logging.ERROR)
    aiokafka_log.addHandler(logging.NullHandler())
    aiokafka_log.propagate = False

    report = Report()
    home = Path(os.environ.get("REDTHREAD_HOME", HERE.parents[1] / ".local")).resolve() / "kafka-sasl"
    was_running = sasl_sh("status", check=False).returncode == 0
    existed = home.exists()
    try:
        if not was_running:
            sasl_sh("start")
        sasl_sh("create-topics")
        partner_pw = secrets.token_urlsafe(24)
        intake_pw = secrets.token_urlsafe(24)
        sasl_sh("add-partner", args.partner, "-", stdin=partner_pw + "\n")
        sasl_sh("add-service", "intake", "-", stdin=intake_pw + "\n")
        other_pw = secrets.token_urlsafe(24)
        sasl_sh("add-partner", "--own-topics", args.own_topics_partner, "-", stdin=other_pw + "\n")
        # The first partner's own topics exist too (without an ACL): the second must not write them.
        sasl_sh("create-topics", "--partner", args.partner)

        async def run_all() -> None:
            await checks(report, args.partner, partner_pw, intake_pw)
            await own_topics(report, args.partner, args.own_topics_partner, other_pw)

        asyncio.run(run_all())
    except Exception as exc:  # noqa: BLE001 - a setup failure is a failed check, not a traceback
        report.result(False, "setting up the SASL broker", f"{type(exc).__name__}: {exc}")
    finally:
        if not was_running and not args.keep:
            sasl_sh("stop", check=False)
            if not existed:
                sasl_sh("wipe", check=False)
    print(f"{report.passed} passed, {report.failed} failed", flush=True)
    return 0 if report.failed == 0 and report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
