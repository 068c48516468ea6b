"""Tracing, set up once per process. Spans are recorded and exported over OTLP/HTTP when
OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set. Without it, no span is
recorded (recording one per event costs more than validating the event), but the trace
context still travels: every event keeps the traceparent of the request that caused it,
so tracing can be switched on at any point of a flow.

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


def exporting() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup_tracing(service_name: str) -> trace.TracerProvider:
    """The process's tracer provider: a recording, exporting one when an OTLP endpoint is
    configured, else OpenTelemetry's no-op provider, which still propagates context."""
    global _provider
    if _provider is not None:
        return _provider
    if not exporting():
        return trace.get_tracer_provider()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": f"redthread-{service_name}"}))
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
