"""The board's figures and the drill-down, each one SQL query over reporting's read models
(migrations 004_board.sql, 006_board_queries.sql), answered as board_models objects.

The figures about matches read the summaries of migration 007_board_summaries.sql — per
output and need what their counted matches reached, per output and uptake group the days
to each step, per output and credit (project, researcher) its figures and the companies
told — which the projections keep by the rules below, rather than scanning every match:
at 100,000 companies a scan took one to two seconds.

Rules every figure follows, so that the figures agree with each other:

- A period is a span of calendar days in Sweden (Europe/Stockholm), both ends included.
  Outputs are placed in it by their published_at (funnel, uptake, reach), needs by their
  submitted_at (white spots, coverage, company search).
- An output counts as published only when its publication has been projected; a match,
  notification or feedback that arrives before it waits for it.
- A match counts while it stands. A retracted match stops counting — unless the company
  had already been told of it or had answered: a retraction withdraws a proposal, it does
  not undo that knowledge reached a company. (White spots ask a different question, "is
  there a standing good answer?", and count standing matches only.)
- Needs, outputs and companies without a region or strength area are shown under
  'okänd region' and 'övrigt' rather than left out, so the cells add up.
- Nothing here returns contact data: researchers appear by name and organisation only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from services.reporting.board_models import (
    CompanySummary,
    Coverage,
    Durations,
    Funnel,
    FunnelStage,
    Period,
    ProjectReach,
    Reach,
    RegionCoverage,
    ResearcherReach,
    Uptake,
    UptakeGroup,
    WhiteSpot,
    WhiteSpots,
)

BOARD_TIMEZONE = ZoneInfo("Europe/Stockholm")
UNKNOWN_REGION = "okänd region"
NO_FOCUS_AREA = "övrigt"
ALL_OUTPUTS = "alla"
DEFAULT_GOOD_MATCH_THRESHOLD = 0.5

FUNNEL_STAGES = (
    ("published", "Publicerade"),
    ("matched", "Matchade"),
    ("notified", "Meddelade"),
    ("useful", "Användbara"),
    ("adopted", "Införda"),
)


class UptakeGrouping(StrEnum):
    region = "region"
    focus_area = "focus_area"
    initiative = "initiative"


# --- pure helpers ----------------------------------------------------------------------


def period_bounds(period: Period) -> tuple[datetime | None, datetime | None]:
    """[from, before) as instants: midnight in Sweden on the first day, and midnight after
    the last day; None for an open end."""
    start = datetime.combine(period.start, time(), BOARD_TIMEZONE) if period.start else None
    end = datetime.combine(period.end + timedelta(days=1), time(), BOARD_TIMEZONE) if period.end else None
    return start, end


def org_number_prefix(query: str) -> str | None:
    """The digits of `query` when it reads as (the start of) an organisation number."""
    stripped = query.replace("-", "").replace(" ", "")
    return stripped if stripped.isdigit() else None


def prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high) such that exactly the strings starting with `prefix` fall inside, in
    byte order (text_pattern_ops): bounds an index can use even as query parameters,
    which LIKE 'prefix%' cannot in a generic plan."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


@asynccontextmanager
async def _planned_for_each_call(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A read-only transaction in which each query is planned for its own parameters.

    The pool prepares statements, and after five calls PostgreSQL may keep a generic plan
    made without the parameters: for the board's aggregates over a few hundred thousand
    rows that plan cannot drop the open ends of the period (`$1 IS NULL OR …`) nor choose
    an index for the grouping asked for, and was measured two to three times slower. The
    planning itself takes well under a millisecond. One transaction also lets the queries
    of one answer (reach: projects and researchers) read the same snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield


# --- SQL fragments -----------------------------------------------------------------------

# $1, $2: the period's bounds as instants (either may be NULL).
_IN_PERIOD = "($1::timestamptz IS NULL OR {col} >= $1) AND ($2::timestamptz IS NULL OR {col} < $2)"


def _outputs_in_period(*columns: str) -> str:
    return (
        f"outputs AS (SELECT {', '.join(('output_id',) + columns)} FROM research_outputs"
        " WHERE published_at IS NOT NULL AND " + _IN_PERIOD.format(col="published_at") + ")"
    )


# Which matches count (standing, or already told or answered: see the module's docstring)
# is decided where the summaries are computed, in the views of 007_board_summaries.sql.

# A need keeps its company's region; the company's own row is looked up only for a need
# that came without one (coalesce evaluates it only then), instead of joining every need.
def _need_place(column: str, otherwise: str) -> str:
    return (
        f"coalesce(n.{column}, (SELECT c.{column} FROM companies c WHERE c.org_number = n.company_org_number),"
        f" {otherwise})"
    )


_NEED_REGION = _need_place("region", f"'{UNKNOWN_REGION}'")


def _areas_or_other(column: str) -> str:
    return f"unnest(CASE WHEN cardinality({column}) = 0 THEN ARRAY['{NO_FOCUS_AREA}'] ELSE {column} END)"


# --- the funnel --------------------------------------------------------------------------

_FUNNEL_SQL = f"""
WITH {_outputs_in_period('matches', 'first_notified_at', 'first_useful_at', 'first_adopted_at')}
SELECT count(*) AS published,
       count(*) FILTER (WHERE matches > 0) AS matched,
       count(first_notified_at) AS notified,
       count(first_useful_at) AS useful,
       count(first_adopted_at) AS adopted
FROM outputs
"""


async def funnel(conn: asyncpg.Connection, period: Period) -> Funnel:
    async with _planned_for_each_call(conn):
        row = await conn.fetchrow(_FUNNEL_SQL, *period_bounds(period))
    return Funnel(
        period=period,
        stages=[FunnelStage(stage=stage, label=label, outputs=row[stage]) for stage, label in FUNNEL_STAGES],
    )


# --- time to uptake ----------------------------------------------------------------------

# output_uptake (007_board_summaries.sql) holds a row per published output in group
# 'alla', and per output and group of each grouping: the output's own strength areas
# (every output is in one at least, 'övrigt'), the regions of the needs' companies and the
# initiatives (not cancelled) they take part in — an output enters a region's or an
# initiative's group with its first match there, so unmatched outputs are in none. Each
# row has the days from publication to the first match, the first company told and the
# first adoption within its group (a step before a backdated publication counts as 0
# days; a step never reached is NULL, not 0). Overall and groups come in one pass.
_STEPS = ("to_first_match", "to_notified", "to_adopted")
_DAYS_COLUMN = {"to_first_match": "days_to_first_match", "to_notified": "days_to_notified",
                "to_adopted": "days_to_adopted"}

_UPTAKE_SQL = f"""
SELECT grouping, grp, count(*) AS outputs,
       {", ".join(
           f"count({_DAYS_COLUMN[step]}) AS {step}_count,"
           f" percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {_DAYS_COLUMN[step]}) AS {step}_percentiles"
           for step in _STEPS)}
FROM output_uptake
WHERE grouping IN ('{ALL_OUTPUTS}', $3) AND {_IN_PERIOD.format(col='published_at')}
GROUP BY grouping, grp
ORDER BY grouping, grp
"""


def _uptake_group(row: asyncpg.Record) -> UptakeGroup:
    def durations(step: str) -> Durations:
        median, p90 = row[f"{step}_percentiles"] or (None, None)  # NULL when no output reached the step
        return Durations(count=row[f"{step}_count"], median_days=median, p90_days=p90)

    return UptakeGroup(group=row["grp"], outputs=row["outputs"], **{step: durations(step) for step in _STEPS})


async def uptake(conn: asyncpg.Connection, period: Period, by: UptakeGrouping) -> Uptake:
    async with _planned_for_each_call(conn):
        rows = await conn.fetch(_UPTAKE_SQL, *period_bounds(period), by.value)
    overall = [row for row in rows if row["grouping"] == ALL_OUTPUTS]
    no_outputs = UptakeGroup(
        group=ALL_OUTPUTS, outputs=0, **{step: Durations(count=0, median_days=None, p90_days=None) for step in _STEPS}
    )
    return Uptake(
        period=period,
        by=by.value,
        overall=_uptake_group(overall[0]) if overall else no_outputs,
        groups=[_uptake_group(row) for row in rows if row["grouping"] == by.value],
    )


# --- white spots -------------------------------------------------------------------------

# A need has a standing good match when the best of its standing matches is good enough.
_WHITE_SPOTS_SQL = f"""
SELECT {_NEED_REGION} AS region, area AS focus_area,
       count(*) AS open_needs,
       count(*) FILTER (WHERE n.best_standing_score IS NULL OR n.best_standing_score < $3) AS without_good_match
FROM needs n
CROSS JOIN LATERAL {_areas_or_other('n.focus_areas')} AS area
WHERE n.status = 'open' AND {_IN_PERIOD.format(col='n.submitted_at')}
GROUP BY 1, 2 ORDER BY 1, 2
"""


async def white_spots(
    conn: asyncpg.Connection, period: Period, threshold: float = DEFAULT_GOOD_MATCH_THRESHOLD
) -> WhiteSpots:
    """A need with several strength areas is counted in each of their cells."""
    async with _planned_for_each_call(conn):
        rows = await conn.fetch(_WHITE_SPOTS_SQL, *period_bounds(period), threshold)
    return WhiteSpots(
        period=period,
        good_match_threshold=threshold,
        cells=[WhiteSpot(**dict(row)) for row in rows],
    )


# --- reach -------------------------------------------------------------------------------

# Per project or researcher (output_credits, output_credit_companies: one row per output
# and credit, and per output, credit and company told), each read in credit order. The
# figures of the outputs are summed; "companies told" cannot be (a company told of two
# outputs of one project counts once), so the companies are counted distinct. $3: the
# credit, 'project' or 'researcher'; $4: the limit.
_REACH_SQL = f"""
WITH figures AS (
    SELECT name, organisation, count(*) AS outputs, sum(matches)::int AS matches,
           sum(useful_matches)::int AS useful, sum(adopted_matches)::int AS adopted
    FROM output_credits
    WHERE credit = $3 AND {_IN_PERIOD.format(col='published_at')}
    GROUP BY name, organisation
    ORDER BY adopted DESC, matches DESC, name, organisation NULLS FIRST
    LIMIT $4
),
told AS (
    SELECT name, organisation, count(DISTINCT company_org_number) AS companies_told
    FROM output_credit_companies
    WHERE credit = $3 AND {_IN_PERIOD.format(col='published_at')}
    GROUP BY name, organisation
)
SELECT f.*, coalesce(t.companies_told, 0)::int AS companies_told
FROM figures f LEFT JOIN told t ON t.name = f.name AND t.organisation IS NOT DISTINCT FROM f.organisation
ORDER BY adopted DESC, matches DESC, name, organisation NULLS FIRST
"""


# Why answers about each credit's outputs said "not useful", by reason.
_NOT_USEFUL_SQL = f"""
SELECT c.name, c.organisation, coalesce(a.reason, 'unstated') AS reason, count(*)::int AS answers
FROM output_credits c
JOIN need_matches m ON m.output_id = c.output_id
JOIN feedback_answers a ON a.match_id = m.match_id AND a.verdict = 'not-useful'
WHERE c.credit = $3 AND {_IN_PERIOD.format(col='c.published_at')}
GROUP BY 1, 2, 3
"""


async def reach(conn: asyncpg.Connection, period: Period, limit: int | None = None) -> Reach:
    """Per project and per researcher, the most adopted first; `limit` keeps the top ones."""
    bounds = period_bounds(period)
    async with _planned_for_each_call(conn):
        projects = await conn.fetch(_REACH_SQL, *bounds, "project", limit)
        researchers = await conn.fetch(_REACH_SQL, *bounds, "researcher", limit)
        reasons = {credit: await conn.fetch(_NOT_USEFUL_SQL, *bounds, credit) for credit in ("project", "researcher")}
    not_useful: dict[tuple[str, str, str | None], dict[str, int]] = {}
    for credit, rows in reasons.items():
        for row in rows:
            not_useful.setdefault((credit, row["name"], row["organisation"]), {})[row["reason"]] = row["answers"]
    return Reach(
        period=period,
        projects=[
            ProjectReach(project=row["name"], **{k: row[k] for k in ProjectReach.model_fields if k not in ("project", "not_useful")},
                         not_useful=not_useful.get(("project", row["name"], row["organisation"]), {}))
            for row in projects
        ],
        researchers=[
            ResearcherReach(**{k: row[k] for k in ResearcherReach.model_fields if k != "not_useful"},
                            not_useful=not_useful.get(("researcher", row["name"], row["organisation"]), {}))
            for row in researchers
        ],
    )


# --- coverage ----------------------------------------------------------------------------

# $3, $4: the period as days (for participations, which run from day to day).
_COVERAGE_SQL = f"""
WITH needs_in_period AS (
    SELECT n.company_org_number, {_NEED_REGION} AS region, {_need_place('iuc', "''")} AS iuc,
           n.matches, n.matches_told
    FROM needs n
    WHERE {_IN_PERIOD.format(col='n.submitted_at')}
),
need_figures AS (
    SELECT region, iuc, count(*) AS needs,
           count(*) FILTER (WHERE matches > 0) AS needs_matched,
           count(*) FILTER (WHERE matches_told > 0) AS needs_told
    FROM needs_in_period
    GROUP BY 1, 2
),
participants AS (
    SELECT DISTINCT company_org_number FROM participations
    WHERE status <> 'cancelled'
      AND ($4::date IS NULL OR started_on <= $4) AND ($3::date IS NULL OR ended_on IS NULL OR ended_on >= $3)
),
-- Without a period every known company counts; with one, those with a need in it or
-- taking part in an initiative during it.
companies_seen AS (
    SELECT coalesce(c.region, '{UNKNOWN_REGION}') AS region, coalesce(c.iuc, '') AS iuc,
           p.company_org_number IS NOT NULL AS in_initiative
    FROM companies c LEFT JOIN participants p ON p.company_org_number = c.org_number
    WHERE ($1::timestamptz IS NULL AND $2::timestamptz IS NULL)
       OR p.company_org_number IS NOT NULL
       OR c.org_number IN (SELECT company_org_number FROM needs_in_period)
),
company_figures AS (
    SELECT region, iuc, count(*) AS companies, count(*) FILTER (WHERE in_initiative) AS companies_in_initiatives
    FROM companies_seen GROUP BY 1, 2
)
SELECT region, nullif(iuc, '') AS iuc,
       coalesce(companies, 0) AS companies, coalesce(companies_in_initiatives, 0) AS companies_in_initiatives,
       coalesce(needs, 0) AS needs, coalesce(needs_matched, 0) AS needs_matched, coalesce(needs_told, 0) AS needs_told
FROM company_figures FULL JOIN need_figures USING (region, iuc)
ORDER BY region, iuc
"""


async def coverage(conn: asyncpg.Connection, period: Period) -> Coverage:
    """One row per region and IUC (a region such as Småland has more than one IUC)."""
    async with _planned_for_each_call(conn):
        rows = await conn.fetch(_COVERAGE_SQL, *period_bounds(period), period.start, period.end)
    return Coverage(period=period, regions=[RegionCoverage(**dict(row)) for row in rows])


# --- the drill-down ----------------------------------------------------------------------

_COMPANY_FIGURES = f"""
SELECT c.org_number, c.name, c.region, c.iuc,
       (SELECT count(*) FROM needs n
         WHERE n.company_org_number = c.org_number AND {_IN_PERIOD.format(col='n.submitted_at')}) AS needs,
       (SELECT coalesce(sum(n.matches), 0) FROM needs n
         WHERE n.company_org_number = c.org_number AND {_IN_PERIOD.format(col='n.submitted_at')}) AS matches
FROM companies c"""

_COMPANIES_BY_ORG_NUMBER_SQL = f"""{_COMPANY_FIGURES}
WHERE c.org_number ~>=~ $3 AND c.org_number ~<~ $4
ORDER BY c.org_number LIMIT $5
"""

# name_key (006_board_queries.sql) folds case and Nordic letters, which lower() cannot do
# in a database with the C locale; both sides of the comparison go through it.
_COMPANIES_BY_NAME_SQL = f"""{_COMPANY_FIGURES}
WHERE name_key(c.name) ~>=~ name_key($3)
  AND name_key(c.name) ~<~ (left(name_key($3), -1) || chr(ascii(right(name_key($3), 1)) + 1))
ORDER BY name_key(c.name), c.org_number LIMIT $4
"""


async def search_companies(conn: asyncpg.Connection, query: str, period: Period, limit: int = 20) -> list[CompanySummary]:
    """Companies whose organisation number or name starts with `query`, with their needs
    (submitted in the period) and the matches those needs got."""
    query = query.strip()
    if not query:
        return []
    bounds = period_bounds(period)
    if digits := org_number_prefix(query):
        rows = await conn.fetch(_COMPANIES_BY_ORG_NUMBER_SQL, *bounds, *prefix_range(digits), limit)
    else:
        rows = await conn.fetch(_COMPANIES_BY_NAME_SQL, *bounds, query, limit)
    return [CompanySummary(**dict(row)) for row in rows]


# A row names its company when its event did; otherwise it is found through its need, or
# through its match's need (feedback, say, names neither company nor need). Each row
# comes with the confidentiality of the need it is about, for the reader's view.
_TIMELINE_SQL = """
WITH company_needs AS (SELECT need_id FROM needs WHERE company_org_number = $1),
company_matches AS (SELECT match_id FROM need_matches WHERE need_id IN (SELECT need_id FROM company_needs)),
thread AS (
    SELECT event_id, occurred_at, kind, summary, source, need_id, match_id FROM company_timeline
     WHERE company_org_number = $1
    UNION
    SELECT event_id, occurred_at, kind, summary, source, need_id, match_id FROM company_timeline
     WHERE company_org_number IS NULL AND need_id IN (SELECT need_id FROM company_needs)
    UNION
    SELECT event_id, occurred_at, kind, summary, source, need_id, match_id FROM company_timeline
     WHERE company_org_number IS NULL AND match_id IN (SELECT match_id FROM company_matches)
)
SELECT t.occurred_at, t.kind, t.summary, t.source, coalesce(t.need_id, m.need_id) AS need_id, t.match_id,
       coalesce(n.confidentiality, 'public') AS confidentiality
FROM thread t
LEFT JOIN need_matches m ON m.match_id = t.match_id
LEFT JOIN needs n ON n.need_id = coalesce(t.need_id, m.need_id)
ORDER BY t.occurred_at, t.event_id
"""


async def company(conn: asyncpg.Connection, org_number: str) -> asyncpg.Record | None:
    """The company as last described, with its region (or, before any description has
    been projected, the region of one of its needs); None when nothing is known of it."""
    row = await conn.fetchrow(
        "SELECT $1::text AS org_number, c.name, coalesce(c.region, n.region) AS region, coalesce(c.iuc, n.iuc) AS iuc,"
        " c.org_number IS NOT NULL OR n.need_id IS NOT NULL AS known"
        " FROM (SELECT 1) one"
        " LEFT JOIN companies c ON c.org_number = $1"
        " LEFT JOIN LATERAL (SELECT need_id, region, iuc FROM needs WHERE company_org_number = $1"
        "   ORDER BY submitted_at DESC NULLS LAST LIMIT 1) n ON true",
        org_number,
    )
    return row if row["known"] else None


async def timeline_rows(conn: asyncpg.Connection, org_number: str) -> list[asyncpg.Record]:
    """The company's red thread, oldest first, summaries as projected (the reader's view
    is made from them): occurred_at, kind, summary, source, need_id, match_id,
    confidentiality."""
    return await conn.fetch(_TIMELINE_SQL, org_number)


async def need(conn: asyncpg.Connection, need_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT n.need_id, n.title, n.company_org_number, n.confidentiality, coalesce(c.region, n.region) AS region"
        " FROM needs n LEFT JOIN companies c ON c.org_number = n.company_org_number WHERE n.need_id = $1",
        need_id,
    )


async def need_matches(conn: asyncpg.Connection, need_id: UUID) -> list[asyncpg.Record]:
    """Every match proposed for the need, retracted ones included, best first."""
    return await conn.fetch(
        "SELECT match_id, output_id, output_title, score, reasons, proposed_at, notified_at, notified_to, feedback,"
        " first_useful_at, adopted_at, retracted_at, retraction_reason"
        " FROM need_matches WHERE need_id = $1 ORDER BY score DESC NULLS LAST, proposed_at, match_id",
        need_id,
    )
