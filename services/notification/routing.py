"""Who hears about what: turning events into notices a recipient may see, and deciding
which subscriptions want them. No I/O.

Confidentiality is applied here, once, before anything leaves:
- a coach-only need is told to its coach and nobody else;
- an anonymised need reaches others without its company (region and IUC stay: they are
  what researchers filter on, and too coarse to identify a company).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.events import (
    CompanyRef,
    Confidentiality,
    FeedbackSubmitted,
    Keyword,
    Language,
    MatchProposed,
    NeedContent,
    NeedType,
    StrengthArea,
    Trl,
)
from contracts.notices import CompanyShown, FeedbackNotice, MatchNotice, NeedNotice, NeedStatus


class About(StrEnum):
    """What a subscription is for."""

    matches = "matches"  # proposed matches for the companies a coach or IUC follows
    needs = "needs"  # the need feed, for researchers
    feedback = "feedback"  # what companies say about research outputs, for their researchers


class Channel(StrEnum):
    email = "email"
    webhook = "webhook"
    atom = "atom"


class Filters(BaseModel):
    """Every filter given must hold; within one filter, any listed value will do. An
    empty filter set means everything the subscriber's partner may see."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    focus_areas: list[StrengthArea] = Field(default_factory=list, max_length=6)
    keywords: list[Keyword] = Field(
        default_factory=list, max_length=50, description="Any of them in the title, text or keywords (case-insensitive)"
    )
    regions: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=30, description="Produktionslyftet regions or IUC names"
    )
    trl_min: Trl | None = None
    trl_max: Trl | None = None
    languages: list[Language] = Field(default_factory=list)
    need_types: list[NeedType] = Field(default_factory=list)
    org_numbers: list[Annotated[str, Field(pattern=r"^\d{9,10}$")]] = Field(
        default_factory=list, max_length=1000, description="Companies (matches): organisation numbers, digits only"
    )
    output_ids: list[UUID] = Field(default_factory=list, max_length=1000, description="Research outputs (feedback)")

    @model_validator(mode="after")
    def _trl_range(self) -> "Filters":
        if self.trl_min is not None and self.trl_max is not None and self.trl_min > self.trl_max:
            raise ValueError("trl_min must not exceed trl_max")
        return self


@dataclass(frozen=True)
class Facets:
    """What filters look at, taken from the event before anything is hidden."""

    text: str = ""
    focus_areas: frozenset[str] = frozenset()
    region: str | None = None
    iuc: str | None = None
    trl: int | None = None
    language: str | None = None
    need_type: str | None = None
    org_number: str | None = None
    output_id: UUID | None = None


@dataclass(frozen=True)
class Scope:
    """What a partner may see: None means no restriction."""

    regions: frozenset[str] | None = None
    org_numbers: frozenset[str] | None = None


@dataclass(frozen=True)
class Audience:
    """A live subscription, as routing needs it."""

    subscription_id: UUID
    about: About
    filters: Filters
    scope: Scope = field(default_factory=Scope)


def wants(audience: Audience, facets: Facets) -> bool:
    scope, f = audience.scope, audience.filters
    if scope.org_numbers is not None and facets.org_number not in scope.org_numbers:
        return False
    if scope.regions is not None and facets.region not in scope.regions:
        return False
    if f.focus_areas and not facets.focus_areas & {a.value for a in f.focus_areas}:
        return False
    if f.keywords and not any(k.casefold() in facets.text for k in f.keywords):
        return False
    if f.regions and facets.region not in f.regions and facets.iuc not in f.regions:
        return False
    if f.trl_min is not None and facets.trl is not None and facets.trl < f.trl_min:
        return False
    if f.trl_max is not None and facets.trl is not None and facets.trl > f.trl_max:
        return False
    if f.languages and facets.language not in {lang.value for lang in f.languages}:
        return False
    if f.need_types and facets.need_type not in {t.value for t in f.need_types}:
        return False
    if f.org_numbers and facets.org_number not in f.org_numbers:
        return False
    if f.output_ids and facets.output_id not in f.output_ids:
        return False
    return True


def shown_company(company: CompanyRef | None, confidentiality: Confidentiality) -> CompanyShown | None:
    if company is None or confidentiality is not Confidentiality.public:
        return None
    return CompanyShown(org_number=company.org_number, name=company.name)


# --- matches --------------------------------------------------------------------------


def match_facets(match: MatchProposed) -> Facets:
    company = match.company
    return Facets(
        text=f"{match.need_title} {match.output_title} {match.output_summary}".casefold(),
        focus_areas=frozenset(a.value for a in match.focus_areas),
        region=company.region if company else None,
        iuc=company.iuc if company else None,
        language=match.language.value if match.language else None,
        org_number=company.org_number if company else None,
        output_id=match.output_id,
    )


def match_notice(match: MatchProposed, *, for_coach: bool, answer_url: str | None) -> MatchNotice | None:
    """The match as told to its need's coach (`for_coach`), or to a subscriber; None when
    that subscriber may not hear of it."""
    if not for_coach and match.confidentiality is Confidentiality.coach_only:
        return None
    company = match.company
    if for_coach and company is not None:
        shown = CompanyShown(org_number=company.org_number, name=company.name)
    else:
        shown = shown_company(company, match.confidentiality)
    return MatchNotice(
        match_id=match.match_id,
        need_id=match.need_id,
        output_id=match.output_id,
        need_title=match.need_title,
        output_title=match.output_title,
        output_summary=match.output_summary,
        score=match.score,
        reasons=match.reasons,
        company=shown,
        region=company.region if company else None,
        answer_url=answer_url,
    )


# --- needs ----------------------------------------------------------------------------


def need_facets(need: NeedContent) -> Facets:
    company = need.company
    return Facets(
        text=" ".join([need.title, need.description, *need.keywords]).casefold(),
        focus_areas=frozenset(a.value for a in need.focus_areas),
        region=company.region if company else None,
        iuc=company.iuc if company else None,
        trl=need.min_trl,
        language=need.language.value if need.language else None,
        need_type=need.need_type.value,
        org_number=company.org_number if company else None,
    )


def need_notice(need: NeedContent, *, need_id: UUID, revision: int) -> NeedNotice | None:
    """The need as researchers may see it; None for a coach-only need."""
    if need.confidentiality is Confidentiality.coach_only:
        return None
    company = need.company
    return NeedNotice(
        need_id=need_id,
        revision=revision,
        status=NeedStatus.open,
        title=need.title,
        description=need.description,
        language=need.language,
        need_type=need.need_type,
        focus_areas=need.focus_areas,
        keywords=need.keywords,
        min_trl=need.min_trl,
        urgency=need.urgency,
        region=company.region if company else None,
        iuc=company.iuc if company else None,
        company=shown_company(company, need.confidentiality),
        expires_on=need.expires_on,
    )


def closed_need_notice(
    need_id: UUID, revision: int, status: NeedStatus, confidentiality: Confidentiality | None
) -> NeedNotice | None:
    if confidentiality is Confidentiality.coach_only:
        return None
    return NeedNotice(need_id=need_id, revision=revision, status=status)


# --- feedback -------------------------------------------------------------------------


def feedback_facets(match: MatchProposed) -> Facets:
    return match_facets(match)


def feedback_notice(feedback: FeedbackSubmitted, match: MatchProposed) -> FeedbackNotice:
    """What a company said, for the output's researchers: the need's title and company
    only as far as the need's confidentiality allows."""
    public_enough = match.confidentiality is not Confidentiality.coach_only
    return FeedbackNotice(
        feedback_id=feedback.feedback_id,
        revision=feedback.revision,
        match_id=feedback.match_id,
        output_id=match.output_id,
        output_title=match.output_title,
        need_title=match.need_title if public_enough else None,
        company=shown_company(match.company, match.confidentiality),
        region=match.company.region if public_enough and match.company else None,
        verdict=feedback.verdict,
        reason=feedback.reason,
        # A coach-only need's free-text comment may well name the company; the new
        # research question is addressed to research and goes on.
        comment=feedback.comment if public_enough else None,
        new_question=feedback.new_question,
    )
