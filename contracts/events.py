"""The published event contracts: the `data` of each CloudEvent on redthread's topics.

Additive changes (a new optional field) are made in place; a breaking change gets a new
model with `SCHEMA_VERSION` raised and an upcaster. `contracts/schemas/` holds the JSON
Schema snapshot of every model, and a unit test fails when a model drifts from it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.org_numbers import normalise_org_number


def refuse_nul(value: object) -> object:
    """Text may hold any character but NUL, which PostgreSQL cannot store."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    if isinstance(value, list) and any(isinstance(v, str) and "\x00" in v for v in value):
        raise ValueError("must not contain the NUL character (\\u0000)")
    return value


class Contract(BaseModel):
    """Base of every event payload: strict about unknown fields, so typos are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    EVENT_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    _no_nul = field_validator("*")(classmethod(lambda cls, value: refuse_nul(value)))


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
    kind: Annotated[str, Field(pattern="^(shared-concepts|shared-terms|strength-area|trl)$")]
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
    recipient: ShortText
    subject: ShortText
    dispatched_at: datetime
    confidentiality: Confidentiality = Confidentiality.public


class FeedbackVerdict(StrEnum):
    useful = "useful"
    not_useful = "not-useful"
    adopted = "adopted"
    new_question = "new-question"


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
    comment: Annotated[str | None, Field(max_length=5000)] = None
    new_question: Annotated[str | None, Field(max_length=5000)] = None


class ValidationProblem(Contract):
    location: str = Field(description="Dotted path of the offending field, empty for the whole message")
    message: str


class DeadLetterRecord(Contract):
    """A message a consumer could not accept, kept with the reason so an operator can
    fix and redrive it. The original value is kept verbatim (text, or base64 when it is
    not UTF-8)."""

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
    DeadLetterRecord,
)

CONTRACTS_BY_TYPE: dict[str, type[Contract]] = {c.EVENT_TYPE: c for c in ALL_CONTRACTS}
