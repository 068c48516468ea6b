"""The one way redthread writes a dead letter, whoever refused what.

A dead letter must always be sendable, or it would block its outbox behind it: what it
copies of the original (value, key, headers, the reason quoting the input) is cut to
bounds that keep the whole record well under the broker's message size, whatever the
original's size and however much JSON escaping or base64 inflates it. A cut dead letter
says so (`original_truncated`), and keeps the original's size, SHA-256 and place
(topic, partition, offset) so that it can be found and read whole.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contracts.envelope import encode, new_event
from contracts.events import DeadLetterRecord, ValidationProblem
from contracts.topics import DEAD_LETTERS
from services.common.outbox import OutboxRow
from services.common.settings import Settings

log = logging.getLogger(__name__)

# The whole dead letter (its JSON value) stays under this; Kafka's default message limit
# is 1 MiB, and the record's headers come on top.
MAX_DEAD_LETTER_BYTES = 512 * 1024
MAX_REASON_CHARS = 2000
MAX_PROBLEMS = 50
MAX_PROBLEM_CHARS = 500
MAX_KEY_CHARS = 1024
MAX_HEADERS = 64
MAX_HEADER_CHARS = 1024
# Trace headers are copied onto the dead letter's own record only when they are plausible.
MAX_TRACE_HEADER_CHARS = 512
TRUNCATION_MARK = "…"


@dataclass(frozen=True)
class Origin:
    """Where the refused item came from: a Kafka record, or a row of ours (a delivery),
    which then has no partition or offset (-1)."""

    topic: str
    value: bytes | str
    partition: int = -1
    offset: int = -1
    key: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def dead_letter(
    settings: Settings,
    *,
    consumer: str,
    source: str,
    reason: str,
    origin: Origin,
    problems: list[tuple[str, str]] = (),
    event_id: str | None = None,
    failed_at: datetime | None = None,
    trace_headers: dict[str, str] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> OutboxRow:
    """The outbox row of a dead letter for `origin`, refused by `consumer` for `reason`."""
    reason = _text(reason, MAX_REASON_CHARS)
    log.warning("%s: dead-lettering %s/%d/%d: %s", consumer, origin.topic, origin.partition, origin.offset, reason)
    raw = origin.value.encode() if isinstance(origin.value, str) else (origin.value or b"")
    text, encoding = _as_text(raw)
    key = origin.key.decode("utf-8", "replace") if isinstance(origin.key, bytes) else origin.key
    headers = dict(list(origin.headers.items())[:MAX_HEADERS])
    headers = {_text(k, MAX_HEADER_CHARS): _text(v, MAX_HEADER_CHARS) for k, v in headers.items()}
    truncated = (
        len(origin.headers) > MAX_HEADERS
        or any(len(k) > MAX_HEADER_CHARS or len(v) > MAX_HEADER_CHARS for k, v in origin.headers.items())
        or (key is not None and len(key) > MAX_KEY_CHARS)
    )
    letter = DeadLetterRecord(
        consumer=consumer,
        reason=reason,
        problems=[
            ValidationProblem(location=_text(loc, MAX_PROBLEM_CHARS), message=_text(msg, MAX_PROBLEM_CHARS))
            for loc, msg in list(problems)[:MAX_PROBLEMS]
        ],
        source_topic=_text(origin.topic, MAX_HEADER_CHARS),
        source_partition=origin.partition,
        source_offset=origin.offset,
        original_key=_text(key, MAX_KEY_CHARS) if key is not None else None,
        original_headers=headers,
        original_value=text,
        original_value_encoding=encoding,
        original_value_bytes=len(raw),
        original_value_sha256=hashlib.sha256(raw).hexdigest(),
        original_truncated=truncated,
        failed_at=failed_at or datetime.now(UTC),
    )
    letter = _within_bounds(letter)
    event = new_event(letter, source=source, subject=letter.source_topic, event_id=event_id, time=letter.failed_at)
    body, record_headers = encode(event)
    record_headers |= {
        "dlq_reason": reason,
        "dlq_consumer": consumer,
        "dlq_source_topic": letter.source_topic,
        "dlq_source_partition": str(origin.partition),
        "dlq_source_offset": str(origin.offset),
    }
    record_headers |= extra_headers or {}
    record_headers |= trace_context(trace_headers or origin.headers)
    return OutboxRow(settings.topic(DEAD_LETTERS.name), letter.source_topic.encode(), body, record_headers)


def trace_context(headers: dict[str, str]) -> dict[str, str]:
    """The W3C trace headers of a record, so its dead letter stays in its trace (only
    plausible ones: a partner's header is not copied whatever its size)."""
    return {
        k: v for k, v in headers.items() if k in ("traceparent", "tracestate") and len(v) <= MAX_TRACE_HEADER_CHARS
    }


def _within_bounds(letter: DeadLetterRecord) -> DeadLetterRecord:
    """The letter, its original value cut until the whole encodes under the bound."""
    for _ in range(8):
        size = len(letter.model_dump_json())
        if size <= MAX_DEAD_LETTER_BYTES:
            break
        value = letter.original_value
        # Escaping may make a character take up to 6 bytes: cut in proportion, then check.
        keep = max(0, int(len(value) * (MAX_DEAD_LETTER_BYTES - 16 * 1024) / size) - 1)
        if letter.original_value_encoding == "base64":
            keep -= keep % 4  # whole base64 quanta, so that what is kept still decodes
        letter = letter.model_copy(update={"original_value": value[:keep], "original_truncated": True})
    return letter


def _as_text(value: bytes) -> tuple[str, str]:
    """The value as stored in a dead letter: UTF-8 text when it is that (and holds no
    NUL, which PostgreSQL cannot store), base64 otherwise."""
    try:
        text = value.decode("utf-8")
        if "\x00" not in text:
            return text, "utf-8"
    except UnicodeDecodeError:
        pass
    return base64.b64encode(value).decode(), "base64"


def _text(text: str, limit: int) -> str:
    text = text.replace("\x00", "\ufffd")
    return text if len(text) <= limit else text[: limit - 1] + TRUNCATION_MARK
