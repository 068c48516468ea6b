"""`make bench-reporting`: how fast reporting projects events, as ratios to a raw aiokafka
consumer reading the same records in the same run.

- (a) live: reporting runs as its own process (deploy/local.ServiceProcesses, as
  `make run` starts it); BENCH_EVENTS records of a realistic mix are produced onto the
  canonical topics by several producers while a raw aiokafka consumer (no group, no
  decoding) reads them too. Rates = records / (first produced → last projected, resp.
  last read by the raw consumer). "Projected" is counted by the service itself (the
  consumer totals on /health: committed in its database).
- (b) catch-up: with reporting stopped, a backlog of BENCH_BACKLOG records (default
  1,000,000) is produced; then reporting starts and the time until it has projected all
  of it is measured (from process start, so start-up is included), against a raw
  consumer reading the same backlog from the beginning. BENCH_BACKLOG_BUDGET_S (480 s) bounds
  the catch-up: if it would take longer, the run is scaled down and says so, with the
  extrapolation to the full backlog.

`mixed_stream(companies)` generates the records (pre-encoded, valid per contracts, fast:
no pydantic on the way), for reuse by other benchmarks — e.g. to fill reporting with
100,000 companies for the dashboard's query latency.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pydantic_core
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.events import (
    FeedbackSubmitted,
    MatchProposed,
    MatchRetracted,
    NeedResolved,
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    NotificationDispatched,
    ParticipationRecorded,
    ResearchOutputPublished,
    ResearchOutputUpdated,
    ResearchOutputWithdrawn,
)
from contracts.org_numbers import luhn_is_valid
from contracts.topics import FEEDBACK, MATCHES, NEEDS, NOTIFICATIONS, PARTICIPATIONS, RESEARCH_OUTPUTS
from deploy.local import ServiceProcesses
from services.common.kafka_security import ADMIN, client_options
from services.intake.geography import place
from services.reporting.projections import PROJECTED_TOPICS
from services.reporting.service import BATCH_RECORDS
from tests.bench.harness import bench_environment, report

EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
BACKLOG = int(os.environ.get("BENCH_BACKLOG", "1000000"))
BACKLOG_BUDGET_S = float(os.environ.get("BENCH_BACKLOG_BUDGET_S", "480"))
PRODUCERS = int(os.environ.get("BENCH_PRODUCERS", "4"))
EVENTS_PER_COMPANY = 9.6  # about, in mixed_stream's mix (outputs included)


# --- the stream --------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamRecord:
    topic: str  # the registry's name; prefix the namespace when producing
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


PLACES = [
    place("SE", county, municipality)
    for county, municipality in (
        ("Jönköpings län", "Värnamo"), ("Västra Götalands län", "Borås"), ("Skåne län", "Malmö"),
        ("Stockholms län", "Södertälje"), ("Östergötlands län", "Linköping"), ("Västerbottens län", "Umeå"),
        ("Dalarnas län", "Borlänge"), ("Kalmar län", "Oskarshamn"), ("Värmlands län", "Karlstad"),
        ("Gävleborgs län", "Sandviken"), ("Blekinge län", "Karlshamn"), ("Örebro län", "Örebro"),
    )
]
PROBLEMS = [
    ("Långa ställtider i pressverkstaden", ["ställtid", "SMED"], "process"),
    ("Hög kassation vid pulverlackering", ["kassation", "lackering"], "process"),
    ("Låg OEE i bearbetningscellen", ["OEE", "tillgänglighet"], "technology"),
    ("Tryckluftsläckage i hela fabriken", ["tryckluft", "energi"], "technology"),
    ("Operatörer saknar kompetens i robotprogrammering", ["robot", "kompetens"], "competence"),
    ("Otydligt ansvar mellan skiften", ["skiftöverlämning", "ledarskap"], "organisation"),
    ("Digital tvilling för monteringslinan", ["digital tvilling", "simulering"], "technology"),
    ("Spårbarhet av material i legotillverkning", ["spårbarhet", "MES"], "process"),
]
OUTPUT_KINDS = ["method", "demonstrator", "tool", "testbed", "course", "report", "guide"]
VERDICTS = ["useful", "not-useful", "adopted", "new-question"]
AREAS = ["P1", "P2", "P3", "P4", "P5", "P6"]
INITIATIVES = [
    ("pl-utv", "Produktionslyftet Utvecklingsprogram", "Produktionslyftet"),
    ("ps-check", "Produktivitetsspranget", "IUC Sverige"),
    ("p2030-tw", "Teknikworkshop", "Produktion2030"),
]


def org_number(index: int) -> str:
    """A valid Swedish organisationsnummer for each index (556xxxxxx + Luhn digit)."""
    body = f"556{index:06d}"
    return next(body + str(d) for d in range(10) if luhn_is_valid(body + str(d)))


class _Writer:
    """Encodes events the way contracts.envelope.encode does, without validating them
    (they are built valid), so that a million take seconds, not minutes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.records: list[StreamRecord] = []

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def emit(self, topic: str, key: str, event_type: str, data: dict, at: datetime, source: str) -> None:
        event_id = self.uuid()
        self.records.append(
            StreamRecord(
                topic,
                key.encode(),
                pydantic_core.to_json(data),
                [
                    ("ce_id", event_id.encode()), ("ce_source", source.encode()), ("ce_type", event_type.encode()),
                    ("ce_specversion", b"1.0"), ("ce_time", at.isoformat().encode()), ("ce_schemaversion", b"1"),
                    ("ce_correlationid", event_id.encode()), ("content-type", b"application/json"),
                ],
            )
        )


def mixed_stream(companies: int, *, seed: int = 2030, start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
                 first_company: int = 0) -> list[StreamRecord]:
    """The events about `companies` companies (about 9.6 each, outputs included) and a quarter as many
    research outputs, in an order that is causal per aggregate (and so per key): outputs
    published (some updated, a few withdrawn); per company a participation or two, one
    or two needs (some updated, some withdrawn or resolved), up to three matches per
    need (a tenth retracted), a notification per match, feedback on about 40 % of them
    (a third answered again with a higher revision)."""
    rng = random.Random(seed)
    out = _Writer(rng)
    span = timedelta(days=730)
    outputs = []
    for n in range(max(4, companies // 4)):
        at = start + span * (n / max(1, companies // 4)) * 0.5
        output_id, kind = out.uuid(), OUTPUT_KINDS[n % len(OUTPUT_KINDS)]
        title, keywords, _ = PROBLEMS[n % len(PROBLEMS)]
        body = {
            "project": f"Produktion2030: projekt {n % 97}", "output_type": kind,
            "title": f"Metod {n}: {keywords[0]} i praktiken", "summary": f"Ett resultat om {title.lower()}.",
            "language": "sv", "trl": 3 + n % 7, "focus_areas": [AREAS[n % 6]], "keywords": keywords,
            "contact_researchers": [{"name": f"Forskare {n}", "email": f"forskare{n}@example.org",
                                     "organisation": "RISE"}],
            "published_at": at.isoformat(), "output_id": output_id, "revision": 1,
        }
        source = "/partners/produktion2030"
        out.emit(RESEARCH_OUTPUTS.name, output_id, ResearchOutputPublished.EVENT_TYPE, body, at, source)
        if n % 10 == 1:
            body = body | {"revision": 2, "trl": min(9, body["trl"] + 1), "title": body["title"] + " (reviderad)"}
            out.emit(RESEARCH_OUTPUTS.name, output_id, ResearchOutputUpdated.EVENT_TYPE, body, at + timedelta(days=30), source)
        if n % 29 == 3:
            withdrawn = {"output_id": output_id, "revision": 3, "reason": "Projektet avslutat"}
            out.emit(RESEARCH_OUTPUTS.name, output_id, ResearchOutputWithdrawn.EVENT_TYPE, withdrawn,
                     at + timedelta(days=60), source)
        outputs.append((output_id, body["title"]))

    for k in range(first_company, first_company + companies):
        at = start + span * ((k - first_company) / companies)
        where = PLACES[k % len(PLACES)]
        org = org_number(k)
        company = {"country": "SE", "org_number": org, "name": f"Verkstad {k} AB", "county": where.county,
                   "municipality": where.municipality, "region": where.region, "iuc": where.iuc}
        coach = {"name": f"Coach {k % 70}", "email": f"coach{k % 70}@iuc.example.se"}
        partner = f"/partners/iuc-{k % 8}"
        for p in range(1 + (k % 3 == 0)):
            code, name, owner = INITIATIVES[(k + p) % len(INITIATIVES)]
            started = (at + timedelta(days=p * 40)).date()
            participation = {
                "participation_id": out.uuid(), "company": company,
                "initiative": {"initiative_id": code, "name": name, "owner": owner},
                "phase": "Fas 1: Nuläge" if p == 0 else None, "coaches": [coach],
                "started_on": started.isoformat(), "status": "active" if p == 0 else "planned",
            }
            out.emit(PARTICIPATIONS.name, org, ParticipationRecorded.EVENT_TYPE, participation,
                     at + timedelta(days=p * 40), partner)
        for q in range(1 + (k % 2 == 1)):
            need_at = at + timedelta(days=5 + q * 20)
            need_id = out.uuid()
            title, keywords, need_type = PROBLEMS[(k + q) % len(PROBLEMS)]
            need = {
                "company": company, "coach": coach, "title": f"{title} ({k})",
                "description": f"{title}. Vi söker forskning som kan hjälpa.", "language": "sv",
                "need_type": need_type, "focus_areas": [AREAS[(k + q) % 6]], "keywords": keywords,
                "urgency": "medium", "confidentiality": ("public", "anonymised", "coach-only")[k % 3 if k % 5 == 0 else 0],
                "need_id": need_id, "revision": 1,
            }
            out.emit(NEEDS.name, need_id, NeedSubmitted.EVENT_TYPE, need, need_at, partner)
            revision = 1
            if k % 3 == 1:
                revision = 2
                need = need | {"revision": 2, "title": need["title"] + " – uppdaterat", "focus_areas": [AREAS[k % 6], "P4"]}
                out.emit(NEEDS.name, need_id, NeedUpdated.EVENT_TYPE, need, need_at + timedelta(days=2), partner)
            for m in range(rng.randrange(0, 4)):
                output_id, output_title = outputs[rng.randrange(len(outputs))]
                match_at = need_at + timedelta(days=3, minutes=m)
                match_id = out.uuid()
                score = round(0.3 + rng.random() * 0.6, 3)
                match = {
                    "match_id": match_id, "need_id": need_id, "output_id": output_id, "score": score,
                    "method": "lexical-v1",
                    "reasons": [{"kind": "shared-terms", "explanation": f"Båda handlar om: {keywords[0]}"}],
                    "need_title": need["title"], "output_title": output_title,
                    "output_summary": "Ett resultat som kan hjälpa.", "company": company, "coach": coach,
                    "confidentiality": need["confidentiality"], "language": "sv", "focus_areas": need["focus_areas"],
                }
                out.emit(MATCHES.name, need_id, MatchProposed.EVENT_TYPE, match, match_at, "/redthread/matching")
                told_at = match_at + timedelta(minutes=2)
                told = {
                    "notification_id": out.uuid(), "match_id": match_id, "need_id": need_id,
                    "company_org_number": org if m % 2 == 0 else None, "channel": "email",
                    "recipient": coach["email"], "subject": f"Forskning som kan hjälpa: {need['title']}",
                    "dispatched_at": told_at.isoformat(), "confidentiality": need["confidentiality"],
                }
                out.emit(NOTIFICATIONS.name, need_id, NotificationDispatched.EVENT_TYPE, told, told_at,
                         "/redthread/notification")
                if rng.random() < 0.1:
                    retraction = {"match_id": match_id, "need_id": need_id, "output_id": output_id,
                                  "reason": "Behovet ändrades", "company_org_number": org}
                    out.emit(MATCHES.name, need_id, MatchRetracted.EVENT_TYPE, retraction,
                             match_at + timedelta(days=1), "/redthread/matching")
                    continue
                if rng.random() < 0.4:
                    feedback_id, verdict = out.uuid(), VERDICTS[rng.randrange(4)]
                    for revision_of_answer in range(1, 2 + (rng.random() < 0.33)):
                        answer = {
                            "feedback_id": feedback_id, "revision": revision_of_answer, "match_id": match_id,
                            "company_org_number": org if revision_of_answer == 1 else None, "reporter": coach,
                            "verdict": verdict, "comment": "Vi testar metoden",
                            "new_question": "Hur mäter vi effekten?" if verdict == "new-question" else None,
                        }
                        out.emit(FEEDBACK.name, match_id, FeedbackSubmitted.EVENT_TYPE, answer,
                                 told_at + timedelta(days=7 * revision_of_answer), partner)
                        verdict = "adopted" if verdict == "useful" else "useful"
            if k % 7 == 2:
                closing = {"need_id": need_id, "revision": revision + 1, "confidentiality": need["confidentiality"],
                           "company_org_number": org}
                if k % 2:
                    out.emit(NEEDS.name, need_id, NeedResolved.EVENT_TYPE, closing | {"resolution": "Löst med SMED"},
                             need_at + timedelta(days=60), partner)
                else:
                    out.emit(NEEDS.name, need_id, NeedWithdrawn.EVENT_TYPE, closing | {"reason": "Inte aktuellt"},
                             need_at + timedelta(days=60), partner)
    return out.records


def stream_of_about(events: int, *, seed: int = 2030) -> list[StreamRecord]:
    """A mixed stream of about `events` records."""
    return mixed_stream(max(8, math.ceil(events / EVENTS_PER_COMPANY)), seed=seed)


async def produce(kafka: dict, namespace_topic, records: list[StreamRecord], producers: int = PRODUCERS) -> float:
    """Send the records with several producers side by side (each a share of the keys, so
    the order per key holds); returns when the first was sent."""
    shares: list[list[StreamRecord]] = [[] for _ in range(producers)]
    for record in records:
        shares[hash(record.key) % producers].append(record)

    async def send(share: list[StreamRecord]) -> None:
        producer = AIOKafkaProducer(**kafka, acks="all", enable_idempotence=True, linger_ms=20,
                                    max_batch_size=512 * 1024)
        await producer.start()
        try:
            pending = []
            for record in share:
                pending.append(await producer.send(namespace_topic(record.topic), value=record.value, key=record.key,
                                                   headers=record.headers))
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    started = time.perf_counter()
    await asyncio.gather(*(send(share) for share in shares))
    return started


# --- measuring ----------------------------------------------------------------------------


async def raw_read(settings, count: int, *, from_end: bool, timeout_s: float = 1800) -> tuple[asyncio.Event, asyncio.Task]:
    """A raw aiokafka consumer over reporting's topics (no group, no decoding); the task
    returns when it has read `count` records. The event is set once it is positioned."""
    ready = asyncio.Event()

    async def read() -> float:
        consumer = AIOKafkaConsumer(**client_options(settings, ADMIN), group_id=None,
                                    enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
        await consumer.start()
        try:
            partitions = [TopicPartition(settings.topic(t.name), p)
                          for t in PROJECTED_TOPICS for p in range(t.partitions)]
            consumer.assign(partitions)
            if from_end:
                await consumer.seek_to_end(*partitions)
                for tp in partitions:
                    await consumer.position(tp)
            else:
                await consumer.seek_to_beginning(*partitions)
            ready.set()
            seen, deadline = 0, time.perf_counter() + timeout_s
            while seen < count:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"raw consumer read {seen} of {count}")
                batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
                seen += sum(len(part) for part in batch.values())
            return time.perf_counter()
        finally:
            await consumer.stop()

    task = asyncio.create_task(read())
    return ready, task


def projected(reporting: ServiceProcesses) -> int:
    """Events reporting has committed: its consumer's totals on /health."""
    totals = httpx.get(reporting.url("reporting") + "/health", timeout=10).json()["consumers"]["reporting"]
    return totals["handled"] + totals["duplicates"] + totals["dead_lettered"]


async def projected_until(reporting: ServiceProcesses, count: int, deadline_s: float) -> tuple[float, int]:
    """(when, how many) once reporting has projected `count` events, or at the deadline."""
    deadline = time.perf_counter() + deadline_s
    while (done := await asyncio.to_thread(projected, reporting)) < count:
        if time.perf_counter() > deadline:
            return time.perf_counter(), done
        await asyncio.sleep(0.2 if count - done > 5000 else 0.02)
    return time.perf_counter(), done


def reporting_process(settings, name: str) -> ServiceProcesses:
    log_dir = Path(os.environ.get("REDTHREAD_HOME", ".local")) / "logs" / "bench" / name
    return ServiceProcesses(
        {"REDTHREAD_NAMESPACE": settings.namespace, "DATABASE_URL": settings.database_url},
        log_dir, ports={"reporting": 8204},
    )


async def live_rates(settings, records: list[StreamRecord]) -> tuple[float, float]:
    """(raw consumer, reporting) events per second while the records arrive."""
    reporting = reporting_process(settings, "live")
    reporting.start(only=("reporting",))
    try:
        reporting.wait_healthy(timeout_s=60)
        await asyncio.sleep(3)  # the group has its partitions
        before = projected(reporting)
        ready, raw = await raw_read(settings, len(records), from_end=True)
        await ready.wait()
        started = await produce(client_options(settings, ADMIN), settings.topic, records)
        done_at, done = await projected_until(reporting, before + len(records), 900)
        if done < before + len(records):
            raise TimeoutError(f"reporting projected {done - before} of {len(records)}")
        raw_done = await raw
        errors = await _dead_lettered(settings)
        if errors:
            raise RuntimeError(f"reporting dead-lettered {errors} of the generated events: see its log")
    finally:
        reporting.stop()
    return len(records) / (raw_done - started), len(records) / (done_at - started)


async def _dead_lettered(settings) -> int:
    import asyncpg

    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM reporting.outbox")
    finally:
        await conn.close()


async def catch_up(settings, records: list[StreamRecord], already: int) -> tuple[float, float, float, int]:
    """(raw rate, reporting rate, reporting's seconds, projected) for a backlog that is on
    the topics before reporting starts; stops at BACKLOG_BUDGET_S."""
    ready, raw = await raw_read(settings, already + len(records), from_end=False)
    await ready.wait()
    raw_started = time.perf_counter()
    raw_done = await raw
    raw_rate = (already + len(records)) / (raw_done - raw_started)

    reporting = reporting_process(settings, "catch-up")
    started = time.perf_counter()
    reporting.start(only=("reporting",))
    try:
        reporting.wait_healthy(timeout_s=120)
        done_at, done = await projected_until(reporting, len(records), BACKLOG_BUDGET_S)
    finally:
        reporting.stop()
    return raw_rate, done / (done_at - started), done_at - started, done


async def main() -> int:
    async with bench_environment() as settings:
        await asyncio.sleep(2)  # the new topics have their leaders before the first record
        print(f"reporting benchmark: {EVENTS:,} events live, a backlog of {BACKLOG:,}; "
              f"broker {settings.kafka_bootstrap_servers}, {os.cpu_count()} cores, consumer batches of "
              f"up to {BATCH_RECORDS:,}")
        generated = time.perf_counter()
        live = stream_of_about(EVENTS, seed=1)
        print(f"generated {len(live):,} records in {time.perf_counter() - generated:.1f}s")
        raw, projecting = await live_rates(settings, live)
        report(
            "(a) live: events per second while they arrive (ratio to a raw aiokafka consumer of the same records):",
            [("raw aiokafka consumer (no group, no decoding)", raw, "events/s"),
             ("reporting, 1 process: decoded, projected, committed", projecting, "events/s")],
            baseline=raw,
        )

    async with bench_environment() as settings:
        await asyncio.sleep(2)
        generated = time.perf_counter()
        backlog = stream_of_about(BACKLOG, seed=2)
        print(f"\ngenerated a backlog of {len(backlog):,} records in {time.perf_counter() - generated:.1f}s; producing …")
        produce_started = time.perf_counter()
        await produce(client_options(settings, ADMIN), settings.topic, backlog)
        print(f"produced in {time.perf_counter() - produce_started:.1f}s "
              f"({len(backlog) / (time.perf_counter() - produce_started):,.0f} records/s with {PRODUCERS} producers)")
        raw, rate, seconds, done = await catch_up(settings, backlog, 0)
        report(
            "(b) catch-up after a backlog (from process start; ratio to a raw consumer reading the same backlog):",
            [("raw aiokafka consumer", raw, "events/s"), ("reporting, 1 process", rate, "events/s")],
            baseline=raw,
        )
        if done >= len(backlog):
            print(f"\ncatch-up of {len(backlog):,} events: {seconds:,.1f} s")
        else:
            print(f"\nSCALED DOWN: reporting projected {done:,} of the {len(backlog):,} backlog events within the "
                  f"{BACKLOG_BUDGET_S:.0f} s budget; at {rate:,.0f} events/s the whole backlog would take about "
                  f"{len(backlog) / rate:,.0f} s (linear extrapolation: the tables grow, so expect it a little slower)")
        if len(backlog) < 1_000_000:
            print(f"SCALED DOWN: a backlog of {len(backlog):,} instead of 1,000,000; "
                  f"1,000,000 at this rate ≈ {1_000_000 / rate:,.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
