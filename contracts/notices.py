"""What redthread tells people and partner systems: the notices in e-mails, webhooks, Atom
feeds and the need feed topic. Recipient-facing, so they carry only what the recipient
may see: an anonymised need has no company, a coach-only need never becomes a notice for
anyone but its coach."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field

from contracts.events import (
    CONTRACTS_BY_TYPE,
    Contract,
    Email,
    FeedbackVerdict,
    Keyword,
    Language,
    LongText,
    MatchReason,
    NeedType,
    NotUsefulReason,
    Revision,
    ShortText,
    StrengthArea,
    Trl,
    Urgency,
)

Url = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000, examples=["https://crm.example.se/hooks/redthread"])]


class NeedStatus(StrEnum):
    open = "open"
    withdrawn = "withdrawn"
    resolved = "resolved"


class CompanyShown(Contract):
    """The company as a recipient may see it (absent when the need is anonymised)."""

    org_number: str
    name: ShortText


class MatchNotice(Contract):
    """Research that may answer a company's need, for its coach or IUC."""

    kind: Literal["match"] = "match"
    match_id: UUID
    need_id: UUID
    output_id: UUID
    need_title: ShortText
    output_title: ShortText
    output_summary: LongText
    score: Annotated[float, Field(ge=0, le=1)]
    reasons: list[MatchReason]
    company: CompanyShown | None = None
    region: ShortText | None = None
    answer_url: Url | None = Field(None, description="Where the coach or the company says what the match was worth")


class NeedNotice(Contract):
    """A company need as researchers see it in their need feed."""

    EVENT_TYPE: ClassVar[str] = "redthread.need-feed.item"

    kind: Literal["need"] = "need"
    need_id: UUID
    revision: Revision
    status: NeedStatus
    title: ShortText | None = Field(None, description="Absent once the need is withdrawn or resolved")
    description: LongText | None = None
    language: Language | None = None
    need_type: NeedType | None = None
    focus_areas: list[StrengthArea] = Field(default_factory=list)
    keywords: list[Keyword] = Field(default_factory=list)
    min_trl: Trl | None = None
    urgency: Urgency | None = None
    region: ShortText | None = None
    iuc: ShortText | None = None
    company: CompanyShown | None = None
    expires_on: date | None = None


class FeedbackNotice(Contract):
    """What a company said about a research output: the loop back to its researchers."""

    kind: Literal["feedback"] = "feedback"
    feedback_id: UUID
    revision: Revision
    match_id: UUID
    output_id: UUID
    output_title: ShortText
    need_title: ShortText | None = Field(None, description="Absent when the need is anonymised or coach-only")
    company: CompanyShown | None = None
    region: ShortText | None = None
    verdict: FeedbackVerdict
    reason: NotUsefulReason | None = Field(None, description="Why it was not useful, when it was not")
    comment: Annotated[str | None, Field(max_length=5000)] = None
    new_question: Annotated[str | None, Field(max_length=5000)] = None


Notice = Annotated[MatchNotice | NeedNotice | FeedbackNotice, Field(discriminator="kind")]


class Recipient(Contract):
    name: ShortText
    email: Email | None = None
    language: Language = Language.sv


class Cadence(StrEnum):
    immediate = "immediate"
    daily = "daily"
    weekly = "weekly"


class OutgoingMessage(Contract):
    """One message to one recipient: a single notice, or a digest of several. This is the
    body of a webhook call, and what e-mail and feed templates render."""

    type: Literal["redthread.notices"] = "redthread.notices"
    message_id: UUID = Field(description="Also the webhook-id header and the e-mail Message-ID")
    subscription_id: UUID | None = Field(None, description="Absent for a coach told about their own company")
    recipient: Recipient
    cadence: Cadence = Cadence.immediate
    period: str | None = Field(None, description="For a digest, e.g. 2026-11-24 or 2026-W48")
    notices: list[Notice] = Field(min_length=1)
    unsubscribe_url: Url
    created_at: datetime
    follow_up_months: Literal[3, 6] | None = Field(
        None, description="Set when the message asks a coach again about a match nobody answered, 3 or 6 months on"
    )


class ApiKeyHash(Contract):
    key_id: str
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    revoked: bool = False


class PartnerAccessChanged(Contract):
    """A partner's scope and API keys as they are now, so that every service with an HTTP
    API authenticates partners the same way. Only SHA-256 hashes of 256-bit secrets."""

    EVENT_TYPE: ClassVar[str] = "redthread.partner-access.changed"

    partner_id: ShortText
    name: ShortText
    event_types: list[str]
    regions: list[str] | None = None
    org_numbers: list[str] | None = None
    requests_per_minute: int = 600
    keys: list[ApiKeyHash] = Field(default_factory=list)
    reporting: Literal["board", "coach"] | None = Field(
        None, description="board: every aggregate and timeline without contact data; coach: the timelines of its companies"
    )
    operator: bool = Field(False, description="an operator of the programme office: reads what went out (deliveries, messages sent)")
    removed: bool = False


# Events of this module travel on Kafka too: make them known to the envelope's decoder.
NOTICE_EVENT_CONTRACTS: tuple[type[Contract], ...] = (NeedNotice, PartnerAccessChanged)
CONTRACTS_BY_TYPE.update({c.EVENT_TYPE: c for c in NOTICE_EVENT_CONTRACTS})
