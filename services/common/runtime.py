"""Wires one redthread service: its database schema and migrations, the outbox relay,
its Kafka subscribers, and its HTTP app with a health endpoint. Every service is built
from this, so the delivery mechanics exist once."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from faststream import FastStream
from faststream.specification import AsyncAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from contracts.events import Contract
from contracts.topics import Topic
from services.common.consumer import BatchHandler, EventConsumer, Handler, per_event
from services.common.db import apply_migrations, create_pool
from services.common.kafka import make_broker, subscribe
from services.common.outbox import OutboxRelay
from services.common.problems import BodySizeLimit, install_problem_handlers
from services.common.settings import Settings
from services.common.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)


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
    ) -> None:
        self.name = name
        self.settings = settings or Settings()
        self._package = package
        self._subscriptions = subscriptions
        self._on_start = on_start
        self._on_stop = on_stop
        # Called after every committed batch, besides waking the outbox relay (say, to
        # wake a worker that acts on what the batch wrote).
        self.commit_listeners: list[Callable[[], None]] = []
        self.tracer_provider = setup_tracing(name)
        self.broker = make_broker(self.settings, name, self.tracer_provider)
        self.consumers: dict[str, EventConsumer] = {}
        self._pool: asyncpg.Pool | None = None
        self._relay: OutboxRelay | None = None

        for subscription in subscriptions:
            subscribe(
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
        install_problem_handlers(self.http_app)
        self.http_app.add_middleware(BodySizeLimit, max_bytes=self.settings.max_request_bytes)
        self.http_app.add_api_route("/health", self.health, methods=["GET"], tags=["operations"])
        if http is not None:
            self.http_app.include_router(http(self))
        FastAPIInstrumentor.instrument_app(self.http_app, tracer_provider=self.tracer_provider)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._pool

    def wake_relay(self) -> None:
        """Called after a transaction that wrote outbox rows commits: relay them at once.
        A relay in its own process is woken by the commit's notification instead."""
        if self._relay is not None:
            self._relay.wake()

    async def start(self) -> None:
        self._pool = await create_pool(self.settings.database_url, self.name)
        await apply_migrations(self._pool, "services.common", self._package)
        if self.settings.outbox_relay == "in-process":
            self._relay = OutboxRelay(self._pool, self.settings, self.name)
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
        checks: dict[str, str] = {}
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
            checks["database"] = "ok"
        except Exception as error:  # noqa: BLE001 - reported, not raised
            checks["database"] = f"failing: {error}"
        checks["kafka"] = "ok" if await self.broker.ping(timeout=2) else "failing: broker unreachable"
        healthy = all(v == "ok" for v in checks.values())
        body = {
            "service": self.name,
            "status": "ok" if healthy else "failing",
            "checks": checks,
            "consumers": {name: vars(c.totals) for name, c in self.consumers.items()},
            # None: relayed by its own process (settings.outbox_relay), which logs its own.
            "outbox_relayed": self._relay.relayed if self._relay else None,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM, then stop cleanly (uvicorn runs the lifespan)."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s [%(name)s] %(message)s")
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

