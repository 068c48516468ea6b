"""Logs as one JSON object per line, so that an operator can filter and join them: the
service, the level, the logger and the message; the trace and span the line was written
in; and, while a consumer handles an event, that event's id and type. Setting
REDTHREAD_LOG_FORMAT=text gives the classic one-line text instead, for reading by eye.

    {"time": "2026-12-07T13:21:41.779Z", "level": "info", "service": "matching",
     "logger": "services.matching.handlers", "message": "need … nothing proposed; …",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
     "event_id": "…", "event_type": "redthread.need.submitted"}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from opentelemetry import trace

TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(name)s] %(message)s"
_event: ContextVar[tuple[str, str] | None] = ContextVar("redthread_event", default=None)


@contextmanager
def about_event(event_id: str, event_type: str) -> Iterator[None]:
    """Lines logged inside carry this event's id and type."""
    token = _event.set((event_id, event_type))
    try:
        yield
    finally:
        _event.reset(token)


class JsonLines(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        event = _event.get()
        if event is not None:
            entry["event_id"], entry["event_type"] = event
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(service: str, log_format: str = "json", level: int = logging.INFO) -> None:
    """The process's log lines, on stderr, as `log_format` ("json" or "text")."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines(service) if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # a library's warning is a line like the others
