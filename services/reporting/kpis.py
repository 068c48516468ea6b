"""The board's figures and the drill-down, each one SQL query over reporting's read models
(migrations 004_board.sql, 005_board_queries.sql), answered as board_models objects.

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


# --- SQL fragments -----------------------------------------------------------------------

# $1, $2: the period's bounds as instants (either may be NULL).
_IN_PERIOD = "($1::timestamptz IS NULL OR {col} >= $1) AND ($2::timestamptz IS NULL OR {col} < $2)"


def _outputs_in_period(*columns: str) -> str:
    # NOT MATERIALIZED: where a query reads it twice, scanning the table again (an index
    # range with a period) is cheaper than writing 100,000 rows aside.
    return (
        f"outputs AS NOT MATERIALIZED (SELECT {', '.join(('output_id',) + columns)} FROM research_outputs"
        " WHERE published_at IS NOT NULL AND " + _IN_PERIOD.format(col="published_at") + ")"
    )


# See the module's docstring: standing, or already told or answered.
_MATCH_COUNTS = (
    "(m.retracted_at IS NULL OR m.notified_at IS NOT NULL"
    " OR m.first_useful_at IS NOT NULL OR m.adopted_at IS NOT NULL)"
)
_COUNTED_MATCHES = f"need_matches m WHERE {_MATCH_COUNTS} AND m.output_id IN (SELECT output_id FROM outputs)"

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
WITH {_outputs_in_period()},
reached AS (
    SELECT m.output_id,
           bool_or(m.notified_at IS NOT NULL) AS notified,
           bool_or(m.first_useful_at IS NOT NULL) AS useful,
           bool_or(m.adopted_at IS NOT NULL) AS adopted
    FROM {_COUNTED_MATCHES}
    GROUP BY m.output_id
)
SELECT (SELECT count(*) FROM outputs) AS published,
       count(*) AS matched,
       count(*) FILTER (WHERE notified) AS notified,
       count(*) FILTER (WHERE useful) AS useful,
       count(*) FILTER (WHERE adopted) AS adopted
FROM reached
"""


async def funnel(conn: asyncpg.Connection, period: Period) -> Funnel:
    row = await conn.fetchrow(_FUNNEL_SQL, *period_bounds(period))
    return Funnel(
        period=period,
        stages=[FunnelStage(stage=stage, label=label, outputs=row[stage]) for stage, label in FUNNEL_STAGES],
    )


# --- time to uptake ----------------------------------------------------------------------

_FIRSTS = "min(m.proposed_at) AS first_match, min(m.notified_at) AS first_notified, min(m.adopted_at) AS first_adopted"
_FIRSTS_PER_OUTPUT = f"""
    SELECT o.output_id, o.published_at, o.focus_areas, f.first_match, f.first_notified, f.first_adopted
    FROM outputs o LEFT JOIN (SELECT m.output_id, {_FIRSTS} FROM {_COUNTED_MATCHES} GROUP BY m.output_id) f
      USING (output_id)"""

# One row per (output, group) with the first time each step was reached within the group.
_PER_OUTPUT_AND_GROUP = {
    # Every output of the period, matched or not.
    None: f"""
        SELECT '{ALL_OUTPUTS}' AS grp, * FROM ({_FIRSTS_PER_OUTPUT}) f""",
    # The output's own strength areas: every output of the period is in one group at least.
    UptakeGrouping.focus_area: f"""
        SELECT area AS grp, f.* FROM ({_FIRSTS_PER_OUTPUT}) f
        CROSS JOIN LATERAL {_areas_or_other('f.focus_areas')} AS area""",
    # The region of the need's company: an output enters a region's group with its first
    # match there, so unmatched outputs are in no region.
    UptakeGrouping.region: f"""
        SELECT {_NEED_REGION} AS grp, m.output_id, o.published_at, {_FIRSTS}
        FROM need_matches m JOIN outputs o USING (output_id)
        LEFT JOIN needs n USING (need_id)
        WHERE {_MATCH_COUNTS}
        GROUP BY 1, 2, 3""",
    # The initiatives the need's company took part in (not those it cancelled).
    UptakeGrouping.initiative: f"""
        SELECT p.initiative AS grp, m.output_id, o.published_at, {_FIRSTS}
        FROM need_matches m JOIN outputs o USING (output_id)
        JOIN needs n USING (need_id)
        JOIN (SELECT DISTINCT company_org_number, initiative FROM participations WHERE status <> 'cancelled') p
          ON p.company_org_number = n.company_org_number
        WHERE {_MATCH_COUNTS}
        GROUP BY 1, 2, 3""",
}


def _days_since_published(column: str) -> str:
    # A backdated publication could make a step seem to come before it: count that as 0.
    # (Not greatest(0, …): it would turn a step never reached, NULL, into 0 days.)
    days = f"extract(epoch FROM {column} - published_at) / 86400"
    return f"CASE WHEN {days} < 0 THEN 0 ELSE {days} END"


def _durations_sql(column: str, name: str) -> str:
    days = _days_since_published(column)
    return (
        f"count({column}) AS {name}_count,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {days}) AS {name}_median,"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {days}) AS {name}_p90"
    )


def _uptake_sql(grouping: UptakeGrouping | None) -> str:
    return f"""
WITH {_outputs_in_period('published_at', 'focus_areas')},
per_output AS ({_PER_OUTPUT_AND_GROUP[grouping]})
SELECT grp, count(*) AS outputs,
       {_durations_sql('first_match', 'to_first_match')},
       {_durations_sql('first_notified', 'to_notified')},
       {_durations_sql('first_adopted', 'to_adopted')}
FROM per_output GROUP BY grp ORDER BY grp
"""


def _uptake_group(row: asyncpg.Record) -> UptakeGroup:
    def durations(name: str) -> Durations:
        return Durations(count=row[f"{name}_count"], median_days=row[f"{name}_median"], p90_days=row[f"{name}_p90"])

    return UptakeGroup(
        group=row["grp"],
        outputs=row["outputs"],
        to_first_match=durations("to_first_match"),
        to_notified=durations("to_notified"),
        to_adopted=durations("to_adopted"),
    )


async def uptake(conn: asyncpg.Connection, period: Period, by: UptakeGrouping) -> Uptake:
    bounds = period_bounds(period)
    overall = await conn.fetch(_uptake_sql(None), *bounds)
    groups = await conn.fetch(_uptake_sql(by), *bounds)
    no_outputs = UptakeGroup(
        group=ALL_OUTPUTS, outputs=0, **{step: Durations(count=0, median_days=None, p90_days=None)
                                          for step in ("to_first_match", "to_notified", "to_adopted")}
    )
    return Uptake(
        period=period,
        by=by.value,
        overall=_uptake_group(overall[0]) if overall else no_outputs,
        groups=[_uptake_group(row) for row in groups],
    )


# --- white spots -------------------------------------------------------------------------

_WHITE_SPOTS_SQL = f"""
WITH well_answered AS (
    SELECT DISTINCT need_id FROM need_matches
    WHERE retracted_at IS NULL AND score >= $3 AND need_id IS NOT NULL
)
SELECT {_NEED_REGION} AS region, area AS focus_area,
       count(*) AS open_needs,
       count(*) FILTER (WHERE w.need_id IS NULL) AS without_good_match
FROM needs n
LEFT JOIN well_answered w ON w.need_id = n.need_id
CROSS JOIN LATERAL {_areas_or_other('n.focus_areas')} AS area
WHERE n.status = 'open' AND {_IN_PERIOD.format(col='n.submitted_at')}
GROUP BY 1, 2 ORDER BY 1, 2
"""


async def white_spots(
    conn: asyncpg.Connection, period: Period, threshold: float = DEFAULT_GOOD_MATCH_THRESHOLD
) -> WhiteSpots:
    """A need with several strength areas is counted in each of their cells."""
    rows = await conn.fetch(_WHITE_SPOTS_SQL, *period_bounds(period), threshold)
    return WhiteSpots(
        period=period,
        good_match_threshold=threshold,
        cells=[WhiteSpot(**dict(row)) for row in rows],
    )


# --- reach -------------------------------------------------------------------------------

# Figures per output first (one pass over the matches), then summed per project or
# researcher; "companies told" cannot be summed (a company told of two outputs of one
# project counts once), so it is counted from distinct (output, company) pairs.
_REACH_SQL = f"""
WITH {_outputs_in_period('project', 'researchers')},
per_output AS (
    SELECT m.output_id, count(*) AS matches,
           count(*) FILTER (WHERE m.first_useful_at IS NOT NULL) AS useful,
           count(*) FILTER (WHERE m.adopted_at IS NOT NULL) AS adopted
    FROM {_COUNTED_MATCHES} GROUP BY m.output_id
),
told AS (
    SELECT DISTINCT m.output_id, n.company_org_number
    FROM {_COUNTED_MATCHES.replace(' WHERE ', ' JOIN needs n USING (need_id) WHERE ', 1)}
      AND m.notified_at IS NOT NULL AND n.company_org_number IS NOT NULL
),
credited AS ({{credited}}),
figures AS (
    SELECT c.name, c.organisation, count(*) AS outputs, coalesce(sum(p.matches), 0)::int AS matches,
           coalesce(sum(p.useful), 0)::int AS useful, coalesce(sum(p.adopted), 0)::int AS adopted
    FROM credited c LEFT JOIN per_output p USING (output_id)
    GROUP BY 1, 2
),
reached_companies AS (
    SELECT name, organisation, count(*) AS companies_told
    FROM (SELECT DISTINCT c.name, c.organisation, t.company_org_number FROM credited c JOIN told t USING (output_id)) d
    GROUP BY 1, 2
)
SELECT f.*, coalesce(r.companies_told, 0)::int AS companies_told
FROM figures f LEFT JOIN reached_companies r
  ON r.name = f.name AND r.organisation IS NOT DISTINCT FROM f.organisation
ORDER BY adopted DESC, matches DESC, name, organisation NULLS FIRST
LIMIT $3
"""

_PROJECT_REACH_SQL = _REACH_SQL.format(
    credited="SELECT output_id, coalesce(project, 'okänt projekt') AS name, NULL::text AS organisation FROM outputs"
)
# Researchers are told apart by name and organisation (an ORCID is not always given).
_RESEARCHER_REACH_SQL = _REACH_SQL.format(
    credited="SELECT DISTINCT o.output_id, r->>'name' AS name, r->>'organisation' AS organisation"
    " FROM outputs o CROSS JOIN LATERAL jsonb_array_elements(o.researchers) AS r WHERE r->>'name' IS NOT NULL"
)


async def reach(conn: asyncpg.Connection, period: Period, limit: int | None = None) -> Reach:
    """Per project and per researcher, the most adopted first; `limit` keeps the top ones."""
    bounds = period_bounds(period)
    projects = await conn.fetch(_PROJECT_REACH_SQL, *bounds, limit)
    researchers = await conn.fetch(_RESEARCHER_REACH_SQL, *bounds, limit)
    return Reach(
        period=period,
        projects=[
            ProjectReach(project=row["name"], **{k: row[k] for k in ProjectReach.model_fields if k != "project"})
            for row in projects
        ],
        researchers=[ResearcherReach(**{k: row[k] for k in ResearcherReach.model_fields}) for row in researchers],
    )


# --- coverage ----------------------------------------------------------------------------

# $3, $4: the period as days (for participations, which run from day to day).
_COVERAGE_SQL = f"""
WITH needs_in_period AS (
    SELECT n.need_id, n.company_org_number, {_NEED_REGION} AS region, {_need_place('iuc', "''")} AS iuc
    FROM needs n
    WHERE {_IN_PERIOD.format(col='n.submitted_at')}
),
need_progress AS (
    SELECT m.need_id, bool_or(m.notified_at IS NOT NULL) AS told
    FROM need_matches m JOIN needs_in_period USING (need_id)
    WHERE {_MATCH_COUNTS}
    GROUP BY m.need_id
),
need_figures AS (
    SELECT region, iuc, count(*) AS needs,
           count(p.need_id) AS needs_matched,
           count(*) FILTER (WHERE p.told) AS needs_told
    FROM needs_in_period LEFT JOIN need_progress p USING (need_id)
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
    rows = await conn.fetch(_COVERAGE_SQL, *period_bounds(period), period.start, period.end)
    return Coverage(period=period, regions=[RegionCoverage(**dict(row)) for row in rows])


# --- the drill-down ----------------------------------------------------------------------

_COMPANY_FIGURES = f"""
SELECT c.org_number, c.name, c.region, c.iuc,
       (SELECT count(*) FROM needs n
         WHERE n.company_org_number = c.org_number AND {_IN_PERIOD.format(col='n.submitted_at')}) AS needs,
       (SELECT count(*) FROM needs n JOIN need_matches m USING (need_id)
         WHERE n.company_org_number = c.org_number AND {_IN_PERIOD.format(col='n.submitted_at')}
           AND {_MATCH_COUNTS}) AS matches
FROM companies c"""

_COMPANIES_BY_ORG_NUMBER_SQL = f"""{_COMPANY_FIGURES}
WHERE c.org_number ~>=~ $3 AND c.org_number ~<~ $4
ORDER BY c.org_number LIMIT $5
"""

# name_key (005_board_queries.sql) folds case and Nordic letters, which lower() cannot do
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
