"""Reporting's pure helpers: periods, search prefixes, who sees what, CSV for Excel."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from contracts.notices import PartnerAccessChanged
from services.reporting import board_csv, kpis
from services.reporting.access import CONFIDENTIAL_NEED, board_summary, coach_covers, without_contact_data
from services.reporting.board_models import Durations, Funnel, FunnelStage, Period, Uptake, UptakeGroup


def test_a_period_is_whole_swedish_days():
    start, end = kpis.period_bounds(Period(start=date(2026, 1, 1), end=date(2026, 6, 30)))
    assert start == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)  # CET
    assert end == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)  # midnight after the last day, CEST
    assert kpis.period_bounds(Period()) == (None, None)


def test_search_reads_digits_as_an_organisation_number():
    assert kpis.org_number_prefix("5567-12") == "556712"
    assert kpis.org_number_prefix("Värnamo") is None
    low, high = kpis.prefix_range("556712")
    assert low <= "5567123483" < high and not ("5567130000" < high)
    assert kpis.prefix_range("559") == ("559", "55:")


def _coach(**scope) -> PartnerAccessChanged:
    return PartnerAccessChanged(partner_id="coach", name="Coach", event_types=[], reporting="coach", **scope)


def test_a_coach_sees_the_companies_of_its_scope_only():
    by_company = _coach(org_numbers=["556712-3483"])
    assert coach_covers(by_company, "5567123483", "Småland")
    assert not coach_covers(by_company, "5562806140", "Norr")
    by_region = _coach(regions=["Norr"])
    assert coach_covers(by_region, "5562806140", "Norr")
    assert not coach_covers(by_region, "5567123483", "Småland")
    assert not coach_covers(_coach(), "5567123483", "Småland")  # no scope: no company
    assert not coach_covers(by_region, None, "Norr")  # a need without a company


def test_the_board_reads_no_addresses_and_no_confidential_need():
    told = "Meddelat karin.lindqvist@example.se via e-post: Ny forskning (https://u:p@hook.example/x)"
    assert "@" not in without_contact_data(told)
    assert without_contact_data("Deltar i Produktionslyftet") == "Deltar i Produktionslyftet"
    assert board_summary("Behov: Läckande hydraulik", "coach-only") == CONFIDENTIAL_NEED
    assert board_summary("Behov: Läckande hydraulik", "public") == "Behov: Läckande hydraulik"


def _rows(document: str) -> list[list[str]]:
    assert document.startswith("\ufeff")
    return list(csv.reader(io.StringIO(document.removeprefix("\ufeff")), delimiter=";"))


def test_csv_is_for_swedish_excel():
    funnel = Funnel(period=Period(), stages=[FunnelStage(stage="published", label="Publicerade", outputs=3)])
    assert _rows(board_csv.funnel_csv(funnel)) == [["stage", "label", "outputs"], ["published", "Publicerade", "3"]]
    steps = {"to_first_match": Durations(count=3, median_days=4.0, p90_days=5.6),
             "to_notified": Durations(count=0, median_days=None, p90_days=None),
             "to_adopted": Durations(count=0, median_days=None, p90_days=None)}
    uptake = Uptake(period=Period(), by="region", overall=UptakeGroup(group="alla", outputs=3, **steps), groups=[])
    header, overall = _rows(board_csv.uptake_csv(uptake))
    assert header[:5] == ["region", "outputs", "to_first_match_count", "to_first_match_median_days", "to_first_match_p90_days"]
    assert overall[:5] == ["alla", "3", "3", "4", "5,6"] and overall[6] == ""


def test_csv_cells_never_become_formulas():
    assert board_csv.cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert board_csv.cell(-2) == "-2"
    assert board_csv.cell(12.5) == "12,5" and board_csv.cell(None) == ""
