"""Reporting's HTTP API, for partners with a reporting role (services/reporting/access.py):

- /v1/board/…: the board's figures — funnel, time to uptake, white spots, reach,
  coverage — and company search; JSON, or CSV for Excel with `?format=csv`. Board only.
- /v1/companies/{org_number}/timeline: a company's red thread.
- /v1/needs/{need_id}/matches: the research proposed for a need.

Keys as everywhere: `Authorization: Bearer rt_…` or `X-API-Key: rt_…`. Every error is
an RFC 9457 problem document.
"""


import json
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from contracts.notices import PartnerAccessChanged
from contracts.org_numbers import normalise_org_number
from services.common.access import Access, declares, public
from services.common.api_keys import presented_key
from services.common.partner_access import authenticated_partner
from services.common.problems import PROBLEM_JSON, Problem
from services.reporting import board_csv, kpis
from services.reporting.access import BOARD, COACH, board_summary, coach_covers
from services.reporting.board_models import (
    CompanySummary,
    Coverage,
    Funnel,
    Period,
    Reach,
    Timeline,
    TimelineEvent,
    Uptake,
    WhiteSpots,
)

if TYPE_CHECKING:
    from services.common.runtime import Service

DASHBOARD_PATH = "/dashboard"


class ProblemDocument(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["urn:redthread:problem:board-only"])
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, Any]] | None = Field(
        None, description="For invalid requests: a JSON pointer per problem (/query/start, /path/org_number)"
    )


class NeedMatch(BaseModel):
    match_id: UUID
    output_id: UUID | None
    output_title: str | None
    score: float | None
    reasons: list[dict[str, Any]] = Field(description="Why the output fits: kind and explanation")
    proposed_at: datetime | None
    notified_at: datetime | None = Field(description="When the coach or company was first told")
    notified_to: str | None = Field(description="Who was told; only the company's coach sees it (null for the board)")
    feedback: str | None = Field(description="The latest answer: useful, not-useful, adopted, new-question")
    first_useful_at: datetime | None
    adopted_at: datetime | None
    retracted_at: datetime | None
    retraction_reason: str | None


class NeedMatches(BaseModel):
    need_id: UUID
    title: str | None = Field(description="Null while the need is still arriving, or for the board when it is confidential")
    matches: list[NeedMatch]


class CompanySearch(BaseModel):
    period: Period
    query: str
    companies: list[CompanySummary]


class AnswerFormat(StrEnum):
    json = "json"
    csv = "csv"


_PROBLEM = {"model": ProblemDocument, "content": {PROBLEM_JSON: {}}}
_ACCESS_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {**_PROBLEM, "description": "No key, or not a valid one"},
    403: {**_PROBLEM, "description": "The partner's reporting role does not allow this"},
    422: {**_PROBLEM, "description": "An invalid parameter (JSON pointers in `errors`)"},
}


def _csv_and_problems(example: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI: the table is JSON by default and CSV with ?format=csv."""
    return {
        200: {
            "description": "JSON, or with `?format=csv` a CSV table for Excel: UTF-8 with BOM, `;` between fields, "
            "decimal comma, a header row",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": example}},
        },
        **_ACCESS_PROBLEMS,
    }


def _csv_response(document: str, name: str, period: Period) -> Response:
    days = "".join(f"_{day.isoformat()}" if day else "_" for day in (period.start, period.end)).rstrip("_")
    return Response(
        document,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="redthread-{name}{days}.csv"'},
    )


def board_period(
    start: Annotated[date | None, Query(description="From this day (inclusive, Swedish time)")] = None,
    end: Annotated[date | None, Query(description="Up to this day (inclusive, Swedish time)")] = None,
) -> Period:
    if start and end and end < start:
        raise Problem(
            422,
            f"the period ends ({end}) before it starts ({start})",
            slug="invalid-request",
            errors=[{"pointer": "/query/end", "location": ["query", "end"], "detail": "must not be before start"}],
        )
    return Period(start=start, end=end)


def parse_org_number(org_number: str, country: str | None) -> str:
    """Canonical digits; Norwegian when it has nine digits and no country is given."""
    digits = org_number.replace("-", "").replace(" ", "")
    try:
        return normalise_org_number(org_number, country or ("NO" if len(digits) == 9 else "SE"))
    except ValueError as error:
        raise Problem(
            422,
            f"org_number: {error}",
            slug="invalid-request",
            errors=[{"pointer": "/path/org_number", "location": ["path", "org_number"], "detail": str(error)}],
        ) from None


PeriodDep = Annotated[Period, Depends(board_period)]
FormatDep = Annotated[
    AnswerFormat, Query(alias="format", description="json (default) or csv (for Excel)")
]


def build_router(service: "Service") -> APIRouter:
    root = APIRouter()
    router = APIRouter(prefix="/v1")

    @declares(Access("reporting board or coach"))
    async def reader(key: Annotated[str | None, Depends(presented_key)]) -> PartnerAccessChanged:
        partner = await authenticated_partner(lambda: service.pool, key, service.rate_limits)
        if partner.reporting not in (BOARD, COACH):
            raise Problem(
                403,
                f"partner {partner.partner_id} has no reporting role; the programme office gives board or coach access",
                slug="no-reporting-role",
            )
        return partner

    @declares(Access("reporting board"))
    async def board_reader(partner: Annotated[PartnerAccessChanged, Depends(reader)]) -> PartnerAccessChanged:
        if partner.reporting != BOARD:
            raise Problem(
                403,
                "the board's figures are for partners with the board role; a coach key reads the timelines"
                " and need matches of its own companies",
                slug="board-only",
            )
        return partner

    Reader = Annotated[PartnerAccessChanged, Depends(reader)]
    BoardReader = Annotated[PartnerAccessChanged, Depends(board_reader)]

    def not_found(what: str) -> Problem:
        # The same answer whether it does not exist or the coach may not see it.
        return Problem(404, f"{what} is not known to reporting, or not in this partner's scope", slug="not-found")

    # --- the board's figures ---------------------------------------------------------

    @router.get(
        "/board/funnel", response_model=Funnel, tags=["board"],
        responses=_csv_and_problems("\ufeffstage;label;outputs\r\npublished;Publicerade;120\r\nmatched;Matchade;64\r\n"),
    )
    async def board_funnel(_: BoardReader, period: PeriodDep, answer_format: FormatDep = AnswerFormat.json):
        """The knowledge flow: research outputs published in the period → matched to a
        need → a company told → found useful → adopted."""
        async with service.pool.acquire() as conn:
            figures = await kpis.funnel(conn, period)
        if answer_format is AnswerFormat.csv:
            return _csv_response(board_csv.funnel_csv(figures), "funnel", period)
        return figures

    @router.get(
        "/board/uptake", response_model=Uptake, tags=["board"],
        responses=_csv_and_problems(
            "\ufeffregion;outputs;to_first_match_count;to_first_match_median_days;to_first_match_p90_days;…\r\n"
            "alla;120;64;12,5;40;…\r\n"
        ),
    )
    async def board_uptake(
        _: BoardReader,
        period: PeriodDep,
        by: Annotated[kpis.UptakeGrouping, Query(description="region (of the company), focus_area (of the output), "
                                                            "initiative (the company took part in)")] = kpis.UptakeGrouping.region,
        answer_format: FormatDep = AnswerFormat.json,
    ):
        """Time to uptake in days, median and 90th percentile: from an output's
        publication to its first match, the first company told, the first adoption."""
        async with service.pool.acquire() as conn:
            figures = await kpis.uptake(conn, period, by)
        if answer_format is AnswerFormat.csv:
            return _csv_response(board_csv.uptake_csv(figures), f"uptake-by-{by.value}", period)
        return figures

    @router.get(
        "/board/white-spots", response_model=WhiteSpots, tags=["board"],
        responses=_csv_and_problems(
            "\ufeffregion;focus_area;open_needs;without_good_match;good_match_threshold\r\nSmåland;P2;14;9;0,5\r\n"
        ),
    )
    async def board_white_spots(
        _: BoardReader,
        period: PeriodDep,
        threshold: Annotated[float, Query(ge=0, le=1, description="A match scoring at least this is a good answer")]
        = kpis.DEFAULT_GOOD_MATCH_THRESHOLD,
        answer_format: FormatDep = AnswerFormat.json,
    ):
        """Open needs (submitted in the period) by region × strength area, and how many
        of them have no standing match scoring at least `threshold`."""
        async with service.pool.acquire() as conn:
            figures = await kpis.white_spots(conn, period, threshold)
        if answer_format is AnswerFormat.csv:
            return _csv_response(board_csv.white_spots_csv(figures), "white-spots", period)
        return figures

    @router.get(
        "/board/reach", response_model=Reach, tags=["board"],
        responses=_csv_and_problems(
            "\ufeffkind;name;organisation;outputs;matches;companies_told;useful;adopted\r\n"
            "project;Produktion2030: Snabba omställningar;;3;12;8;5;2\r\n"
            "researcher;Anders Berg;Chalmers;2;7;5;3;1\r\n"
        ),
    )
    async def board_reach(
        _: BoardReader,
        period: PeriodDep,
        limit: Annotated[int | None, Query(ge=1, le=10_000, description="Only the top projects and researchers")] = None,
        answer_format: FormatDep = AnswerFormat.json,
    ):
        """Per research project and per researcher (name and organisation, never an
        address): outputs published in the period, their matches, companies told, found
        useful, adopted. The most adopted first."""
        async with service.pool.acquire() as conn:
            figures = await kpis.reach(conn, period, limit)
        if answer_format is AnswerFormat.csv:
            return _csv_response(board_csv.reach_csv(figures), "reach", period)
        return figures

    @router.get(
        "/board/coverage", response_model=Coverage, tags=["board"],
        responses=_csv_and_problems(
            "\ufeffregion;iuc;companies;companies_in_initiatives;needs;needs_matched;needs_told\r\n"
            "Småland;IUC Småland;40;31;22;15;12\r\n"
        ),
    )
    async def board_coverage(_: BoardReader, period: PeriodDep, answer_format: FormatDep = AnswerFormat.json):
        """Per region and IUC: companies seen, those in initiatives, their needs
        (submitted in the period), matched, and told of a match."""
        async with service.pool.acquire() as conn:
            figures = await kpis.coverage(conn, period)
        if answer_format is AnswerFormat.csv:
            return _csv_response(board_csv.coverage_csv(figures), "coverage", period)
        return figures

    @router.get(
        "/board/companies", response_model=CompanySearch, tags=["board"],
        responses=_csv_and_problems(
            "\ufefforg_number;name;region;iuc;needs;matches\r\n5567123483;Värnamo Pressgjuteri AB;Småland;IUC Småland;1;3\r\n"
        ),
    )
    async def board_companies(
        _: BoardReader,
        period: PeriodDep,
        q: Annotated[str, Query(min_length=1, max_length=100, description="Start of an organisation number or a name")],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        answer_format: FormatDep = AnswerFormat.json,
    ):
        """Companies for the drill-down: organisation number or name starting with `q`
        (case and å/ä/ö–a/o insensitive), with their needs in the period and matches."""
        async with service.pool.acquire() as conn:
            found = await kpis.search_companies(conn, q, period, limit)
        if answer_format is AnswerFormat.csv:
            return _csv_response(board_csv.companies_csv(found), "companies", period)
        return CompanySearch(period=period, query=q, companies=found)

    # --- a company's red thread and a need's matches -------------------------------------

    @router.get(
        "/companies/{org_number}/timeline", response_model=Timeline, tags=["red thread"],
        responses={**_ACCESS_PROBLEMS, 404: {**_PROBLEM, "description": "Unknown, or not in the coach's scope"}},
    )
    async def company_timeline(
        partner: Reader,
        org_number: Annotated[str, Path(description="Organisationsnummer (SE, 10 digits) or organisasjonsnummer "
                                                     "(NO, 9 digits), with or without dash", examples=["556712-3483"])],
        country: Annotated[str | None, Query(pattern="^(SE|NO)$", description="SE or NO; by default from the "
                                                                              "number of digits")] = None,
    ) -> Timeline:
        """The red thread of one company: every initiative, need, match, notification
        and feedback, whichever partner sent it. The board reads it without contact data
        and without what confidential needs say; a coach reads its own companies' in full."""
        org = parse_org_number(org_number, country)
        async with service.pool.acquire() as conn:
            described = await kpis.company(conn, org)
            if described is None or (partner.reporting == COACH and not coach_covers(partner, org, described["region"])):
                raise not_found(f"company {org}")
            rows = await kpis.timeline_rows(conn, org)
        full_view = partner.reporting == COACH
        return Timeline(
            org_number=org,
            name=described["name"],
            region=described["region"],
            iuc=described["iuc"],
            events=[
                TimelineEvent(
                    occurred_at=row["occurred_at"],
                    kind=row["kind"],
                    summary=row["summary"] if full_view else board_summary(row["summary"], row["confidentiality"]),
                    source=row["source"],
                    need_id=row["need_id"],
                    match_id=row["match_id"],
                )
                for row in rows
            ],
        )

    @router.get(
        "/needs/{need_id}/matches", response_model=NeedMatches, tags=["red thread"],
        responses={**_ACCESS_PROBLEMS, 404: {**_PROBLEM, "description": "Unknown, or not in the coach's scope"}},
    )
    async def need_matches(partner: Reader, need_id: UUID) -> NeedMatches:
        """The research proposed for one need, best first, with reasons and what became
        of it (retracted ones too). Who was told is shown to the company's coach only."""
        async with service.pool.acquire() as conn:
            need = await kpis.need(conn, need_id)
            if partner.reporting == COACH and (
                need is None or not coach_covers(partner, need["company_org_number"], need["region"])
            ):
                raise not_found(f"need {need_id}")
            rows = await kpis.need_matches(conn, need_id)
        if need is None and not rows:
            raise not_found(f"need {need_id}")
        full_view = partner.reporting == COACH
        confidential = need is not None and need["confidentiality"] != "public"
        return NeedMatches(
            need_id=need_id,
            title=need["title"] if need is not None and (full_view or not confidential) else None,
            matches=[
                NeedMatch(
                    **{k: v for k, v in dict(row).items() if k not in ("reasons", "notified_to")},
                    reasons=json.loads(row["reasons"]) if row["reasons"] else [],
                    notified_to=row["notified_to"] if full_view else None,
                )
                for row in rows
            ],
        )

    root.include_router(router)

    @root.get("/", include_in_schema=False, dependencies=[public("leads to the dashboard")])
    async def to_the_dashboard() -> RedirectResponse:
        return RedirectResponse(DASHBOARD_PATH + "/")

    return root
