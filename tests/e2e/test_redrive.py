"""A partner's first need arrives before the partner is registered: intake dead-letters it
with the reason. Once the partner is registered, the operator redrives it with
`python -m services.ops dead-letters redrive`, and it is accepted exactly once, however
many times it is redriven; each redrive is recorded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from contracts.topics import DEAD_LETTERS, NEEDS
from deploy.demo.partners import provision
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.conftest import a_need, publish_event, read_topic

ROOT = Path(__file__).resolve().parents[2]
LATE = Partner("late-crm", "A CRM registered after its first need", event_types("needs"))


def ops(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "REDTHREAD_NAMESPACE": settings.namespace, "DATABASE_URL": settings.database_url}
    return subprocess.run([sys.executable, "-m", "services.ops", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


async def test_a_need_refused_for_an_unknown_partner_is_redriven_once_the_partner_is_registered(
    platform, settings, producer
):
    need = a_need()
    need_id = str(need.need_id)
    await publish_event(producer, settings.topic("partner.needs.v1"), need, source="/partners/late-crm", key=need_id)
    [letter] = await read_topic(settings, settings.topic(DEAD_LETTERS.name), where=lambda r: need_id in r.value.decode())
    assert b"not a registered partner" in dict(letter.headers)["dlq_reason"]

    listed = await asyncio.to_thread(ops, settings, "dead-letters", "list", "--consumer", "intake")
    assert listed.returncode == 0, listed.stderr
    assert "not a registered partner" in listed.stdout and "1 dead letters" in listed.stdout
    dry = await asyncio.to_thread(ops, settings, "dead-letters", "redrive", "--reason", "not a registered partner",
                                  "--dry-run")
    assert "would redrive 1 of 1 dead letters" in dry.stdout, dry.stdout + dry.stderr

    await provision(settings, (LATE,))
    await asyncio.sleep(1.5)  # intake's partner cache learns the new partner
    for _ in range(2):  # an operator's second redrive of the same letter changes nothing
        redriven = await asyncio.to_thread(ops, settings, "dead-letters", "redrive", "--reason",
                                           "not a registered partner")
        assert redriven.returncode == 0 and "redriven 1 of 1 dead letters" in redriven.stdout, \
            redriven.stdout + redriven.stderr

    accepted = await read_topic(settings, settings.topic(NEEDS.name), where=lambda r: need_id in r.value.decode(),
                                at_least=2, timeout_s=8)
    assert len(accepted) == 1  # accepted, and exactly once
    assert dict(accepted[0].headers)["ce_type"] == b"redthread.need.submitted"
    letters = await read_topic(settings, settings.topic(DEAD_LETTERS.name), at_least=2, timeout_s=3,
                               where=lambda r: need_id in r.value.decode())
    assert len(letters) == 1  # the redrives were not refused
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("SELECT new_event_id, redrive_count, consumer FROM operations.redrives")
    finally:
        await conn.close()
    assert len(rows) == 2 and {row["new_event_id"] for row in rows} == {rows[0]["new_event_id"]}
    assert rows[0]["new_event_id"].endswith(f"~redrive-{letter_id(letter)[:12]}") and rows[0]["consumer"] == "intake"


def letter_id(record) -> str:
    return dict(record.headers)["ce_id"].decode().replace("-", "")
