"""Metrics in Prometheus' text format, at every service's `/metrics`: written once here,
fed by the consumer, the HTTP middleware and, at each scrape, by what `/health` also
observes (records waiting, the outbox), by the outbox relay and notification's
dispatcher (their latencies), and by the operators' console (every consumer group's lag
per partition). Names start with `redthread_`; labels hold only consumer, group, topic,
partition, outcome, channel, method, route template and status — never an id, a partner
or a company.

Each service process keeps its own registry (`Metrics`), so that services run in one
process (the tests) do not mix their counts.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# From an event being committed (or owed) to its being on Kafka (delivered): milliseconds
# when all is well, hours when a peer was away.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 21_600, 86_400)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = Counter(
            "redthread_events", "Events a consumer took from Kafka, by what became of them and their type",
            ["consumer", "outcome", "type"], registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "redthread_batch_seconds", "Time to handle one batch of records, its transaction included",
            ["consumer"], buckets=BATCH_BUCKETS, registry=self.registry,
        )
        self.records_waiting = Gauge(
            "redthread_consumer_records_waiting", "Records on the broker a consumer has not fetched yet (its lag)",
            ["consumer"], registry=self.registry,
        )
        self.seconds_since_batch = Gauge(
            "redthread_consumer_seconds_since_batch", "Seconds since a consumer last finished a batch",
            ["consumer"], registry=self.registry,
        )
        self.lag_seconds = Gauge(
            "redthread_consumer_lag_seconds",
            "How long a consumer with records waiting has gone without finishing a batch (0 when none wait)",
            ["consumer"], registry=self.registry,
        )
        self.deliveries_owed = Gauge(
            "redthread_deliveries_owed", "Deliveries not yet sent, by channel (notification)", ["channel"],
            registry=self.registry,
        )
        self.deliveries_oldest_due = Gauge(
            "redthread_deliveries_oldest_due_seconds",
            "How long the oldest delivery that is due has waited, by channel (0 when none is due)", ["channel"],
            registry=self.registry,
        )
        self.peers_unreachable = Gauge(
            "redthread_peers_unreachable", "Peers (mail server, webhook hosts) held back by an open circuit breaker",
            registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            "redthread_outbox_oldest_seconds", "Age of the oldest row waiting in the outbox (0 when empty)",
            registry=self.registry,
        )
        self.relay_seconds = Histogram(
            "redthread_outbox_relay_seconds",
            "From an outbox row's insert to the broker's acknowledgement of its record (the relay's latency)",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "redthread_delivery_seconds",
            "From a delivery becoming owed to its being delivered, by channel (notification's dispatch latency)",
            ["channel"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.group_lag_records = Gauge(
            "redthread_consumer_group_lag_records",
            "Records written that a consumer group has not committed past, per partition (the operators' console)",
            ["group", "topic", "partition"], registry=self.registry,
        )
        self.group_lag_seconds = Gauge(
            "redthread_consumer_group_lag_seconds",
            "Age of the oldest record a consumer group has not committed past, per partition (0 when none waits)",
            ["group", "topic", "partition"], registry=self.registry,
        )
        self.outbox_waiting = Gauge(
            "redthread_outbox_waiting", "Rows committed in the outbox and not yet sent to Kafka (its backlog)",
            registry=self.registry,
        )
        self.outbox_parked = Gauge(
            "redthread_outbox_parked", "Outbox rows set aside because Kafka refused them", registry=self.registry,
        )
        self.http_requests = Counter(
            "redthread_http_requests", "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.http_seconds = Histogram(
            "redthread_http_request_seconds", "Time to answer an HTTP request", ["method", "route"],
            buckets=HTTP_BUCKETS, registry=self.registry,
        )

    def count_batch(self, consumer: str, outcome: object, seconds: float) -> None:
        """A batch's outcome (services.common.consumer.BatchOutcome) and its duration."""
        for (what, event_type), count in outcome.by_type.items():
            self.events.labels(consumer, what, event_type).inc(count)
        self.batch_seconds.labels(consumer).observe(seconds)

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class HttpMetrics:
    """ASGI middleware: each request counted and timed by its route's template (the path
    with `{need_id}`, never the id itself); requests that match no route count as
    "unmatched"."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counting(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "?")
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_seconds.labels(method, route).observe(time.perf_counter() - started)

