"""`dead-letters list | show | redrive`: what the consumers refused, why, and sending it
back once its cause is fixed.

Dead letters are read from redthread.dead-letters.v1 (as admin), each with the record it
refused kept whole (services/common/dead_letters.py). **Redrive** sends that record back to
its source topic with its key, value and headers, but under a new event id: the original
id's inbox key was claimed when it was refused, so the same id would be taken for a
duplicate. The new id is derived from the dead letter's own id (`<original id>~redrive-
<first 12 of the dead letter's id>`), so redriving the same letter twice sends the same
event twice, which the inbox accepts once. Headers say what it redrives
(`redthread_redrive_of`) and how many times this record has been redriven
(`redthread_redrive_count`); a record redriven MAX_REDRIVES times and refused again is
quarantined: listed, not redriven, unless --force. Every redrive is recorded in the
`operations.redrives` table.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.envelope import decode
from contracts.events import DeadLetterRecord
from contracts.topics import DEAD_LETTERS
from services.common.db import apply_migrations, create_pool
from services.common.kafka_security import ADMIN, client_options
from services.common.settings import Settings
from services.ops.arguments import moment

MAX_REDRIVES = 3
REASON_SHOWN_CHARS = 100


@dataclass(frozen=True)
class Letter:
    dead_letter_id: str
    letter: DeadLetterRecord

    @property
    def redrive_count(self) -> int:
        return int(self.letter.original_headers.get("redthread_redrive_count", "0") or 0)

    @property
    def quarantined(self) -> bool:
        return self.redrive_count >= MAX_REDRIVES

    def redriven_id(self) -> str:
        original = self.letter.original_headers.get("ce_id") or "unidentified"
        return f"{original.split('~redrive-')[0]}~redrive-{self.dead_letter_id.replace('-', '')[:12]}"


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("dead-letters", help="what consumers refused: list, show one, redrive")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def filters(command: argparse.ArgumentParser) -> None:
        command.add_argument("--consumer", help="refused by this consumer (intake, matching, …)")
        command.add_argument("--source-topic", help="from this topic (its registry name, e.g. partner.needs.v1)")
        command.add_argument("--reason", help="whose reason contains this text")
        command.add_argument("--since", type=moment, help="refused at or after: an ISO time, or an age such as 2h, 7d")

    listing = commands.add_parser("list", help="dead letters, oldest first, with a histogram of reasons")
    filters(listing)
    listing.set_defaults(run=list_letters)

    show = commands.add_parser("show", help="one dead letter with the record it refused")
    show.add_argument("id", help="the dead letter's id (as `list` shows it; a unique prefix will do)")
    show.set_defaults(run=show_letter)

    redrive = commands.add_parser("redrive", help="send dead letters back to their source topic")
    filters(redrive)
    redrive.add_argument("ids", nargs="*", metavar="ID", help="only these dead letters (unique prefixes will do)")
    redrive.add_argument("--dry-run", action="store_true", help="say what would be sent, with a histogram of reasons")
    redrive.add_argument("--max", type=int, default=100, help="send at most this many (default 100)")
    redrive.add_argument("--force", action="store_true", help=f"redrive quarantined ones too (redriven {MAX_REDRIVES}×)")
    redrive.set_defaults(run=redrive_letters)


async def read_letters(settings: Settings) -> list[Letter]:
    """Every dead letter on the topic, oldest first (read to the end, as admin)."""
    topic = settings.topic(DEAD_LETTERS.name)
    consumer = AIOKafkaConsumer(**client_options(settings, ADMIN), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    letters: list[Letter] = []
    try:
        found = consumer.partitions_for_topic(topic)
        if not found:  # metadata is fetched lazily; aiokafka has no public refresh
            await consumer._client.force_metadata_update()  # noqa: SLF001
            found = consumer.partitions_for_topic(topic) or ()
        partitions = [TopicPartition(topic, p) for p in found]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers or ()}
                    try:
                        event = decode(headers, record.value, {DeadLetterRecord.EVENT_TYPE})
                    except Exception:  # noqa: BLE001 - a letter we cannot read is skipped, and said
                        print(f"(unreadable dead letter at {record.topic}/{record.partition}/{record.offset})")
                        continue
                    letters.append(Letter(event.id, event.data))
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda letter: letter.letter.failed_at)


def chosen(
    letters: list[Letter], settings: Settings, *, consumer: str | None = None, source_topic: str | None = None,
    reason: str | None = None, since: datetime | None = None, ids: Sequence[str] = (),
) -> list[Letter]:
    """The letters that pass every filter given: refused by `consumer`, from `source_topic`
    (its registry name), with `reason` in their reason, at or after `since`, whose id
    starts with one of `ids`."""
    source = settings.topic(source_topic) if source_topic else None
    return [
        letter for letter in letters
        if (not consumer or letter.letter.consumer == consumer)
        and (not source or letter.letter.source_topic == source)
        and (not reason or reason.lower() in letter.letter.reason.lower())
        and (not since or letter.letter.failed_at >= since)
        and (not ids or any(letter.dead_letter_id.startswith(prefix) for prefix in ids))
    ]


async def keep_letter(conn: asyncpg.Connection, letter: Letter) -> None:
    """The console's copy of a dead letter (migration 002), kept once."""
    record = letter.letter
    await conn.execute(
        "INSERT INTO dead_letters (dead_letter_id, failed_at, consumer, source_topic, reason, letter)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dead_letter_id) DO NOTHING",
        letter.dead_letter_id, record.failed_at, record.consumer, record.source_topic, record.reason,
        record.model_dump_json(),
    )


@dataclass(frozen=True)
class KeptLetters:
    total: int  # that pass the filters
    newest: list[Letter]  # the newest `most` of them, newest first
    reasons: list[tuple[str, int]]  # over all that pass, as `reasons` counts them
    consumers: list[str]  # of every kept letter
    source_topics: list[str]


async def kept_letters(
    conn: asyncpg.Connection, settings: Settings, *, consumer: str | None = None, source_topic: str | None = None,
    reason: str | None = None, since: datetime | None = None, ids: Sequence[str] = (), most: int | None = None,
) -> KeptLetters:
    """The kept letters that pass the filters, with the meaning `chosen` gives them."""
    where = (
        " WHERE ($1::text IS NULL OR consumer = $1) AND ($2::text IS NULL OR source_topic = $2)"
        " AND ($3::text IS NULL OR strpos(lower(reason), lower($3)) > 0) AND ($4::timestamptz IS NULL OR failed_at >= $4)"
        " AND (cardinality($5::text[]) = 0 OR EXISTS (SELECT 1 FROM unnest($5::text[]) AS p(prefix)"
        "      WHERE starts_with(dead_letter_id, p.prefix)))"
    )
    filters = (consumer or None, settings.topic(source_topic) if source_topic else None, reason or None, since,
               list(ids))
    found = await conn.fetch(f"SELECT reason FROM dead_letters{where} ORDER BY failed_at, dead_letter_id", *filters)
    newest = await conn.fetch(
        f"SELECT dead_letter_id, letter FROM dead_letters{where} ORDER BY failed_at DESC, dead_letter_id LIMIT $6",
        *filters, most,
    )
    others = await conn.fetchrow(
        "SELECT array(SELECT DISTINCT consumer FROM dead_letters ORDER BY 1) AS consumers,"
        " array(SELECT DISTINCT source_topic FROM dead_letters ORDER BY 1) AS topics"
    )
    return KeptLetters(
        total=len(found),
        newest=[Letter(row["dead_letter_id"], DeadLetterRecord.model_validate_json(row["letter"])) for row in newest],
        reasons=Counter(reason_kind(row["reason"]) for row in found).most_common(),
        consumers=list(others["consumers"]),
        source_topics=[settings.registry_name(topic) for topic in others["topics"]],
    )


def _chosen_by(args: argparse.Namespace, letters: list[Letter], settings: Settings) -> list[Letter]:
    return chosen(letters, settings, consumer=args.consumer, source_topic=args.source_topic, reason=args.reason,
                  since=args.since, ids=getattr(args, "ids", None) or ())


async def list_letters(args: argparse.Namespace, settings: Settings) -> int:
    letters = _chosen_by(args, await read_letters(settings), settings)
    for letter in letters:
        print(_line(letter))
    print(f"{len(letters)} dead letters")
    _histogram(letters)
    return 0


async def show_letter(args: argparse.Namespace, settings: Settings) -> int:
    found = [letter for letter in await read_letters(settings) if letter.dead_letter_id.startswith(args.id)]
    if len(found) != 1:
        print(f"{len(found)} dead letters have an id starting {args.id!r}: name one")
        return 1
    [letter] = found
    record = letter.letter
    print(f"dead letter {letter.dead_letter_id}")
    print(f"  refused by   {record.consumer} at {record.failed_at.isoformat()}")
    print(f"  reason       {record.reason}")
    for problem in record.problems:
        print(f"  problem      {problem.location}: {problem.message}")
    print(f"  from         {record.source_topic} partition {record.source_partition} offset {record.source_offset}")
    print(f"  redriven     {letter.redrive_count} time(s) before" + (" — quarantined" if letter.quarantined else ""))
    print(f"  key          {record.original_key}")
    print("  headers      " + json.dumps(record.original_headers, ensure_ascii=False))
    value = readable_value(record)
    print(f"  value ({record.original_value_encoding}, {record.original_value_bytes} bytes"
          + (", cut" if record.original_truncated else "") + "):")
    print("\n".join("    " + line for line in value.splitlines()))
    return 0


@dataclass(frozen=True)
class RedrivePlan:
    sendable: list[Letter]
    quarantined: list[Letter]  # redriven MAX_REDRIVES times and refused again
    cut: list[Letter]  # kept cut to fit the dead letter: not whole, so not sent
    past_max: int  # sendable, but beyond the most asked for


def plan_redrive(letters: list[Letter], most: int, force: bool = False) -> RedrivePlan:
    quarantined = [letter for letter in letters if letter.quarantined and not force]
    cut = [letter for letter in letters if letter.letter.original_truncated]
    whole = [letter for letter in letters if letter not in quarantined and letter not in cut]
    return RedrivePlan(whole[:most], quarantined, cut, max(0, len(whole) - most))


def readable_value(record: DeadLetterRecord) -> str:
    """The refused record's value as a person reads it: JSON indented, other text as it
    is, anything else in base64."""
    if record.original_value_encoding == "utf-8":
        try:
            return json.dumps(json.loads(record.original_value), ensure_ascii=False, indent=2)
        except ValueError:
            pass
    return record.original_value


async def redrive_letters(args: argparse.Namespace, settings: Settings) -> int:
    letters = _chosen_by(args, await read_letters(settings), settings)
    plan = plan_redrive(letters, args.max, args.force)
    verb = "would redrive" if args.dry_run else "redriven"
    if not args.dry_run and plan.sendable:
        await send_redrives(settings, plan.sendable, getpass.getuser())
    for letter in plan.sendable:
        print(f"{verb} {letter.dead_letter_id} as {letter.redriven_id()} to {letter.letter.source_topic}")
    for letter in plan.quarantined:
        print(f"quarantined {letter.dead_letter_id}: redriven {letter.redrive_count} times already (--force sends it)")
    for letter in plan.cut:
        print(f"not redriven {letter.dead_letter_id}: its record was cut to fit; read it whole from "
              f"{letter.letter.source_topic}/{letter.letter.source_partition}/{letter.letter.source_offset}")
    print(f"{verb} {len(plan.sendable)} of {len(letters)} dead letters"
          + (f" ({plan.past_max} past --max)" if plan.past_max else ""))
    _histogram(plan.sendable)
    return 0


async def send_redrives(settings: Settings, letters: list[Letter], redriven_by: str) -> None:
    """Sends each letter's record back to its source topic under its new id, and records it."""
    producer = AIOKafkaProducer(**client_options(settings, ADMIN), acks="all", enable_idempotence=True)
    pool = await create_pool(settings.database_url, "operations", max_size=2)
    try:
        await apply_migrations(pool, "services.ops")
        await producer.start()
        for letter in letters:
            record = letter.letter
            headers = dict(record.original_headers) | {
                "ce_id": letter.redriven_id(),
                "redthread_redrive_of": letter.dead_letter_id,
                "redthread_redrive_count": str(letter.redrive_count + 1),
            }
            value = (record.original_value.encode() if record.original_value_encoding == "utf-8"
                     else base64.b64decode(record.original_value))
            await producer.send_and_wait(
                record.source_topic, value, key=record.original_key.encode() if record.original_key else None,
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
            async with pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO redrives (dead_letter_id, new_event_id, source_topic, consumer, reason, redrive_count,"
                    " redriven_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    letter.dead_letter_id, letter.redriven_id(), record.source_topic, record.consumer,
                    record.reason[:500], letter.redrive_count + 1, redriven_by,
                )
    finally:
        await producer.stop()
        await pool.close()


def _line(letter: Letter) -> str:
    record = letter.letter
    reason = record.reason.replace("\n", " ")
    if len(reason) > REASON_SHOWN_CHARS:
        reason = reason[: REASON_SHOWN_CHARS - 1] + "…"
    when = record.failed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    flag = "  [quarantined]" if letter.quarantined else ""
    return f"{letter.dead_letter_id}  {when}  {record.consumer:<14} {record.source_topic}  {reason}{flag}"


def _histogram(letters: list[Letter]) -> None:
    if not letters:
        return
    print("by reason:")
    for reason, count in reasons(letters):
        print(f"  {count:>5}  {reason}")


def reasons(letters: list[Letter]) -> list[tuple[str, int]]:
    """How many letters for each kind of reason, the commonest first."""
    return Counter(reason_kind(letter.letter.reason) for letter in letters).most_common()


def reason_kind(reason: str) -> str:
    """A reason without what varies from record to record (quoted values, ids)."""
    kind = re.sub(r"'[^']*'|\"[^\"]*\"", "…", reason)
    kind = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", kind)
    return kind[:REASON_SHOWN_CHARS]
