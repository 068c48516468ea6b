"""Tracing, set up once per process. Spans are recorded and exported to Zipkin when
OTEL_EXPORTER_ZIPKIN_ENDPOINT names its /api/v2/spans (`make run` starts one and sets
it), or over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set.
Without either, no span is recorded (recording one per event costs more than validating
the event), but the trace context still travels: every event keeps the traceparent of
the request that caused it, so tracing can be switched on at any point of a flow.

Every span of redthread's own work carries the ids it is about (`event_attributes`):
the event's id and type, and the need, output, match, company and partner it concerns,
so that an operator finds a need's or a company's whole story by searching for its id
(in Zipkin: `redthread.need_id=…`).

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
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from contracts.envelope import CloudEvent

_provider: TracerProvider | None = None


def exporting() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_ZIPKIN_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _exporter() -> SpanExporter:
    if os.environ.get("OTEL_EXPORTER_ZIPKIN_ENDPOINT"):
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter()  # to OTEL_EXPORTER_ZIPKIN_ENDPOINT
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def setup_tracing(service_name: str) -> trace.TracerProvider:
    """The process's tracer provider: a recording, exporting one when an OTLP endpoint is
    configured, else OpenTelemetry's no-op provider, which still propagates context."""
    global _provider
    if _provider is not None:
        return _provider
    if not exporting():
        return trace.get_tracer_provider()
    provider = TracerProvider(resource=Resource.create({"service.name": f"redthread-{service_name}"}))
    provider.add_span_processor(BatchSpanProcessor(_exporter(), schedule_delay_millis=500))
    _provider = provider
    trace.set_tracer_provider(provider)
    return provider


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.force_flush()


# Fields of event data that name what an event is about, as span attributes.
_ID_FIELDS = ("need_id", "output_id", "match_id", "feedback_id", "participation_id", "subscription_id")


def event_attributes(event: CloudEvent) -> dict[str, str]:
    """The ids `event` is about, to search a trace viewer by: its own id and type, the
    need, output, match (and so on) it concerns, the company, and the partner that sent it."""
    attributes = {"cloudevents.event_id": event.id, "cloudevents.event_type": event.envelope.type}
    data = event.data
    for field in _ID_FIELDS:
        value = getattr(data, field, None)
        if value is not None:
            attributes[f"redthread.{field}"] = str(value)
    company = getattr(data, "company", None)
    org_number = getattr(company, "org_number", None) or getattr(data, "company_org_number", None)
    if org_number:
        attributes["redthread.company"] = str(org_number).replace("-", "")
    source = event.envelope.source
    if source.startswith("/partners/"):
        attributes["redthread.partner"] = source.removeprefix("/partners/")
    return attributes


def describe_current_span(event: CloudEvent) -> None:
    """Give the current span (an HTTP request's, say) the ids `event` is about."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(event_attributes(event))


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
