"""Log lines as JSON: the service, the trace they were written in, the event being handled."""

import json
import logging

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from services.common.logs import JsonLines, about_event


def line(formatter: logging.Formatter, message: str, exc_info=None) -> dict:
    record = logging.LogRecord("services.matching.handlers", logging.INFO, __file__, 1, message, (), exc_info)
    return json.loads(formatter.format(record))


def test_a_line_is_one_json_object_with_service_and_message():
    entry = line(JsonLines("matching"), "indexes built: 10 outputs, 14 open needs")
    assert entry["service"] == "matching" and entry["level"] == "info"
    assert entry["logger"] == "services.matching.handlers" and entry["message"].startswith("indexes built")
    assert entry["time"].endswith("Z") and "trace_id" not in entry and "event_id" not in entry


def test_inside_an_event_and_a_span_the_line_names_both():
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("matching handle redthread.need.submitted") as span:
        with about_event("crm-4711", "redthread.need.submitted"):
            entry = line(JsonLines("matching"), "need matched")
        outside = line(JsonLines("matching"), "after the event")
    context = span.get_span_context()
    assert entry["trace_id"] == format(context.trace_id, "032x") and entry["span_id"] == format(context.span_id, "016x")
    assert (entry["event_id"], entry["event_type"]) == ("crm-4711", "redthread.need.submitted")
    assert "event_id" not in outside and outside["trace_id"] == entry["trace_id"]
    assert not trace.get_current_span().get_span_context().is_valid


def test_an_error_keeps_its_traceback_in_one_line():
    try:
        raise ValueError("broken record")
    except ValueError:
        import sys

        text = JsonLines("intake").format(logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()))
    assert "\n" not in text
    assert "ValueError: broken record" in json.loads(text)["error"]
