"""CloudEvents 1.0 envelope in the Kafka protocol binding, binary content mode.

The Kafka record value is the event's `data` as JSON; the context attributes travel as
`ce_`-prefixed headers and the content type as `content-type`. Any Kafka client (kcat,
Java, a partner's CRM) can read and write our topics without a redthread library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar
from uuid import UUID, uuid4, uuid5

from pydantic import ConfigDict, Field, ValidationError

from contracts.events import CONTRACTS_BY_TYPE, Contract, RefusesNul
import contracts.notices  # noqa: F401  registers the notice events with CONTRACTS_BY_TYPE
from contracts.personal_data import PersonOpener, UnreadableSealedPerson, open_record, person_fields

SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
HEADER_PREFIX = "ce_"
# FastStream reads this header for its own correlation; we keep it equal to ours.
FASTSTREAM_CORRELATION_HEADER = "correlation_id"

T = TypeVar("T", bound=Contract)


# RefusesNul: header values refuse NUL like the events' text (the docstring is the schema's description).
class Envelope(RefusesNul):
    """The CloudEvents context attributes redthread sets on every event."""

    # Read from Kafka headers by their names (validation aliases, looked up by pydantic
    # itself: no dict is built per record), written and constructed by attribute name.
    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True)

    id: str = Field(min_length=1, max_length=200, validation_alias="ce_id")
    source: str = Field(
        min_length=1, max_length=500, description="The partner or service that produced the event",
        validation_alias="ce_source",
    )
    type: str = Field(min_length=1, max_length=200, validation_alias="ce_type")
    specversion: str = Field(pattern=r"^1\.0$", validation_alias="ce_specversion")
    time: datetime = Field(validation_alias="ce_time")
    subject: str | None = Field(None, max_length=200, validation_alias="ce_subject")
    schemaversion: int = Field(
        1, ge=1, description="Version of the data schema for this type", validation_alias="ce_schemaversion"
    )
    correlationid: str | None = Field(None, max_length=200, validation_alias="ce_correlationid")
    causationid: str | None = Field(None, max_length=200, validation_alias="ce_causationid")
    datacontenttype: str = Field(JSON_CONTENT_TYPE, validation_alias="content-type")


class EnvelopeError(ValueError):
    """The record is not a CloudEvent we can read; `problems` say where and why."""

    def __init__(self, reason: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problems = problems or []


@dataclass(frozen=True)
class CloudEvent(Generic[T]):
    envelope: Envelope
    data: T

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlationid or self.envelope.id


def new_event(
    data: T,
    *,
    source: str,
    subject: str | None = None,
    caused_by: CloudEvent | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent[T]:
    """A fresh event; when it is caused by another, it inherits the correlation id."""
    return CloudEvent(
        envelope=Envelope(
            id=event_id or str(uuid4()),
            source=source,
            type=data.EVENT_TYPE,
            specversion=SPEC_VERSION,
            time=time or datetime.now(UTC),
            subject=subject,
            schemaversion=data.SCHEMA_VERSION,
            correlationid=caused_by.correlation_id if caused_by else None,
            causationid=caused_by.id if caused_by else None,
        ),
        data=data,
    )


def derived_event_id(namespace: str, *parts: object) -> str:
    """A deterministic id, so that re-handling the same input yields the same event."""
    return str(uuid5(UUID("8d6f4c1e-8c2b-4c1a-9a57-3b1f0c6d2e10"), "|".join([namespace, *map(str, parts)])))


def encode(event: CloudEvent) -> tuple[bytes, dict[str, str]]:
    """(value, headers) for a Kafka record."""
    attributes = event.envelope.model_dump(mode="json", exclude_none=True)
    attributes.setdefault("correlationid", event.envelope.id)
    headers = {
        HEADER_PREFIX + name: str(value)
        for name, value in attributes.items()
        if name != "datacontenttype"
    }
    headers["content-type"] = JSON_CONTENT_TYPE
    headers[FASTSTREAM_CORRELATION_HEADER] = attributes["correlationid"]
    return event.data.model_dump_json(exclude_none=True).encode(), headers


def read_envelope(headers: dict[str, str]) -> Envelope:
    """The envelope in a record's headers (ce_* and content-type; the attribute names
    alone, without the prefix, are not headers of ours)."""
    try:
        return Envelope.model_validate(headers, by_alias=True, by_name=False)
    except ValidationError as error:
        raise EnvelopeError(
            "the CloudEvents headers are missing or invalid",
            [("header " + ".".join(map(str, e["loc"])), e["msg"]) for e in error.errors()],
        ) from None


def decode(
    headers: dict[str, str],
    value: bytes | None,
    accepted_types: set[str] | None = None,
    open_person: PersonOpener | None = None,
) -> CloudEvent:
    """Validate a Kafka record as one of our CloudEvents, or raise EnvelopeError.
    `open_person` opens the sealed persons of redthread's own topics
    (contracts.personal_data); without it, a sealed person is refused."""
    envelope = read_envelope(headers)
    if not envelope.datacontenttype.startswith(JSON_CONTENT_TYPE):
        raise EnvelopeError(f"content-type {envelope.datacontenttype!r} is not {JSON_CONTENT_TYPE}")
    contract = CONTRACTS_BY_TYPE.get(envelope.type)
    if contract is None or (accepted_types is not None and envelope.type not in accepted_types):
        allowed = sorted(accepted_types or CONTRACTS_BY_TYPE)
        raise EnvelopeError(f"event type {envelope.type!r} is not accepted here (accepted: {', '.join(allowed)})")
    if envelope.schemaversion != contract.SCHEMA_VERSION:
        raise EnvelopeError(
            f"schema version {envelope.schemaversion} of {envelope.type} is not supported "
            f"(supported: {contract.SCHEMA_VERSION})"
        )
    if not value:
        raise EnvelopeError("the record has no value; expected the event data as JSON")
    try:
        if b'"sealed"' in value and person_fields(contract):
            data = contract.model_validate(_opened(contract, value, open_person))
        else:
            data = contract.model_validate_json(value)
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors()):
            raise EnvelopeError(f"the value is not valid JSON: {error.errors()[0]['msg']}") from None
        raise EnvelopeError(
            f"the data does not match the {envelope.type} v{contract.SCHEMA_VERSION} schema",
            problem_list(error),
        ) from None
    return CloudEvent(envelope=envelope, data=data)


def _opened(contract: type[Contract], value: bytes, open_person: PersonOpener | None) -> dict:
    if open_person is None:
        raise EnvelopeError("the data holds sealed persons, which only redthread's services open")
    try:
        return open_record(contract, value, open_person)
    except ValueError as error:  # not JSON, or a token that does not open
        if isinstance(error, UnreadableSealedPerson):
            raise EnvelopeError(f"a sealed person does not open: {error}") from None
        raise EnvelopeError(f"the value is not valid JSON: {error}") from None


def problem_list(error: ValidationError) -> list[tuple[str, str]]:
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in error.errors()]
