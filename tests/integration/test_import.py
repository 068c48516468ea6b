"""The bulk importer on the real broker and database, with intake running: a partner's
export arrives once, whatever interrupts it, and what is wrong with it is reported by
row and field instead of being sent."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import signal
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import DEAD_LETTERS, NEEDS, PARTNER_NEEDS, PARTNER_RESEARCH_OUTPUTS
from services.common.kafka_security import ADMIN, client_options
from services.common.kafka_provisioning import provision_partner
from services.intake.importer import ImportUsageError, run_import
from tests.conftest import headers_of, read_topic, register_partner

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "deploy" / "demo" / "data" / "import"
ORG_NUMBERS = ["556552-6018", "556581-5908", "556583-0162", "556561-3188", "556590-9966", "556036-0793"]
HEADER = [
    "need_id", "company.org_number", "company.name", "company.county", "coach.name", "coach.email",
    "title", "description", "need_type", "focus_areas", "keywords", "min_trl",
]


def write_needs_csv(path: Path, count: int = 40) -> dict[int, str]:
    """`count` needs as Swedish Excel saves them (BOM, ";", CRLF, a blank row and an
    empty ";;;" row in between); three are broken. Returns {row: field} of the broken."""
    broken: dict[int, str] = {}
    lines = [HEADER]
    for i in range(1, count + 1):
        cells = [
            str(uuid.uuid4()) if i % 2 else "",  # every other row without an id: derived from its content
            ORG_NUMBERS[i % len(ORG_NUMBERS)],
            f"Verkstad nr {i} AB",
            "Jönköpings län",
            "Karin Lindqvist",
            "karin.lindqvist@example.se",
            f"Behov {i}: ställtider i linje {i}",
            f"Omställningen i linje {i} tar för lång tid; vi vill prova SMED.",
            "process",
            "P2;P1",
            "ställtid;omställning;SMED",
            str(3 + i % 5),
        ]
        if i == 7:
            cells[1], broken[len(lines) + 1] = "556036-0794", "company.org_number"
        if i == 19:
            cells[6], broken[len(lines) + 1] = "", "title"
        if i == 33:
            cells[9], broken[len(lines) + 1] = "P2;P9", "focus_areas.1"
        lines.append(cells)
        if i == 12:
            lines.append([])  # a blank row
        if i == 25:
            lines.append([""] * len(HEADER))  # ;;;;;;;;;;; as Excel writes an empty row
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, delimiter=";", lineterminator="\r\n")
        writer.writerows(lines)
    return broken


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream, delimiter=";"))


async def stored(intake, table: str, partner: str) -> list[str]:
    id_column = {"needs": "need_id", "research_outputs": "output_id"}[table]
    async with intake.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT {id_column} FROM {table} WHERE source = $1", f"/partners/{partner}")
    return sorted(str(row[id_column]) for row in rows)


async def eventually_stored(intake, table: str, partner: str, count: int, timeout_s: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        ids = await stored(intake, table, partner)
        if len(ids) >= count or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.2)


async def until_intake_consumed(intake, settings, topic: str, timeout_s: float = 30) -> None:
    """Wait until intake has committed its offsets to the end of `topic` and relayed its
    outbox: whatever it was going to do with the records there, it has done."""
    consumer = AIOKafkaConsumer(**client_options(settings, ADMIN))
    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    await consumer.start()
    await admin.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await consumer._client._wait_on_metadata(topic)]  # noqa: SLF001
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(settings.group_id("intake"), partitions=partitions)
            caught_up = all(committed.get(tp) and committed[tp].offset >= ends[tp] for tp in partitions if ends[tp])
            if caught_up:
                async with intake.pool.acquire() as conn:
                    if await conn.fetchval("SELECT count(*) FROM outbox") == 0:
                        return
            await asyncio.sleep(0.2)
        raise AssertionError(f"intake did not catch up with {topic} within {timeout_s}s")
    finally:
        await admin.close()
        await consumer.stop()


def source_is(partner: str):
    return lambda record: headers_of(record).get("ce_source") == f"/partners/{partner}"


async def test_an_interrupted_import_resumes_and_every_need_arrives_once(intake, settings, tmp_path):
    partner = "import-iuc"
    await register_partner(intake, partner)
    file = tmp_path / "needs.csv"
    broken = write_needs_csv(file)
    state_file = tmp_path / "needs.csv.import-state.json"
    report_file = tmp_path / "needs.csv.errors.csv"

    sent_rows: list[int] = []

    def ctrl_c_after_15_sent(row: int, outcome: str) -> None:
        if outcome == "sent":
            sent_rows.append(row)
            if len(sent_rows) == 15:
                raise KeyboardInterrupt

    first = await run_import(
        file, partner=partner, kind="needs", settings=settings, batch_size=10, on_row=ctrl_c_after_15_sent
    )
    state = json.loads(state_file.read_text())
    assert first.interrupted and first.exit_code == 130
    assert first.sent == 15 and first.skipped == 0
    assert state["through_row"] == sent_rows[-1] and state["rows_acknowledged"] == 15 and not state["complete"]
    assert any("Run the same command again to resume" in line for line in first.lines())

    second = await run_import(file, partner=partner, kind="needs", settings=settings, batch_size=10)
    assert (second.rows_read, second.sent, second.skipped, second.invalid) == (40, 22, 15, 3)
    assert second.exit_code == 1 and not second.interrupted
    assert second.error_report == report_file
    report = read_report(report_file)
    assert {(int(line["row"]), line["field"]) for line in report} == set(broken.items())
    org_problem = next(line for line in report if line["field"] == "company.org_number")
    assert org_problem["message"] == "Swedish organisationsnummer fails its Luhn check digit"
    assert org_problem["value"] == "556036-0794"
    state = json.loads(state_file.read_text())
    assert state["complete"] and state["rows_acknowledged"] == 37

    need_ids = await eventually_stored(intake, "needs", partner, 37)
    assert len(need_ids) == 37
    canonical = await read_topic(settings, settings.topic(NEEDS.name), at_least=37, where=source_is(partner))
    assert Counter(record.key.decode() for record in canonical) == Counter(need_ids)  # each exactly once

    third = await run_import(file, partner=partner, kind="needs", settings=settings, batch_size=10)
    assert (third.rows_read, third.sent, third.skipped, third.invalid) == (40, 0, 37, 3)
    assert "Nothing new to send: every valid row had been imported before." in third.lines()

    # Even sending every row again (as after a crash before the checkpoint) changes nothing:
    # the event ids are the same, and intake's inbox knows them.
    again = await run_import(file, partner=partner, kind="needs", settings=settings, restart=True)
    assert (again.sent, again.skipped) == (37, 0)
    await until_intake_consumed(intake, settings, settings.topic(PARTNER_NEEDS.name))
    assert await stored(intake, "needs", partner) == need_ids
    canonical = await read_topic(
        settings, settings.topic(NEEDS.name), at_least=38, timeout_s=3, where=source_is(partner)
    )
    assert Counter(record.key.decode() for record in canonical) == Counter(need_ids)

    sent = await read_topic(settings, settings.topic(PARTNER_NEEDS.name), at_least=74, where=source_is(partner))
    assert len(sent) == 74
    assert set(Counter(headers_of(record)["ce_id"] for record in sent).values()) == {2}  # 37 ids, each twice
    assert all(record.key.decode() == json.loads(record.value)["need_id"] for record in sent)
    ours = f"/partners/{partner}".encode()
    letters = await read_topic(settings, settings.topic(DEAD_LETTERS.name), timeout_s=2, where=lambda r: ours in r.value)
    assert letters == []


def write_outputs_jsonl(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as stream:
        for i in range(1, count + 1):
            stream.write(json.dumps({
                "project": "Produktion2030: Snabba omställningar",
                "output_type": "method",
                "title": f"Metod {i} för kortare ställtider",
                "summary": f"Steg {i} i en metod för kortare ställtider i pressar.",
                "trl": 6,
                "keywords": ["ställtid", "SMED"],
                "published_at": "2026-10-01T09:00:00+02:00",
            }, ensure_ascii=False) + "\n")


async def test_ctrl_c_waits_for_the_broker_and_the_same_command_resumes(intake, settings, tmp_path):
    partner = "import-ctrl-c"
    await register_partner(intake, partner)
    file = tmp_path / "outputs.jsonl"
    write_outputs_jsonl(file, 30)

    def ctrl_c_at_row_12(row: int, outcome: str) -> None:
        if row == 12:
            os.kill(os.getpid(), signal.SIGINT)  # what the terminal does on Ctrl-C

    first = await run_import(
        file, partner=partner, kind="research-outputs", settings=settings, batch_size=5,
        handle_signals=True, on_row=ctrl_c_at_row_12,
    )
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handed back
    assert first.interrupted and first.exit_code == 130
    assert 12 <= first.sent < 30 and first.through_row == first.sent  # rows = lines, all valid

    second = await run_import(file, partner=partner, kind="research-outputs", settings=settings, batch_size=5)
    assert (second.sent, second.skipped, second.invalid, second.exit_code) == (30 - first.sent, first.sent, 0, 0)
    assert second.error_report is None and not (tmp_path / "outputs.jsonl.errors.csv").exists()
    assert len(await eventually_stored(intake, "research_outputs", partner, 30)) == 30
    await until_intake_consumed(intake, settings, settings.topic(PARTNER_RESEARCH_OUTPUTS.name))
    assert len(await stored(intake, "research_outputs", partner)) == 30


async def test_a_changed_file_or_other_partner_is_not_resumed_blindly(intake, settings, tmp_path):
    file = tmp_path / "outputs.jsonl"
    write_outputs_jsonl(file, 3)
    await register_partner(intake, "import-changes")
    done = await run_import(file, partner="import-changes", kind="research-outputs", settings=settings)
    assert done.sent == 3

    with pytest.raises(ImportUsageError, match="partner import-changes"):
        await run_import(file, partner="import-other", kind="research-outputs", settings=settings)
    with file.open("a", encoding="utf-8") as stream:
        stream.write(file.read_text(encoding="utf-8").splitlines()[0].replace("Metod 1", "Metod 4") + "\n")
    with pytest.raises(ImportUsageError, match="changed since the import"):
        await run_import(file, partner="import-changes", kind="research-outputs", settings=settings)
    restarted = await run_import(
        file, partner="import-changes", kind="research-outputs", settings=settings, restart=True
    )
    assert (restarted.sent, restarted.skipped) == (4, 0)
    assert len(await eventually_stored(intake, "research_outputs", "import-changes", 4)) == 4
    await until_intake_consumed(intake, settings, settings.topic(PARTNER_RESEARCH_OUTPUTS.name))
    assert len(await stored(intake, "research_outputs", "import-changes")) == 4  # the first three once


async def test_excels_plain_csv_in_windows_1252_is_read_as_such(intake, settings, tmp_path):
    partner = "import-cp1252"
    await register_partner(intake, partner)
    file = tmp_path / "behov.csv"
    file.write_bytes(
        "company.org_number;company.name;company.county;title;description;need_type\r\n"
        "556036-0793;Värnamo Pressgjuteri AB;Jönköpings län;Ställtider;Omställning tar två timmar.;process\r\n"
        .encode("cp1252")
    )
    summary = await run_import(file, partner=partner, kind="needs", settings=settings)
    assert (summary.sent, summary.invalid) == (1, 0)
    (need_id,) = await eventually_stored(intake, "needs", partner, 1)
    async with intake.pool.acquire() as conn:
        data = json.loads(await conn.fetchval("SELECT data FROM needs WHERE need_id = $1", uuid.UUID(need_id)))
    assert (data["title"], data["company"]["name"]) == ("Ställtider", "Värnamo Pressgjuteri AB")


async def test_a_partner_with_its_own_topics_imports_onto_them(intake, settings, tmp_path):
    partner = "import-own"
    await register_partner(intake, partner, own_kafka_topics=True)
    await provision_partner(settings, partner)
    file = tmp_path / "outputs.jsonl"
    write_outputs_jsonl(file, 3)

    summary = await run_import(file, partner=partner, kind="research-outputs", settings=settings, own_topic=True)
    assert summary.topic == settings.topic(f"partner.{partner}.research-outputs.v1") and summary.sent == 3
    assert len(await eventually_stored(intake, "research_outputs", partner, 3)) == 3

    # The shared topic is no place for it: intake refuses, with the reason.
    other = tmp_path / "more.jsonl"
    write_outputs_jsonl(other, 1)
    shared = await run_import(other, partner=partner, kind="research-outputs", settings=settings)
    assert shared.topic == settings.topic(PARTNER_RESEARCH_OUTPUTS.name) and shared.sent == 1
    letters = await read_topic(
        settings, settings.topic(DEAD_LETTERS.name), where=lambda r: f"/partners/{partner}".encode() in r.value
    )
    assert "its own topics" in headers_of(letters[0])["dlq_reason"]


async def cli(settings, *args: str, cwd: Path) -> tuple[int, str, str]:
    env = os.environ | {
        "REDTHREAD_NAMESPACE": settings.namespace,
        "REDTHREAD_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.intake.importer", *args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, out.decode(), err.decode()


async def test_the_command_line_imports_the_sample_files(intake, settings, tmp_path):
    await register_partner(intake, "import-cli")
    for name in ("needs.csv", "research_outputs.jsonl"):
        shutil.copy(SAMPLES / name, tmp_path / name)

    code, out, err = await cli(settings, "needs.csv", "--partner", "import-cli", "--kind", "needs", cwd=tmp_path)
    assert code == 1, err
    assert "rows read        8" in out and "sent             6" in out and "invalid          2" in out
    assert "needs.csv.errors.csv" in out and "redthread.dead-letters.v1" in out
    assert {line["field"] for line in read_report(tmp_path / "needs.csv.errors.csv")} == {
        "company.org_number", "description", "focus_areas.1"
    }

    code, out, err = await cli(
        settings, "research_outputs.jsonl", "--partner", "import-cli", "--kind", "research-outputs", "--no-progress",
        cwd=tmp_path,
    )
    assert code == 0, err
    assert "sent             4" in out

    code, out, _ = await cli(settings, "needs.csv", "--partner", "import-cli", "--kind", "needs", cwd=tmp_path)
    assert code == 1 and "skipped          6" in out and "Nothing new to send" in out

    assert len(await eventually_stored(intake, "needs", "import-cli", 6)) == 6
    assert len(await eventually_stored(intake, "research_outputs", "import-cli", 4)) == 4


async def test_the_command_line_refuses_what_it_cannot_do(settings, tmp_path):
    shutil.copy(SAMPLES / "needs.csv", tmp_path / "needs.csv")

    code, _, err = await cli(settings, "needs.csv", "--partner", "import-cli", "--kind", "participations", cwd=tmp_path)
    assert code == 2
    assert "the header does not fit --kind participations" in err and "unknown column 'need_id'" in err

    code, _, err = await cli(settings, "needs.csv", "--partner", "import-cli", "--kind", "feedback", cwd=tmp_path)
    assert code == 2 and "invalid choice" in err

    code, _, err = await cli(settings, "missing.csv", "--partner", "import-cli", "--kind", "needs", cwd=tmp_path)
    assert code == 2 and "is not a file" in err

    code, _, err = await cli(settings, "needs.csv", "--partner", "IUC Småland", "--kind", "needs", cwd=tmp_path)
    assert code == 2 and "partner id" in err

    code, _, err = await cli(
        settings, "needs.csv", "--partner", "import-cli", "--kind", "needs", "--namespace", "no-such-namespace",
        "--no-progress", cwd=tmp_path,
    )
    assert code == 3 and "no-such-namespace.partner.needs.v1" in err
    assert not (tmp_path / "needs.csv.import-state.json").exists()
