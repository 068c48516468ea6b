"""Reporting: read models built from every event, served over HTTP — the board's figures
(funnel, time to uptake, white spots, reach, coverage), a need's matches and the red
thread (timeline) of a company — and the board's dashboard at /dashboard."""

from __future__ import annotations

from pathlib import Path

from fastapi.staticfiles import StaticFiles

from services.common.access import Access, mounted
from services.common.rate_limits import CountedPerAddress
from services.common.runtime import Service, Subscription
from services.common.settings import Settings
from services.reporting.api import DASHBOARD_PATH, build_router
from services.reporting.projections import PROJECTED_TOPICS, PROJECTED_TYPES, project_batch

DASHBOARD_FILES = Path(__file__).parent / "dashboard"
DASHBOARD_PAGE = Access("public", "the dashboard's page and scripts; it asks for a key before it shows a figure")


# The board's summaries are recomputed once per batch for what it touched: larger batches
# than the other services' share that work among more events.
BATCH_RECORDS = 2000

def build(settings: Settings | None = None) -> Service:
    service = Service(
        "reporting",
        package="services.reporting",
        description=__doc__ or "",
        settings=settings,
        subscriptions=(
            Subscription(
                "reporting", PROJECTED_TOPICS, batch_handler=project_batch, batch_types=PROJECTED_TYPES,
                max_batch=BATCH_RECORDS,
            ),
        ),
        http=build_router,
    )
    # The dashboard is static; it asks the API with the key the reader types in.
    if DASHBOARD_FILES.is_dir():
        dashboard = mounted(CountedPerAddress(StaticFiles(directory=DASHBOARD_FILES, html=True)), DASHBOARD_PAGE)
        service.http_app.mount(DASHBOARD_PATH, dashboard, name="dashboard")
    return service
