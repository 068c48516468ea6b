"""Wires one redthread service: its database schema and migrations, the outbox relay,
its Kafka subscribers, and its HTTP app with a health endpoint. Every service is built
from this, so the delivery mechanics exist once."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg
import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from faststream import FastStream
from faststream.specification import AsyncAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from contracts.events import Contract
from contracts.topics import PERSON_KEYS, Topic
from services.common.consumer import BatchContext, BatchHandler, EventConsumer, Handler, per_event
from services.common.db import apply_migrations, create_pool, transaction
from services.common.access import public
from services.common.rate_limits import RateLimits
from services.common.security_headers import SecurityHeaders
from services.common.health import Bounds, ConsumerProgress, Observations, judge
from services.common.kafka import KafkaSubscriber, make_broker, records_waiting, subscribe
from services.common.logs import setup_logging
from services.common.metrics import HttpMetrics, Metrics
from services.common.outbox import OutboxRelay
from services.common.person_keys import KEY_HANDLERS, PersonKeys
from services.common.problems import BodySizeLimit, install_problem_handlers
from services.common.settings import Settings
from services.common.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)

T = TypeVar("T")
# How long /health waits for any one of its checks: it must answer while a peer hangs.
HEALTH_TIMEOUT_S = 2.0
# A service's own check for /health: {check name: None when fine, else what is wrong}.
HealthCheck = Callable[["Service"], Awaitable[dict[str, str | None]]]


@dataclass(frozen=True)
class Subscription:
    """A consumer group of this service: which topics it reads and how it handles them —
    either a handler per event type, or one handler for whole batches of `batch_types`
    (for services that gain from set-wise SQL)."""

    name: str
    topics: tuple[Topic, ...]
    handlers: dict[str, Handler] = field(default_factory=dict)
    batch_handler: BatchHandler | None = None
    batch_types: frozenset[str] = frozenset()
    # Read the partner topics by pattern, so that partners' own topics
    # (partner.<id>.<kind>.v1) are picked up as they are created.
    partner_topics_by_pattern: bool = False
    # Records per batch when this consumer gains from larger ones than the default
    # (settings.consumer_batch_size), e.g. work done once per batch.
    max_batch: int | None = None

    @property
    def handles(self) -> set[str]:
        return set(self.batch_types) if self.batch_handler else set(self.handlers)

    @property
    def handler(self) -> BatchHandler:
        return self.batch_handler or per_event(self.handlers)


@dataclass(frozen=True)
class Publication:
    """A topic this service writes, documented in its AsyncAPI specification."""

    topic: Topic
    contract: type[Contract]


class Service:
    def __init__(
        self,
        name: str,
        *,
        package: str,
        description: str,
        settings: Settings | None = None,
        subscriptions: tuple[Subscription, ...] = (),
        publications: tuple[Publication, ...] = (),
        http: Callable[["Service"], APIRouter] | None = None,
        on_start: tuple[Callable[["Service"], object], ...] = (),
        on_stop: tuple[Callable[["Service"], object], ...] = (),
        health_checks: tuple[HealthCheck, ...] = (),
        metrics_observers: tuple[Callable[["Service"], Awaitable[None]], ...] = (),
    ) -> None:
        """`health_checks`: the service's own checks for /health, each returning
        {name: None when fine, else what is wrong}. `metrics_observers`: what the service
        observes of its own for each scrape of /metrics (setting gauges of self.metrics)."""
        self.name = name
        self.settings = settings or Settings()
        self._package = package
        self.person_keys = PersonKeys(self.settings, issuer=name == PERSON_KEYS.writer)
        if name in PERSON_KEYS.readers:
            subscriptions = (*subscriptions, Subscription(f"{name}-person-keys", (PERSON_KEYS,), KEY_HANDLERS))
        self._subscriptions = subscriptions
        self._on_start = on_start
        self._on_stop = on_stop
        self._health_checks = health_checks
        self._metrics_observers = metrics_observers
        self._subscribers: dict[str, KafkaSubscriber] = {}
        # Called after every committed batch, besides waking the outbox relay (say, to
        # wake a worker that acts on what the batch wrote).
        self.commit_listeners: list[Callable[[], None]] = []
        self.tracer_provider = setup_tracing(name)
        self.broker = make_broker(self.settings, name, self.tracer_provider)
        self.consumers: dict[str, EventConsumer] = {}
        self._pool: asyncpg.Pool | None = None
        self._relay: OutboxRelay | None = None

        for subscription in subscriptions:
            self._subscribers[subscription.name] = subscribe(
                self.broker,
                self.settings,
                _LateConsumer(self, subscription.name),
                subscription.topics,
                partner_topics_by_pattern=subscription.partner_topics_by_pattern,
                max_batch=subscription.max_batch,
            )
        for publication in publications:
            self.broker.publisher(
                self.settings.topic(publication.topic.name),
                schema=publication.contract,
                title=f"{name}:{publication.topic.name}",
                description=f"{publication.topic.description} Key: {publication.topic.key}. "
                "CloudEvents binary mode: ce_* headers, JSON data as the value.",
            )
        self.asyncapi = FastStream(
            self.broker,
            specification=AsyncAPI(title=f"redthread {name}", version="0.1.0", description=description),
        )
        self.http_app = FastAPI(
            title=f"redthread {name}", version="0.1.0", description=description, lifespan=self._lifespan
        )
        self.metrics = Metrics(name)
        self.rate_limits = RateLimits(self.settings.public_requests_per_minute)
        self.http_app.state.rate_limits = self.rate_limits
        install_problem_handlers(self.http_app)
        self.http_app.add_middleware(BodySizeLimit, max_bytes=self.settings.max_request_bytes)
        documentation = {self.http_app.docs_url, self.http_app.redoc_url, self.http_app.swagger_ui_oauth2_redirect_url}
        self.http_app.add_middleware(SecurityHeaders, documentation_paths={p for p in documentation if p})
        self.http_app.add_api_route("/health", self.health, methods=["GET"], tags=["operations"],
                                    dependencies=[public("for supervisors and load balancers; names no partner or company",
                                                        counted=False)])
        self.http_app.add_api_route("/metrics", self.metrics_now, methods=["GET"], tags=["operations"],
                                    dependencies=[public("for Prometheus: counts and durations, labelled by consumer, "
                                                         "outcome and route template, never by partner, company or id",
                                                         counted=False)])
        self.http_app.add_middleware(HttpMetrics, metrics=self.metrics)
        if http is not None:
            self.http_app.include_router(http(self))
        FastAPIInstrumentor.instrument_app(self.http_app, tracer_provider=self.tracer_provider)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._pool

    @asynccontextmanager
    async def publishing(self) -> AsyncIterator[BatchContext]:
        """A transaction that changes state and tells the others: what is published in it
        (`publish`) is written to the outbox before it commits, and relayed as soon as it
        has; an exception rolls back both. The HTTP routes' counterpart of a consumer's
        batch."""
        async with transaction(self.pool) as conn:
            publishing = BatchContext(conn, self.settings, self.person_keys)
            yield publishing
            await publishing.write_outbox()
        self.wake_relay()

    def wake_relay(self) -> None:
        """Called after a transaction that wrote outbox rows commits: relay them at once.
        A relay in its own process is woken by the commit's notification instead."""
        if self._relay is not None:
            self._relay.wake()

    async def start(self) -> None:
        self._pool = await create_pool(self.settings.database_url, self.name)
        await apply_migrations(self._pool, "services.common", self._package)
        if self.settings.outbox_relay == "in-process":
            self._relay = OutboxRelay(self._pool, self.settings, self.name, on_sent=self.metrics.relay_seconds.observe)
            await self._relay.start()
        else:
            log.info("%s's outbox is relayed by its own process (python -m services.common.relay %s)", self.name, self.name)
        for hook in self._on_start:
            if inspect.isawaitable(result := hook(self)):
                await result
        for subscription in self._subscriptions:
            self.consumers[subscription.name] = EventConsumer(
                subscription.name,
                self._pool,
                self.settings,
                subscription.handles,
                subscription.handler,
                subscription.topics,
                on_commit=self._after_commit,
                person_keys=self.person_keys,
                on_batch=self.metrics.count_batch,
            )
        await self.broker.start()
        log.info("%s started", self.name)

    def _after_commit(self) -> None:
        self.wake_relay()
        for listener in self.commit_listeners:
            listener()

    async def stop(self) -> None:
        await self.broker.stop()
        for hook in self._on_stop:
            if inspect.isawaitable(result := hook(self)):
                await result
        if self._relay:
            await self._relay.stop()
        if self._pool:
            await self._pool.close()
        shutdown_tracing()
        log.info("%s stopped", self.name)

    @asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def health(self) -> JSONResponse:
        """ok, degraded (serving, something needs an eye) or failing (503), with the
        reason per check (services.common.health); answered within a few seconds
        whatever is down."""
        observed = await self._observe()
        status, checks = judge(
            observed, Bounds(stall_s=self.settings.health_stall_s, outbox_max_age_s=self.settings.health_outbox_max_age_s)
        )
        body = {
            "service": self.name,
            "status": status,
            "checks": checks,
            "consumers": {
                name: {k: v for k, v in vars(c.totals).items() if k != "by_type"} for name, c in self.consumers.items()
            },
            # None: relayed by its own process (settings.outbox_relay), which logs its own.
            "outbox_relayed": self._relay.relayed if self._relay else None,
        }
        return JSONResponse(body, status_code=503 if status == "failing" else 200)

    async def metrics_now(self) -> Response:
        """Prometheus' text format: the counters as they stand, and the gauges observed
        now, as /health observes them."""
        observed = await self._observe()
        for consumer in observed.consumers:
            if consumer.records_waiting is not None:
                self.metrics.records_waiting.labels(consumer.name).set(consumer.records_waiting)
                self.metrics.lag_seconds.labels(consumer.name).set(
                    consumer.since_last_batch_s if consumer.records_waiting else 0)
            self.metrics.seconds_since_batch.labels(consumer.name).set(consumer.since_last_batch_s)
        self.metrics.outbox_oldest.set(observed.outbox_oldest_s or 0)
        self.metrics.outbox_waiting.set(observed.outbox_waiting)
        self.metrics.outbox_parked.set(observed.outbox_parked)
        await asyncio.gather(*(_within(observe(self)) for observe in self._metrics_observers))
        return self.metrics.exposition()

    async def _observe(self) -> Observations:
        async def outbox() -> asyncpg.Record:
            async with self.pool.acquire(timeout=HEALTH_TIMEOUT_S) as conn:
                return await conn.fetchrow(
                    "SELECT extract(epoch FROM now() - (SELECT created_at FROM outbox ORDER BY id LIMIT 1)) AS oldest,"
                    " (SELECT count(*) FROM outbox) AS waiting, (SELECT count(*) FROM outbox_parked) AS parked"
                )

        now = time.monotonic()
        found_outbox, pong, waiting, own = await asyncio.gather(
            _within(outbox()),
            _within(self.broker.ping(timeout=HEALTH_TIMEOUT_S)),
            asyncio.gather(*(_within(records_waiting(s)) for s in self._subscribers.values())),
            asyncio.gather(*(_within(check(self)) for check in self._health_checks)),
        )
        waiting_of = {
            name: None if isinstance(count, Exception) else count
            for name, count in zip(self._subscribers, waiting, strict=True)
        }
        workers = [self._relay.worker.health()] if self._relay and self._relay.worker else []
        return Observations(
            database=_reason(found_outbox) if isinstance(found_outbox, Exception) else None,
            broker=_reason(pong) if isinstance(pong, Exception) else None if pong else "broker unreachable",
            consumers=[
                ConsumerProgress(
                    name=name,
                    busy_for_s=None if c.busy_since is None else now - c.busy_since,
                    failing_for_s=None if c.failing_since is None else now - c.failing_since,
                    last_error=c.last_error,
                    since_last_batch_s=now - c.last_batch_at,
                    records_waiting=waiting_of.get(name),
                )
                for name, c in self.consumers.items()
            ],
            outbox_oldest_s=None if isinstance(found_outbox, Exception) else found_outbox["oldest"],
            outbox_waiting=0 if isinstance(found_outbox, Exception) else found_outbox["waiting"],
            outbox_parked=0 if isinstance(found_outbox, Exception) else found_outbox["parked"],
            failing_workers=[(w.name, w.failing_for_s, w.last_error or "") for w in workers if w.failing_for_s is not None],
            other={
                name: problem
                for found in own
                for name, problem in (found.items() if not isinstance(found, Exception) else [("own checks", _reason(found))])
            },
        )

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM, then stop cleanly (uvicorn runs the lifespan)."""
        setup_logging(self.name, self.settings.log_format)
        # One line per webhook call drowns what matters; failures are logged by the dispatcher.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        uvicorn.run(
            self.http_app,
            host=self.settings.http_host,
            port=self.settings.port_for(self.name),
            log_level="warning",
            # Longer than clients keep idle connections (httpx: 5 s, uvicorn's default too):
            # with equal timeouts a client may send on a connection the server is closing
            # that instant, and a POST lost that way fails instead of being retried.
            timeout_keep_alive=65,
        )


class _LateConsumer:
    """Stands in for an EventConsumer while the broker's subscribers are declared (which
    happens before the database pool exists)."""

    def __init__(self, service: Service, name: str) -> None:
        self._service = service
        self.name = name

    async def consume(self, records, headers=None) -> object:
        return await self._service.consumers[self.name].consume(records, headers)




async def _within(check: Awaitable[T]) -> T | Exception:
    """A health check's answer, or what kept it from answering within HEALTH_TIMEOUT_S."""
    try:
        return await asyncio.wait_for(check, HEALTH_TIMEOUT_S + 0.5)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return error


def _reason(error: Exception) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {HEALTH_TIMEOUT_S:.0f}s"
    return f"{type(error).__name__}: {error}"
