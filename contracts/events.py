"""The published event contracts: the `data` of each CloudEvent on redthread's topics.

Additive changes (a new optional field) are made in place; a breaking change gets a new
model with `SCHEMA_VERSION` raised and an upcaster. `contracts/schemas/` holds the JSON
Schema snapshot of every model, and a unit test fails when a model drifts from it.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, field_validator
from pydantic_core import CoreSchema, core_schema

from contracts.org_numbers import normalise_org_number


NUL_REFUSED = "must not contain the NUL character (\\u0000)"


def refuse_nul(value: object) -> object:
    """Text may hold any character but NUL, which PostgreSQL cannot store."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(NUL_REFUSED)
    if isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value):
        raise ValueError(NUL_REFUSED)
    return value


# refuse_nul for values known to be a str, or a list of them: the common fields pay only
# for the `in`.
def _refuse_nul_in_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError(NUL_REFUSED)
    return value


def _refuse_nul_in_texts(value: list[str]) -> list[str]:
    for text in value:  # a loop, not any(): no generator to resume for each item
        if "\x00" in text:
            raise ValueError(NUL_REFUSED)
    return value


_NUL_CHECKS = (refuse_nul, _refuse_nul_in_text, _refuse_nul_in_texts)

# Core schema types whose values are never text refuse_nul would look into: a nested model
# checks its own fields, enums and literals hold only the values we wrote, and refuse_nul
# never looked into dicts, tuples or sets.
_NEVER_TEXT = frozenset({
    "none", "bool", "int", "float", "decimal", "complex", "bytes", "date", "time", "datetime", "timedelta",
    "uuid", "url", "multi-host-url", "enum", "literal", "model", "dataclass", "typed-dict", "dict", "tuple",
    "set", "frozenset",
})
# Schemas around the value a field holds: its default, null, and the field's own validators.
_WRAPPERS = frozenset({"default", "nullable", "function-after", "function-before", "function-wrap"})


def _may_be_text(schema: CoreSchema, handler: GetCoreSchemaHandler) -> bool:
    kind = schema["type"]
    if kind == "definition-ref":
        return _may_be_text(handler.resolve_ref_schema(schema), handler)
    if kind == "union":
        return any(_may_be_text(c[0] if isinstance(c, tuple) else c, handler) for c in schema["choices"])
    if kind == "tagged-union":
        return any(_may_be_text(c, handler) for c in schema["choices"].values())
    if kind in _WRAPPERS:
        return _may_be_text(schema["schema"], handler)
    if kind == "list" and "items_schema" in schema:
        return _may_be_text(schema["items_schema"], handler)
    return kind not in _NEVER_TEXT


def _with_nul_check(schema: CoreSchema, handler: GetCoreSchemaHandler) -> CoreSchema:
    """A field's schema with the NUL check where its text is read: right after the type,
    before the field's own validators (an org number with NUL is refused for the NUL, not
    its check digit, as before), and inside its default and null, which need no check."""
    kind = schema["type"]
    if kind == "function-after" and schema["function"].get("function") in _NUL_CHECKS:
        return schema  # already checked: the schema of a model nested in another
    if kind == "str":
        return core_schema.no_info_after_validator_function(_refuse_nul_in_text, schema)
    if kind == "list" and schema.get("items_schema", {}).get("type") == "str":
        # The list as a whole, so that the error points at the field ("keywords"), as it did.
        return core_schema.no_info_after_validator_function(_refuse_nul_in_texts, schema)
    if kind in _WRAPPERS:
        return {**schema, "schema": _with_nul_check(schema["schema"], handler)}
    if _may_be_text(schema, handler):
        # Text we cannot see into (a union with str, Any, a custom type): checked whole,
        # as every field used to be.
        return core_schema.no_info_after_validator_function(refuse_nul, schema)
    return schema


def _with_nul_checks(cls: type[BaseModel], schema: CoreSchema, handler: GetCoreSchemaHandler) -> CoreSchema:
    """The model's schema with the NUL check on each of its fields; a copy, since for a model
    nested in another pydantic hands out the schema it built for the model and keeps."""
    if schema["type"] in _WRAPPERS:  # model validators, should it ever have any
        return {**schema, "schema": _with_nul_checks(cls, schema["schema"], handler)}
    if schema["type"] != "model" or schema["schema"]["type"] != "model-fields":
        # Fail at import rather than let text through unchecked after a pydantic upgrade.
        raise TypeError(f"{cls.__name__}: cannot add the NUL check to a {schema['type']!r} core schema")
    fields = {
        name: {**field, "schema": _with_nul_check(field["schema"], handler)}
        for name, field in schema["schema"]["fields"].items()
    }
    return {**schema, "schema": {**schema["schema"], "fields": fields}}


class RefusesNul(BaseModel):
    """A model whose text refuses NUL, which PostgreSQL cannot store.

    This was a `field_validator("*")`: two Python calls for every field of every model on
    every validation (UUIDs, enums and nested models too), ~5% of intake's CPU. Instead,
    each model's schema gets one check on each field that can hold text (str, str | None,
    list[str]) when pydantic builds it, so fields and models added later are covered too.
    The errors are those the field validator raised: a value_error at the field, at the
    list for a list of texts ("keywords", not "keywords.1").
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /) -> CoreSchema:
        return _with_nul_checks(cls, handler(source), handler)


class Contract(RefusesNul):
    """Base of every event payload: strict about unknown fields, so typos are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    EVENT_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1


class StrengthArea(StrEnum):
    """Produktion2030's six strength areas."""

    P1 = "P1"  # Hållbar och resurseffektiv produktion
    P2 = "P2"  # Flexibla tillverkningsprocesser
    P3 = "P3"  # Virtuell produktionsutveckling och simulering
    P4 = "P4"  # Människan i produktionssystemet
    P5 = "P5"  # Produkt- och produktionstjänster
    P6 = "P6"  # Integrerad produkt- och produktionsutveckling


class Language(StrEnum):
    sv = "sv"
    no = "no"
    en = "en"


class NeedType(StrEnum):
    process = "process"
    technology = "technology"
    competence = "competence"
    organisation = "organisation"


class Confidentiality(StrEnum):
    public = "public"
    anonymised = "anonymised"
    coach_only = "coach-only"


class Urgency(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class OutputType(StrEnum):
    method = "method"
    demonstrator = "demonstrator"
    tool = "tool"
    testbed = "testbed"
    course = "course"
    report = "report"
    guide = "guide"


class Country(StrEnum):
    SE = "SE"
    NO = "NO"


Trl = Annotated[int, Field(ge=1, le=9, description="Technology readiness level, 1–9")]
ShortText = Annotated[str, Field(min_length=1, max_length=300)]
LongText = Annotated[str, Field(min_length=1, max_length=10_000)]
Keyword = Annotated[str, Field(min_length=1, max_length=80)]


# A deliberately plain e-mail check: the full RFC validator cost more than all the rest
# of a need's validation, and delivery is the real test of an address anyway.
Email = Annotated[
    str,
    Field(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]{2,}$", max_length=254, examples=["karin@example.se"]),
]


class Person(Contract):
    name: ShortText
    email: Email
    organisation: ShortText | None = None


class Researcher(Person):
    orcid: Annotated[str | None, Field(pattern=r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")] = None


class CompanyRef(Contract):
    """The company an event is about; the organisation number is its identity."""

    country: Country = Country.SE
    org_number: str = Field(
        description="Swedish organisationsnummer (10 digits, Luhn) or Norwegian "
        "organisasjonsnummer (9 digits, mod 11); dashes and spaces are ignored",
        examples=["556036-0793"],
    )
    name: ShortText
    county: ShortText | None = Field(None, description="Län or fylke", examples=["Jönköpings län"])
    municipality: ShortText | None = Field(None, examples=["Värnamo"])
    region: ShortText | None = Field(
        None, description="Produktionslyftet region; set by intake from county and municipality"
    )
    iuc: ShortText | None = Field(None, description="The regional IUC company; set by intake")

    @field_validator("org_number")
    @classmethod
    def _valid_org_number(cls, value: str, info) -> str:
        return normalise_org_number(value, info.data.get("country", Country.SE))


Revision = Annotated[
    int,
    Field(
        ge=1,
        le=2**31 - 1,
        description="Version of the aggregate, raised by the sender with every change; a change "
        "with a revision at or below the stored one is stale and changes nothing",
    ),
]


class NeedContent(Contract):
    """What a need says; shared by its submission and its updates."""

    company: CompanyRef | None = Field(None, description="Null when the need is not tied to one company")
    coach: Person | None = Field(None, description="The coach or IUC adviser who follows the company")
    title: ShortText = Field(examples=["Långa ställtider i pressverkstaden"])
    description: LongText
    language: Language | None = Field(None, description="sv, no or en; detected by intake when not given")
    need_type: NeedType
    focus_areas: list[StrengthArea] = Field(default_factory=list, max_length=6)
    keywords: list[Keyword] = Field(default_factory=list, max_length=30)
    min_trl: Trl | None = None
    urgency: Urgency = Urgency.medium
    confidentiality: Confidentiality = Field(
        Confidentiality.public,
        description="public; anonymised (the company is hidden outside its coach); coach-only (never leaves the coach)",
    )
    expires_on: date | None = None


class NeedSubmitted(NeedContent):
    """A company, or a coach on its behalf, describes a need for knowledge."""

    EVENT_TYPE: ClassVar[str] = "redthread.need.submitted"

    need_id: UUID
    revision: Revision = 1


class NeedUpdated(NeedContent):
    """The need as it reads now: the whole content, superseding earlier revisions."""

    EVENT_TYPE: ClassVar[str] = "redthread.need.updated"

    need_id: UUID
    revision: Revision


class NeedClosed(Contract):
    need_id: UUID
    revision: Revision
    confidentiality: Confidentiality | None = Field(None, description="Set by intake from the stored need")
    company_org_number: str | None = Field(None, description="Set by intake from the stored need")


class NeedWithdrawn(NeedClosed):
    """The need no longer stands; nothing more should be proposed for it."""

    EVENT_TYPE: ClassVar[str] = "redthread.need.withdrawn"

    reason: Annotated[str | None, Field(max_length=2000)] = None


class NeedResolved(NeedClosed):
    """The need has been answered, by redthread's match or otherwise."""

    EVENT_TYPE: ClassVar[str] = "redthread.need.resolved"

    resolution: Annotated[str | None, Field(max_length=2000)] = None
    match_id: UUID | None = None


class ResearchOutputContent(Contract):
    """What a research output says; shared by its publication and its updates."""

    project: ShortText = Field(examples=["Produktion2030: Snabba omställningar"])
    output_type: OutputType
    title: ShortText
    summary: LongText
    language: Language | None = Field(None, description="sv, no or en; detected by intake when not given")
    trl: Trl
    focus_areas: list[StrengthArea] = Field(default_factory=list, max_length=6)
    keywords: list[Keyword] = Field(default_factory=list, max_length=30)
    contact_researchers: list[Researcher] = Field(default_factory=list, max_length=20)
    access_terms: ShortText | None = None
    links: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=20)
    published_at: datetime


class ResearchOutputPublished(ResearchOutputContent):
    """A research project publishes a result that companies could use."""

    EVENT_TYPE: ClassVar[str] = "redthread.research-output.published"

    output_id: UUID
    revision: Revision = 1


class ResearchOutputUpdated(ResearchOutputContent):
    """The output as it reads now, superseding earlier revisions."""

    EVENT_TYPE: ClassVar[str] = "redthread.research-output.updated"

    output_id: UUID
    revision: Revision


class ResearchOutputWithdrawn(Contract):
    """The output is no longer offered (retracted, replaced, or the project ended)."""

    EVENT_TYPE: ClassVar[str] = "redthread.research-output.withdrawn"

    output_id: UUID
    revision: Revision
    reason: Annotated[str | None, Field(max_length=2000)] = None


class Initiative(Contract):
    initiative_id: Annotated[str, Field(min_length=1, max_length=100)]
    name: ShortText = Field(examples=["Produktionslyftet Utvecklingsprogram"])
    owner: ShortText = Field(examples=["Produktionslyftet", "IUC Sverige", "Lean Forum Norge"])
    country: Country = Country.SE


class ParticipationRecorded(Contract):
    """A company took part in an initiative (a programme, a workshop, a check)."""

    EVENT_TYPE: ClassVar[str] = "redthread.participation.recorded"

    participation_id: UUID
    company: CompanyRef
    initiative: Initiative
    phase: ShortText | None = Field(None, examples=["Fas 2: Införande"])
    coaches: list[Person] = Field(default_factory=list, max_length=10)
    started_on: date
    ended_on: date | None = None
    status: Annotated[str, Field(pattern="^(planned|active|completed|cancelled)$")] = "active"


class MatchReason(Contract):
    kind: Annotated[str, Field(
        pattern="^(shared-concepts|shared-terms|strength-area|trl|answers|confidence)$",
        description=(
            "answers: what companies' answers about the output taught the matcher; "
            "confidence: the matcher's estimate that the proposal is useful, and what it rests on"
        ),
    )]
    explanation: ShortText = Field(examples=["Båda handlar om: ställtid, omställning"])


class MatchProposed(Contract):
    """The matcher believes a research output answers a need. Carries what notification
    needs so that it never has to ask another service."""

    EVENT_TYPE: ClassVar[str] = "redthread.match.proposed"

    match_id: UUID
    need_id: UUID
    output_id: UUID
    score: Annotated[float, Field(ge=0, le=1)]
    method: ShortText = Field(examples=["lexical-v1"])
    reasons: list[MatchReason]
    need_title: ShortText
    output_title: ShortText
    output_summary: LongText
    company: CompanyRef | None = None
    coach: Person | None = None
    confidentiality: Confidentiality
    language: Language | None = Field(None, description="The need's language: the coach is written to in it")
    focus_areas: list[StrengthArea] = Field(default_factory=list, description="The need's strength areas")


class MatchRetracted(Contract):
    """A proposed match no longer stands: its need or output was withdrawn, or changed so
    that it no longer fits."""

    EVENT_TYPE: ClassVar[str] = "redthread.match.retracted"

    match_id: UUID
    need_id: UUID
    output_id: UUID
    reason: ShortText = Field(examples=["Forskningsresultatet har dragits tillbaka"])
    company_org_number: str | None = None


class NotificationDispatched(Contract):
    """A message about a match left redthread for a person."""

    EVENT_TYPE: ClassVar[str] = "redthread.notification.dispatched"

    notification_id: UUID
    match_id: UUID
    need_id: UUID
    company_org_number: str | None = None
    channel: Annotated[str, Field(pattern="^(email|webhook|feed|kafka)$")]
    recipient: ShortText = Field(
        description="Who was told, without contact data: `coach` (the need's coach) or "
        "`subscription:<id>` (a subscriber, whose address notification keeps)",
        examples=["coach", "subscription:0b6f3c52-63a5-4b52-9a0e-6f1f4b3c2d1e"],
    )
    subject: ShortText
    dispatched_at: datetime
    confidentiality: Confidentiality = Confidentiality.public


class FeedbackVerdict(StrEnum):
    useful = "useful"
    not_useful = "not-useful"
    adopted = "adopted"
    new_question = "new-question"


class NotUsefulReason(StrEnum):
    """Why a proposal was not useful: a short fixed list, so that researchers and the
    board can count the reasons."""

    not_mature = "not-mature"
    not_our_process = "not-our-process"
    already_known = "already-known"
    too_costly = "too-costly"
    unclear = "unclear-description"
    other = "other"


# The reasons as people read them, in the three languages redthread writes in.
NOT_USEFUL_REASON_WORDS: dict[Language, dict[NotUsefulReason, str]] = {
    Language.sv: {
        NotUsefulReason.not_mature: "Inte moget nog för oss",
        NotUsefulReason.not_our_process: "Passar inte vår process",
        NotUsefulReason.already_known: "Det visste vi redan",
        NotUsefulReason.too_costly: "För dyrt att prova",
        NotUsefulReason.unclear: "Otydligt beskrivet",
        NotUsefulReason.other: "Annat",
    },
    Language.no: {
        NotUsefulReason.not_mature: "Ikke modent nok for oss",
        NotUsefulReason.not_our_process: "Passer ikke vår prosess",
        NotUsefulReason.already_known: "Det visste vi allerede",
        NotUsefulReason.too_costly: "For dyrt å prøve",
        NotUsefulReason.unclear: "Uklart beskrevet",
        NotUsefulReason.other: "Annet",
    },
    Language.en: {
        NotUsefulReason.not_mature: "Not mature enough for us",
        NotUsefulReason.not_our_process: "Does not fit our process",
        NotUsefulReason.already_known: "We knew this already",
        NotUsefulReason.too_costly: "Too costly to try",
        NotUsefulReason.unclear: "Unclear description",
        NotUsefulReason.other: "Other",
    },
}


class FeedbackSubmitted(Contract):
    """A company or its coach says what a match was worth: the loop back to research."""

    EVENT_TYPE: ClassVar[str] = "redthread.feedback.submitted"

    feedback_id: UUID
    revision: Revision = Field(
        1, description="Answering again sends the same feedback_id with a higher revision: it replaces the earlier answer"
    )
    match_id: UUID
    company_org_number: str | None = None
    reporter: Person
    verdict: FeedbackVerdict
    reason: NotUsefulReason | None = Field(None, description="Why it was not useful; only with verdict not-useful")
    comment: Annotated[str | None, Field(max_length=5000)] = None
    new_question: Annotated[str | None, Field(max_length=5000)] = None

    @field_validator("reason")
    @classmethod
    def _reason_only_when_not_useful(cls, reason: NotUsefulReason | None, info) -> NotUsefulReason | None:
        if reason is not None and info.data.get("verdict") is not FeedbackVerdict.not_useful:
            raise ValueError("only a not-useful answer gives a reason")
        return reason


class ValidationProblem(Contract):
    location: str = Field(description="Dotted path of the offending field, empty for the whole message")
    message: str


PERSON_ID = r"^[0-9a-f]{64}$"


def person_id(email: str) -> str:
    """The one name every service gives a person: a digest of their e-mail address, so
    that an erasure can name them without carrying their address. The SQL function
    person_id (services/common/migrations/008_person_erasure.sql) computes the same."""
    return hashlib.sha256(f"redthread-person:{email.strip().lower()}".encode()).hexdigest()


class PersonErased(Contract):
    """A person asked to be forgotten: every service removes what it keeps about them
    (rows, read models, messages kept for sending, answer links), and keeps it removed
    when its read models are replayed."""

    EVENT_TYPE: ClassVar[str] = "redthread.person.erased"

    person_id: Annotated[str, Field(pattern=PERSON_ID, description="person_id(e-mail address)")]
    erased_at: datetime
    reason: ShortText | None = Field(None, examples=["Begäran om radering 2026-12-07 (ärende 4711)"])


class PersonKeyIssued(Contract):
    """The key that seals a person's data on redthread's own topics
    (contracts.personal_data): every service that reads those topics keeps it, and
    forgets it when the person is erased, after which what it sealed no longer opens,
    wherever a copy of it lies."""

    EVENT_TYPE: ClassVar[str] = "redthread.person-key.issued"

    person_id: Annotated[str, Field(pattern=PERSON_ID, description="person_id(e-mail address)")]
    key: Annotated[str, Field(
        pattern=r"^sealed:v1:", max_length=200,
        description="The person's 256-bit key, itself sealed with the services' secrets key",
        examples=["sealed:v1:3f9a1c2e:c2VhbGVkIGtleQ=="],
    )]
    issued_at: datetime


class PersonKeyDestroyed(Contract):
    """The person was erased and their key destroyed: what was sealed with it reads as
    an erased person from now on. Replaces the key on its compacted topic."""

    EVENT_TYPE: ClassVar[str] = "redthread.person-key.destroyed"

    person_id: Annotated[str, Field(pattern=PERSON_ID, description="person_id(e-mail address)")]
    destroyed_at: datetime


class DeadLetterRecord(Contract):
    """A message a consumer could not accept, kept with the reason so an operator can
    fix and redrive it. The original value is kept verbatim (text, or base64 when it is
    not UTF-8) up to a bound that keeps every dead letter sendable; past it, the value,
    key or headers are cut, `original_truncated` says so, and the original's size and
    SHA-256 with its topic, partition and offset say which record it was and where to
    read it whole."""

    EVENT_TYPE: ClassVar[str] = "redthread.dead-letter.recorded"

    consumer: str
    reason: str
    problems: list[ValidationProblem] = Field(default_factory=list)
    source_topic: str
    source_partition: int
    source_offset: int
    original_key: str | None = None
    original_headers: dict[str, str]
    original_value: str
    original_value_encoding: Annotated[str, Field(pattern="^(utf-8|base64)$")]
    failed_at: datetime
    original_value_bytes: int | None = Field(None, description="Size of the original value in bytes.")
    original_value_sha256: str | None = Field(None, description="SHA-256 of the original value, hex.")
    original_truncated: bool = Field(
        False, description="True when the value, key or headers kept here were cut to keep the dead letter sendable."
    )


ALL_CONTRACTS: tuple[type[Contract], ...] = (
    NeedSubmitted,
    NeedUpdated,
    NeedWithdrawn,
    NeedResolved,
    ResearchOutputPublished,
    ResearchOutputUpdated,
    ResearchOutputWithdrawn,
    ParticipationRecorded,
    MatchProposed,
    MatchRetracted,
    NotificationDispatched,
    FeedbackSubmitted,
    PersonErased,
    PersonKeyIssued,
    PersonKeyDestroyed,
    DeadLetterRecord,
)

CONTRACTS_BY_TYPE: dict[str, type[Contract]] = {c.EVENT_TYPE: c for c in ALL_CONTRACTS}
