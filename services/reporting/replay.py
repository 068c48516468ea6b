"""Rebuild every read model of reporting from the beginning of its topics: `make replay`.

    python -m services.reporting.replay [--into SCHEMA] [--swap] [--batch-size N]

Reads every partition of reporting's topics from its first offset up to the end offsets
taken at start, without a consumer group (the running service is not disturbed), and
projects the events with the same consumer and projection code as the service, in
batches, into a fresh schema (default `reporting_replay`, dropped and migrated first).

--swap (stop the reporting service first): renames the schemas in one transaction, so
that the rebuilt one becomes `reporting` and the old one `reporting_previous` (an older
`reporting_previous` is dropped), and sets the committed offsets of reporting's consumer
group to the end offsets the replay stopped at, so that the restarted service goes on
exactly there. The replay also fills the inbox of the schema it builds, so even a
restart from older offsets would change nothing.

REDTHREAD_NAMESPACE and DATABASE_URL are read as by the services.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from services.common.consumer import BatchOutcome, EventConsumer
from services.common.failures import is_transient
from services.common.db import apply_migrations, create_pool
from services.common.kafka_security import client_options, service_principal
from services.common.settings import Settings
from services.reporting.projections import PROJECTED_TOPICS, PROJECTED_TYPES, erase_again, project_batch

log = logging.getLogger(__name__)

SERVICE = "reporting"  # the service's schema, consumer group and inbox consumer
DEFAULT_SCHEMA = "reporting_replay"
PREVIOUS_SCHEMA = "reporting_previous"
STALL_S = 30.0
READ_MODEL_TABLES = ("companies", "participations", "needs", "research_outputs", "need_matches", "company_timeline",
                     "feedback_answers", "output_uptake", "output_credits", "output_credit_companies")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass
class ReplayResult:
    schema: str
    events: int = 0  # records read, up to the end offsets
    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    refused_again: int = 0  # records the live service has dead-lettered already
    end_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    seconds: float = 0.0


async def replay(
    settings: Settings,
    into: str = DEFAULT_SCHEMA,
    *,
    batch_size: int = 2000,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda records: None,
) -> ReplayResult:
    """Project every record of reporting's topics, up to their end offsets now, into a
    fresh schema `into`. `on_start` gets the number of records to read, `on_progress`
    the number read by each batch."""
    _check_schema_name(into)
    started = time.perf_counter()
    kafka = AIOKafkaConsumer(
        **client_options(settings, service_principal(SERVICE)),
        group_id=None,
        enable_auto_commit=False,
        client_id="redthread-reporting-replay",
        max_partition_fetch_bytes=4 << 20,
        # assign() resets the new partitions' positions by this policy, and that reset can
        # land after seek_to_beginning below: with the default ("latest") every partition
        # then seemed read to its end and the replay projected nothing.
        auto_offset_reset="earliest",
    )
    await kafka.start()
    pool = None
    try:
        partitions = await _partitions_of(kafka, [settings.topic(t.name) for t in PROJECTED_TOPICS])
        kafka.assign(partitions)
        begin = await kafka.beginning_offsets(partitions)
        end = await kafka.end_offsets(partitions)
        await kafka.seek_to_beginning(*partitions)
        result = ReplayResult(into, end_offsets=end)
        on_start(sum(end[tp] - begin[tp] for tp in partitions))

        pool = await _fresh_schema(settings.database_url, into)
        consumer = EventConsumer(SERVICE, pool, settings, set(PROJECTED_TYPES), project_batch, PROJECTED_TOPICS)
        unfinished = {tp for tp in partitions if begin[tp] < end[tp]}
        kafka.pause(*(set(partitions) - unfinished))
        idle_since = time.monotonic()
        while unfinished:
            fetched = await kafka.getmany(*unfinished, timeout_ms=500, max_records=batch_size)
            records: list[ConsumerRecord] = []
            for tp, part in fetched.items():
                records += [record for record in part if record.offset < end[tp]]
            for tp in list(unfinished):
                if await kafka.position(tp) >= end[tp]:
                    unfinished.discard(tp)
                    kafka.pause(tp)
            if not fetched and time.monotonic() - idle_since > STALL_S:
                # The end offsets were taken at start; records up to them cannot vanish
                # unless retention deletes them meanwhile. Say so rather than wait forever.
                log.warning("no records for %.0fs below the end offsets of %s; stopping there", STALL_S,
                            ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(unfinished)))
                for tp in unfinished:  # so that a swap lets the service go on from here
                    end[tp] = await kafka.position(tp)
                break
            if fetched:
                idle_since = time.monotonic()
            if records:
                outcome = await _consume_retrying(consumer, records)
                result.events += len(records)
                for name in vars(outcome):
                    setattr(result.outcome, name, getattr(result.outcome, name) + getattr(outcome, name))
                on_progress(len(records))
        async with pool.acquire() as conn:
            # An erased person's events may have been projected after their erasure:
            # everyone erased is erased once more, so the rebuilt models hold none of them.
            await erase_again(conn)
            # What the live service dead-lettered is in the dead-letter topic already.
            result.refused_again = await conn.fetchval("WITH gone AS (DELETE FROM outbox RETURNING 1) SELECT count(*) FROM gone")
            await conn.execute(f"ANALYZE {', '.join(READ_MODEL_TABLES)}")  # fresh tables, no statistics yet
    finally:
        await kafka.stop()
        if pool is not None:
            await pool.close()
    result.seconds = time.perf_counter() - started
    return result


async def _consume_retrying(consumer: EventConsumer, records: list[ConsumerRecord], attempts: int = 6) -> BatchOutcome:
    """A transient failure (the database restarting, say) retries the batch; the consumer
    backs off before it raises."""
    for attempt in range(attempts):
        try:
            return await consumer.consume(records)
        except Exception as error:
            if not is_transient(error) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def _partitions_of(kafka: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    partitions = []
    for topic in topics:
        numbers = kafka.partitions_for_topic(topic)
        if not numbers:
            await kafka._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
            numbers = kafka.partitions_for_topic(topic)
        if not numbers:
            raise RuntimeError(f"topic {topic} does not exist (run `make topics`, or check REDTHREAD_NAMESPACE)")
        partitions += [TopicPartition(topic, n) for n in sorted(numbers)]
    return partitions


async def _fresh_schema(database_url: str, schema: str) -> asyncpg.Pool:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
    pool = await create_pool(database_url, schema)
    await apply_migrations(pool, "services.common", "services.reporting")
    async with pool.acquire() as conn:
        # The person keys are the service's, not a projection: the replay opens what the
        # service opens, and an erased person stays erased.
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{SERVICE}.person_keys"):
            await conn.execute(f"INSERT INTO person_keys SELECT * FROM {SERVICE}.person_keys")
            await conn.execute(f"INSERT INTO erased_persons SELECT * FROM {SERVICE}.erased_persons ON CONFLICT DO NOTHING")
    return pool


def _check_schema_name(schema: str) -> None:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema {schema!r}: lower-case letters, digits and '_' only")
    if schema in (SERVICE, PREVIOUS_SCHEMA):
        raise ValueError(f"the replay builds a schema of its own, not {schema!r}")


# --- swapping the rebuilt schema in ------------------------------------------------------


async def swap(settings: Settings, replayed: ReplayResult) -> None:
    """Make the replayed schema `reporting` and let the group go on from the replay's end
    offsets. Refuses while the reporting service still consumes."""
    group = settings.group_id(SERVICE)
    if members := await _group_members(settings, group):
        raise RuntimeError(f"consumer group {group} still has {members} member(s): stop the reporting service first")
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():  # DDL is transactional: readers see the old or the new schema
            await conn.execute(f'DROP SCHEMA IF EXISTS "{PREVIOUS_SCHEMA}" CASCADE')
            if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", SERVICE):
                await conn.execute(f'ALTER SCHEMA "{SERVICE}" RENAME TO "{PREVIOUS_SCHEMA}"')
            await conn.execute(f'ALTER SCHEMA "{replayed.schema}" RENAME TO "{SERVICE}"')
    finally:
        await conn.close()
    # After the rename: should this fail, the service restarts from its old offsets and
    # the inbox the replay filled makes the records it reads again no-ops.
    await commit_offsets(settings, group, replayed.end_offsets)


async def commit_offsets(settings: Settings, group: str, offsets: dict[TopicPartition, int]) -> None:
    kafka = AIOKafkaConsumer(
        **client_options(settings, service_principal(SERVICE)), group_id=group, enable_auto_commit=False,
        client_id="redthread-reporting-replay",
    )
    await kafka.start()
    try:
        kafka.assign(list(offsets))
        await kafka.commit({tp: OffsetAndMetadata(offset, "set by reporting replay") for tp, offset in offsets.items()})
    finally:
        await kafka.stop()


async def _group_members(settings: Settings, group: str) -> int:
    admin = AIOKafkaAdminClient(**client_options(settings, service_principal(SERVICE)), client_id="redthread-reporting-replay")
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
        return sum(len(described[5]) for described in response.groups)  # (error, group, state, type, protocol, members, …)
    finally:
        await admin.close()


# --- command line ----------------------------------------------------------------------


async def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
    from rich.table import Table

    parser = argparse.ArgumentParser(prog="python -m services.reporting.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--into", default=DEFAULT_SCHEMA, help=f"schema to build (default {DEFAULT_SCHEMA}; dropped first)")
    parser.add_argument("--swap", action="store_true",
                        help="stop the reporting service first: make the rebuilt schema `reporting`, keep the old one as "
                             f"`{PREVIOUS_SCHEMA}`, and set reporting's committed offsets to where the replay stopped")
    parser.add_argument("--batch-size", type=int, default=2000, help="records per transaction (default 2000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)-7s [%(name)s] %(message)s")
    settings = Settings()
    console = Console(stderr=True)
    if args.swap and await _group_members(settings, settings.group_id(SERVICE)):
        console.print("[red]the reporting service is running: stop it before --swap[/red]")
        return 2

    with Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console,
    ) as progress:
        task = progress.add_task("replay", total=None, rate="")
        started = time.perf_counter()

        def advanced(records: int) -> None:
            progress.advance(task, records)
            done = progress.tasks[0].completed
            progress.update(task, rate=f"{done / max(time.perf_counter() - started, 1e-3):,.0f} events/s")

        result = await replay(
            settings, args.into, batch_size=args.batch_size,
            on_start=lambda total: progress.update(task, total=total), on_progress=advanced,
        )

    summary = Table(title=f"replay into schema {result.schema}", show_header=False)
    outcome = result.outcome
    for label, value in (
        ("records read", f"{result.events:,}"),
        ("projected", f"{outcome.handled:,}"),
        ("not reporting's (skipped)", f"{outcome.skipped:,}"),
        ("the same event again (inbox)", f"{outcome.duplicates:,}"),
        ("refused (dead-lettered live already)", f"{result.refused_again:,}"),
        ("time", f"{result.seconds:,.1f} s ({result.events / max(result.seconds, 1e-3):,.0f} records/s)"),
        ("partitions", f"{len(result.end_offsets)} up to end offsets {sum(result.end_offsets.values()):,} in all"),
    ):
        summary.add_row(label, value)
    Console().print(summary)
    if args.swap:
        await swap(settings, result)
        Console().print(f"swapped: `{result.schema}` is now `{SERVICE}`, the old one `{PREVIOUS_SCHEMA}`; "
                        f"group {settings.group_id(SERVICE)} goes on from the replay's end offsets. Start reporting again.")
    else:
        Console().print(f"rebuilt in `{result.schema}`; `--swap` (with reporting stopped) would make it `{SERVICE}`.")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
