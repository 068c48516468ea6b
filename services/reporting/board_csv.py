"""The board's tables as CSV that Swedish Excel opens as it is: UTF-8 with a byte order
mark (without it Excel guesses Windows-1252 and mangles å, ä, ö), `;` between fields
and a decimal comma (Excel with Swedish settings reads `,` as the decimal separator and
expects `;` between fields). A header row, then one row per stage, group, cell, project,
researcher, region or company. Pure functions: they only format what the queries found.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from contracts.events import NotUsefulReason
from services.reporting.board_models import (
    CompanySummary,
    Coverage,
    Durations,
    Funnel,
    Reach,
    Uptake,
    UptakeGroup,
    WhiteSpots,
)

BYTE_ORDER_MARK = "\ufeff"
SEPARATOR = ";"
# A cell starting with one of these is read by Excel as a formula; names come from
# partner systems, so such a text cell is prefixed with an apostrophe (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, float):
        return f"{round(value, 2):g}".replace(".", ",")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_document(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    buffer.write(BYTE_ORDER_MARK)
    # Excel wants CRLF line ends, which is also the csv module's default.
    writer = csv.writer(buffer, delimiter=SEPARATOR)
    writer.writerow(header)
    writer.writerows([cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def funnel_csv(funnel: Funnel) -> str:
    return csv_document(
        ("stage", "label", "outputs"), ((s.stage, s.label, s.outputs) for s in funnel.stages)
    )


_STEPS = ("to_first_match", "to_notified", "to_adopted")


def uptake_csv(uptake: Uptake) -> str:
    """The overall row first (group 'alla'), then one row per group."""
    header = [uptake.by, "outputs"] + [f"{step}_{figure}" for step in _STEPS for figure in ("count", "median_days", "p90_days")]

    def row(group: UptakeGroup) -> list[object]:
        steps: list[Durations] = [getattr(group, step) for step in _STEPS]
        return [group.group, group.outputs] + [v for d in steps for v in (d.count, d.median_days, d.p90_days)]

    return csv_document(header, [row(uptake.overall)] + [row(g) for g in uptake.groups])


def white_spots_csv(white_spots: WhiteSpots) -> str:
    return csv_document(
        ("region", "focus_area", "open_needs", "without_good_match", "good_match_threshold"),
        (
            (c.region, c.focus_area, c.open_needs, c.without_good_match, white_spots.good_match_threshold)
            for c in white_spots.cells
        ),
    )


# One column per reason a "not useful" answer may give, and one for none given.
NOT_USEFUL_COLUMNS = (*(reason.value for reason in NotUsefulReason), "unstated")


def reach_csv(reach: Reach) -> str:
    """Projects and researchers in one table, told apart by the first column."""
    header = ("kind", "name", "organisation", "outputs", "matches", "companies_told", "useful", "adopted",
              *(f"not_useful_{reason}" for reason in NOT_USEFUL_COLUMNS))
    projects = (
        ("project", p.project, None, p.outputs, p.matches, p.companies_told, p.useful, p.adopted,
         *(p.not_useful.get(reason, 0) for reason in NOT_USEFUL_COLUMNS))
        for p in reach.projects
    )
    researchers = (
        ("researcher", r.name, r.organisation, r.outputs, r.matches, r.companies_told, r.useful, r.adopted,
         *(r.not_useful.get(reason, 0) for reason in NOT_USEFUL_COLUMNS))
        for r in reach.researchers
    )
    return csv_document(header, [*projects, *researchers])


def coverage_csv(coverage: Coverage) -> str:
    return csv_document(
        ("region", "iuc", "companies", "companies_in_initiatives", "needs", "needs_matched", "needs_told"),
        (
            (r.region, r.iuc, r.companies, r.companies_in_initiatives, r.needs, r.needs_matched, r.needs_told)
            for r in coverage.regions
        ),
    )


def companies_csv(companies: list[CompanySummary]) -> str:
    return csv_document(
        ("org_number", "name", "region", "iuc", "needs", "matches"),
        ((c.org_number, c.name, c.region, c.iuc, c.needs, c.matches) for c in companies),
    )
