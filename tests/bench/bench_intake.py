"""`make bench-intake`: events per second into intake, over Kafka and over HTTP, each as
a ratio to a plain aiokafka producer → consumer of the same messages, measured in the
same run on the same broker.

- baseline: one aiokafka producer (acks=all, idempotent) sends N CloudEvents to a topic
  while one aiokafka consumer reads them; rate = N / (last received - first sent), the
  best of three runs.
- intake's rates below are likewise the best of BENCH_RUNS (3) runs of N events each,
  after a warm-up run of N/10; every run is printed.
- intake over Kafka: the same N events on partner.needs.v1, intake running as its own
  process (then as two, in one consumer group, to show how it scales out), deployed as
  docker-compose deploys it: its outbox relayed all along by a relay process of its own
  (`python -m services.common.relay intake`, one for all instances), on the same two
  cores; the events are sent once the consumer group has been stable for two seconds.
  Two rates from the same run:
  - accepted = N / (first sent → last one committed in intake's database), i.e.
    validated, scoped, completed and stored with its inbox and outbox rows in one
    transaction. The end of a run is seen on the broker, when intake's consumer group
    has committed its offsets past the last event (it commits after each transaction),
    so the benchmark does not query the database it measures; the moment of the last
    commit is then read from PostgreSQL's commit timestamps of the inbox rows
    (track_commit_timestamp, on in the local server), or, on a server without them, is
    when the offsets were seen (polled every 5 ms). Every event must have created its
    need, else the run fails. This is what the target is judged on.
  - end to end = N / (first sent → last canonical event on redthread.needs.v1), i.e.
    also relayed from the outbox to Kafka; read afterwards from the records' timestamps
    (set by the relay as it sends), for the same reason.
- intake over HTTP: N/5 POST /v1/needs with 32 requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from contracts.envelope import encode, new_event
from contracts.events import NeedSubmitted
from contracts.topics import NEEDS, PARTNER_NEEDS
from deploy.demo.partners import provision
from deploy.local import ServiceProcesses
from services.common.kafka_security import ADMIN, client_options
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.bench.harness import bench_environment, report

EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
HTTP_EVENTS = max(200, EVENTS // 5)
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SOURCE = "bench-crm"
ORGS = ["5560360793", "5565148326", "5567123483", "5562514587"]


def needs(count: int) -> list[NeedSubmitted]:
    return [
        NeedSubmitted.model_validate(
            {
                "need_id": str(uuid.uuid4()),
                "company": {"org_number": ORGS[i % len(ORGS)], "name": f"Verkstad {i} AB", "county": "Jönköpings län",
                            "municipality": "Värnamo"},
                "coach": {"name": "Karin Lindqvist", "email": "karin@example.se"},
                "title": f"Långa ställtider i press {i}",
                "description": "Omställningen mellan artiklar tar över två timmar och vi vill korta ställtiden med SMED.",
                "need_type": "process",
                "focus_areas": ["P2"],
                "keywords": ["ställtid", "omställning", "SMED"],
                "min_trl": 5,
            }
        )
        for i in range(count)
    ]


def records(events: list[NeedSubmitted]) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    out = []
    for need in events:
        value, headers = encode(new_event(need, source=f"/partners/{SOURCE}"))
        out.append((str(need.need_id).encode(), value, [(k, v.encode()) for k, v in headers.items()]))
    return out


async def produce(kafka: dict, topic: str, batch, clock=time.perf_counter) -> float:
    """Send `batch`; returns `clock()` as the first record was sent."""
    producer = AIOKafkaProducer(**kafka, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    started = clock()
    try:
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in batch]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return started


async def baseline_rate(settings, batch, runs: int = 3) -> float:
    """The best of `runs` (the baseline is the ceiling, so noise from other processes on
    the machine must not lower it)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    rates = []
    for run in range(runs):
        topic = settings.topic(f"bench.baseline.{run}")
        admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
        await admin.start()
        await admin.create_topics([NewTopic(topic, num_partitions=PARTNER_NEEDS.partitions, replication_factor=1)])
        await admin.close()
        from_start = {TopicPartition(topic, p): 0 for p in range(PARTNER_NEEDS.partitions)}
        consumer = asyncio.create_task(read_records(client_options(settings, ADMIN), from_start, len(batch)))
        await asyncio.sleep(1)  # the consumer is reading before the first record is sent
        started = await produce(client_options(settings, ADMIN), topic, batch)
        arrived_at, _ = await consumer
        rates.append(len(batch) / (arrived_at - started))
    return max(rates)


async def commit_timestamps(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval("SHOW track_commit_timestamp") == "on"


async def offsets_committed(settings, topic: str, partitions: int, poll_s: float, timeout_s: float = 300) -> None:
    """Until intake's consumer group has committed its offsets up to the end of `topic`.
    Intake commits a batch's offsets only after the batch's transaction, so every event
    sent before is then stored. Asks the broker, not the database: counting rows scans a
    table that grows run after run, on the server being measured."""
    from aiokafka.admin import AIOKafkaAdminClient

    target = await end_offsets(client_options(settings, ADMIN), topic, partitions)
    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    await admin.start()
    try:
        deadline = time.perf_counter() + timeout_s
        while True:
            committed = await admin.list_consumer_group_offsets(settings.group_id("intake"), partitions=list(target))
            behind = sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in target.items())
            if behind <= 0:
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{behind} events not yet committed by intake within {timeout_s}s")
            await asyncio.sleep(poll_s)
    finally:
        await admin.close()


# When the last of intake's transactions committed, read afterwards (track_commit_timestamp).
LAST_INBOX_COMMIT = "SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin)))::float8 FROM intake.inbox"


async def end_offsets(kafka: dict, topic: str, partitions: int) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**kafka, group_id=None)
    await consumer.start()
    try:
        return await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await consumer.stop()


async def read_records(
    kafka: dict, since: dict[TopicPartition, int], count: int, *, timestamps: bool = False, timeout_s: float = 300
) -> tuple[float, float | None]:
    """Read the next `count` records after the offsets `since`: (when the last one
    arrived, by time.perf_counter; with `timestamps`, the latest record timestamp, wall
    clock in seconds). Without, it only counts: as the baseline's consumer, it must do
    no more than a plain consumer would."""
    consumer = AIOKafkaConsumer(**kafka, group_id=None, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        consumer.assign(list(since))
        for partition, offset in since.items():
            consumer.seek(partition, offset)
        seen, latest = 0, 0
        deadline = time.perf_counter() + timeout_s
        while seen < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {seen} of {count} records within {timeout_s}s")
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                seen += len(records)
                if timestamps:
                    latest = max(latest, *(record.timestamp for record in records))
        return time.perf_counter(), latest / 1000 if timestamps else None
    finally:
        await consumer.stop()


async def intake_kafka_rates(settings, batch) -> tuple[float, float]:
    """(accepted, end to end) events per second for `batch` sent to partner.needs.v1."""
    kafka = client_options(settings, ADMIN)
    conn = await asyncpg.connect(settings.database_url)
    try:
        exact = await commit_timestamps(conn)
        if not exact:
            print("  (no commit timestamps on this server: the end of each run is found by polling)")
        needs_before = await conn.fetchval("SELECT count(*) FROM intake.needs")
        canonical_before = await end_offsets(kafka, settings.topic(NEEDS.name), NEEDS.partitions)
        topic = settings.topic(PARTNER_NEEDS.name)
        started = await produce(kafka, topic, batch, clock=time.time)
        # With commit timestamps the polls can be coarse: the moment is read afterwards.
        await offsets_committed(settings, topic, PARTNER_NEEDS.partitions, poll_s=0.25 if exact else 0.005)
        accepted_at = await conn.fetchval(LAST_INBOX_COMMIT) if exact else time.time()
        _, relayed_at = await read_records(kafka, canonical_before, len(batch), timestamps=True)
        stored = await conn.fetchval("SELECT count(*) FROM intake.needs") - needs_before
        if stored != len(batch):
            raise RuntimeError(f"{len(batch)} events committed but {stored} needs stored: some were refused")
    finally:
        await conn.close()
    return len(batch) / (accepted_at - started), len(batch) / (relayed_at - started)


async def best_kafka_rates(settings, label: str) -> tuple[float, float]:
    """The best of RUNS runs after a warm-up, as the baseline is the best of its runs: the
    same estimator on both sides of the ratio. The first events a fresh process handles
    pay for its connections and caches, which the warm-up run (a tenth of the events,
    not counted) takes care of."""
    await intake_kafka_rates(settings, records(needs(max(1000, EVENTS // 10))))
    runs = [await intake_kafka_rates(settings, records(needs(EVENTS))) for _ in range(RUNS)]
    print(f"  intake over Kafka, {label}: accepted " + ", ".join(f"{a:,.0f}" for a, _ in runs)
          + " events/s; end to end " + ", ".join(f"{e:,.0f}" for _, e in runs))
    return max(a for a, _ in runs), max(e for _, e in runs)


async def intake_http_rate(url: str, key: str, events: list[NeedSubmitted], in_flight: int = 32) -> float:
    bodies = [json.loads(n.model_dump_json(exclude_none=True)) for n in events]
    limits = httpx.Limits(max_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits) as client:
        queue = iter(bodies)
        accepted = 0

        async def worker() -> None:
            nonlocal accepted
            for body in queue:
                try:
                    response = await client.post("/v1/needs", json=body, timeout=30)
                except httpx.TransportError as error:
                    raise RuntimeError(
                        f"{error!r} after {accepted} accepted in {time.perf_counter() - started:.1f}s"
                    ) from error
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
                accepted += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return accepted / (time.perf_counter() - started)


async def group_settled(settings, members: int, timeout_s: float = 60) -> None:
    """Until intake's consumer group has `members` members and has stayed Stable for two
    seconds: a rebalance during the measurement would count as intake's time."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_options(settings, ADMIN))
    await admin.start()
    try:
        deadline = time.perf_counter() + timeout_s
        stable_since = None
        while True:
            try:
                [response] = await admin.describe_consumer_groups([settings.group_id("intake")])
                [group] = response.to_object()["groups"]
            except KafkaError as error:  # the coordinator may still be moving
                group = {"state": repr(error), "members": []}
            if group["state"] == "Stable" and len(group["members"]) == members:
                stable_since = stable_since or time.perf_counter()
                if time.perf_counter() - stable_since >= 2:
                    return
            else:
                stable_since = None
            if time.perf_counter() > deadline:
                raise TimeoutError(f"intake's consumer group not settled with {members} members: {group['state']}")
            await asyncio.sleep(0.25)
    finally:
        await admin.close()


@asynccontextmanager
async def intake_instances(settings, count: int) -> AsyncIterator[list[ServiceProcesses]]:
    log_dir = Path(os.environ.get("REDTHREAD_HOME", ".local")) / "logs" / "bench"
    env = {"REDTHREAD_NAMESPACE": settings.namespace, "DATABASE_URL": settings.database_url,
           "REDTHREAD_OUTBOX_RELAY": "own-process"}
    instances = [ServiceProcesses(env, log_dir / f"intake-{n}", ports={"intake": 8101 + n}) for n in range(count)]
    # As compose runs intake: its outbox relayed by a process of its own, one for all instances.
    for n, instance in enumerate(instances):
        instance.start(only=("intake",), relays=("intake",) if n == 0 else ())
    try:
        for instance in instances:
            instance.wait_healthy(timeout_s=60)
        await group_settled(settings, count)
        yield instances
    finally:
        for instance in instances:
            instance.stop()


async def main() -> int:
    async with bench_environment() as settings:
        print(f"intake benchmark: {EVENTS} events over Kafka, {HTTP_EVENTS} over HTTP; broker {settings.kafka_bootstrap_servers}")
        raw = await baseline_rate(settings, records(needs(EVENTS)))
        partner = Partner(SOURCE, "Benchmark CRM", event_types("all"), requests_per_minute=10_000_000)
        key = (await provision(settings, (partner,)))[SOURCE]

        async with intake_instances(settings, 1) as [intake]:
            one, one_relayed = await best_kafka_rates(settings, "1 process")
            over_http = await intake_http_rate(intake.url("intake"), key, needs(HTTP_EVENTS))
        async with intake_instances(settings, 2):
            two, two_relayed = await best_kafka_rates(settings, "2 processes")
        report(
            "events per second (ratio to raw aiokafka producer → consumer, same run):",
            [
                ("raw aiokafka producer → consumer", raw, "events/s"),
                ("intake over Kafka, 1 process (+ relay): accepted (validated, stored)", one, "events/s"),
                ("intake over Kafka, 1 process: end to end (also relayed)", one_relayed, "events/s"),
                ("intake over Kafka, 2 processes in one group: accepted", two, "events/s"),
                ("intake over Kafka, 2 processes in one group: end to end", two_relayed, "events/s"),
                ("intake over HTTP, 1 process, 32 in flight", over_http, "events/s"),
            ],
            baseline=raw,
        )
        target = 0.5
        best, processes = max((one, 1), (two, 2))
        best_relayed = max(one_relayed, two_relayed)
        verdict = "meets" if best / raw >= target else "MISSES"
        print(
            f"\ntarget: Kafka ingestion with validation and persistence (accepted) ≥ {target}× raw → {verdict}"
            f" ({best / raw:.2f}× with {processes} process{'es' if processes > 1 else ''});"
            f" end to end, relayed included: {best_relayed / raw:.2f}×"
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
