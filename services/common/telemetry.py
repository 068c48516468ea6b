"""Tracing, set up once per process. Spans are exported over OTLP/HTTP when
OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set, and kept in-process otherwise.

Trace context crosses Kafka in W3C `traceparent` headers. Because our events leave
through the outbox, the context of the step that wrote an outbox row is stored with the
row and restored by the relay, so a trace survives the hop through PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_provider: TracerProvider | None = None


def setup_tracing(service_name: str) -> TracerProvider:
    global _provider
    if _provider is not None:
        return _provider
    provider = TracerProvider(resource=Resource.create({"service.name": f"redthread-{service_name}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=500))
    _provider = provider
    trace.set_tracer_provider(provider)
    return provider


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.force_flush()


def current_trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def span_continuing(
    name: str, headers: Mapping[str, str], kind: trace.SpanKind, attributes: dict | None = None
) -> Iterator[trace.Span]:
    """A span whose parent is the trace context carried in `headers`."""
    parent = propagate.extract(dict(headers))
    token = context.attach(parent)
    try:
        with trace.get_tracer("redthread").start_as_current_span(name, kind=kind, attributes=attributes) as span:
            yield span
    finally:
        context.detach(token)
