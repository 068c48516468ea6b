"""The four services and the operators' console as real processes, a real SMTP server for the coaches' mail and the
real trace viewer (Zipkin, started by `make up`) for their spans — all on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy import zipkin
from deploy.demo.partners import provision
from deploy.local import EVERY_PROCESS, ServiceProcesses
from services.intake.admin import event_types
from services.intake.partners import Partner
from tests.peers import Inbox, free_port

E2E_PARTNERS = (
    Partner("iuc-smaland", "IUC Småland", event_types("needs,participations,feedback")),
    Partner("coach-tool", "Produktionslyftet coachverktyg", event_types("needs,feedback")),
    Partner("produktion2030", "Produktion2030 projektregister", event_types("research-outputs")),
    Partner("rise", "RISE", event_types("research-outputs")),
    Partner("styrelsen", "Produktionslyftets styrelse och programkontor", event_types("none"), reporting="board"),
    # the coach of the story's company (a_need: 556036-0793)
    Partner("coach-karin", "Karin Lindqvist (coach)", event_types("none"), org_numbers=frozenset({"5560360793"}),
            reporting="coach"),
    Partner("drift", "Programkontoret, drift", event_types("none"), operator=True),
)


@pytest.fixture(scope="session")
def inbox() -> Iterator[Inbox]:
    inbox = Inbox().start()
    yield inbox
    inbox.stop()


@pytest.fixture(scope="session")
def zipkin_url() -> str:
    """The trace viewer `make up` starts (deploy/zipkin.py): the services send it their spans."""
    if not zipkin.healthy():
        pytest.fail(f"Zipkin does not answer at {zipkin.URL}: run `make up` (deploy/zipkin.py start)")
    return zipkin.URL


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    """Settings a test module runs the platform with besides the common ones (override it)."""
    return {}


@pytest.fixture(scope="module")
def platform(settings, inbox, zipkin_url, platform_env, tmp_path_factory) -> Iterator[ServiceProcesses]:
    env = {
        "REDTHREAD_NAMESPACE": settings.namespace,
        "DATABASE_URL": settings.database_url,
        "REDTHREAD_SMTP_PORT": str(inbox.port),
        "REDTHREAD_OUTBOX_POLL_INTERVAL_S": "0.2",
        "REDTHREAD_PARTNER_CACHE_S": "0.5",  # a partner registered during a test is known within a second
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{zipkin_url}/api/v2/spans",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "REDTHREAD_TRACE_VIEWER_URL": f"{zipkin_url}/zipkin",
        **platform_env,
    }
    ports = {name: free_port() for name in EVERY_PROCESS}
    env["REDTHREAD_PUBLIC_URL"] = f"http://127.0.0.1:{ports['notification']}"
    log_dir: Path = tmp_path_factory.mktemp("service-logs")
    processes = ServiceProcesses(env, log_dir, ports)
    processes.start()
    try:
        processes.wait_healthy(timeout_s=90)
        processes.keys = asyncio.run(provision(settings, E2E_PARTNERS))
        yield processes
    finally:
        processes.stop()
        for name in EVERY_PROCESS:
            tail = (log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
            print(f"--- {name}.log (tail)\n" + "\n".join(tail))
