"""What reporting answers: the board's figures and a company's red thread, as JSON (and,
for the tables, as CSV). The dashboard reads exactly these; nothing here carries personal
contact data except a timeline shown to a coach of the company."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field


class Period(BaseModel):
    start: date | None = Field(None, description="From this day (inclusive); open when absent")
    end: date | None = Field(None, description="Up to this day (inclusive); open when absent")


class FunnelStage(BaseModel):
    stage: str = Field(description="published, matched, notified, useful, adopted")
    label: str = Field(description="Swedish label for the dashboard", examples=["Publicerade"])
    outputs: int = Field(description="Research outputs published in the period that reached this stage")


class Funnel(BaseModel):
    """Outputs published in the period → matched to a need → a company told → found useful → adopted."""

    period: Period
    stages: list[FunnelStage]


class Durations(BaseModel):
    count: int = Field(description="How many outputs reached this step")
    median_days: float | None
    p90_days: float | None


class UptakeGroup(BaseModel):
    group: str = Field(description="The region, strength area or initiative", examples=["Småland och öarna"])
    outputs: int
    to_first_match: Durations = Field(description="Published → first match")
    to_notified: Durations = Field(description="Published → first company told")
    to_adopted: Durations = Field(description="Published → first adoption")


class Uptake(BaseModel):
    """Time to uptake, grouped by `by` (region of the company, strength area of the
    output, or the initiative the company took part in)."""

    period: Period
    by: str = Field(description="region, focus_area or initiative")
    overall: UptakeGroup
    groups: list[UptakeGroup]


class WhiteSpot(BaseModel):
    region: str
    focus_area: str = Field(description="P1–P6, or 'övrigt' for needs without one")
    open_needs: int
    without_good_match: int = Field(description="Open needs whose best match scores below the threshold, or none")


class WhiteSpots(BaseModel):
    """Open needs without a good research answer, by region × strength area: input for
    the next research calls."""

    period: Period
    good_match_threshold: float
    cells: list[WhiteSpot]


NOT_USEFUL_REASONS_FIELD = Field(
    default_factory=dict,
    description="Answers that said not useful, by reason (contracts.events.NotUsefulReason; "
    "'unstated' when the answer gave none)",
)


class ProjectReach(BaseModel):
    project: str
    outputs: int
    matches: int
    companies_told: int
    useful: int
    adopted: int
    not_useful: dict[str, int] = NOT_USEFUL_REASONS_FIELD


class ResearcherReach(BaseModel):
    name: str
    organisation: str | None
    outputs: int
    matches: int
    companies_told: int
    useful: int
    adopted: int
    not_useful: dict[str, int] = NOT_USEFUL_REASONS_FIELD


class Reach(BaseModel):
    period: Period
    projects: list[ProjectReach]
    researchers: list[ResearcherReach]


class RegionCoverage(BaseModel):
    region: str
    iuc: str | None
    companies: int = Field(description="Companies seen (in a need or a participation)")
    companies_in_initiatives: int
    needs: int
    needs_matched: int
    needs_told: int = Field(description="Needs whose coach or company was told of at least one match")


class Coverage(BaseModel):
    period: Period
    regions: list[RegionCoverage]


class CompanySummary(BaseModel):
    org_number: str
    name: str
    region: str | None
    iuc: str | None
    needs: int
    matches: int


class TimelineEvent(BaseModel):
    occurred_at: datetime
    kind: str = Field(
        description="participation-recorded, need-submitted, need-updated, need-withdrawn, need-resolved, "
        "match-proposed, match-retracted, notification-dispatched, feedback-submitted"
    )
    summary: str = Field(description="In Swedish; without contact data unless the reader is the company's coach")
    source: str = Field(description="The partner system (or service) it came from")
    need_id: UUID | None = None
    match_id: UUID | None = None


class Timeline(BaseModel):
    """The red thread of one company: every initiative, need, match, notification and
    feedback, whichever partner sent it."""

    org_number: str
    name: str | None
    region: str | None
    iuc: str | None
    events: list[TimelineEvent]
