"""The four services as real processes, a real SMTP server for the coaches' mail and a
small OTLP/HTTP receiver for their traces — all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from deploy.demo.partners import provision
from deploy.local import SERVICES, ServiceProcesses
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
)


class SpanCollector:
    """Receives OTLP/HTTP protobuf exports: (trace id, service name, span name) per span."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with collector._lock:
                    for resource_spans in request.resource_spans:
                        service = next(
                            (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"),
                            "?",
                        )
                        for scope in resource_spans.scope_spans:
                            for span in scope.spans:
                                collector.spans.append((span.trace_id.hex(), service, span.name))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Receive

    def services_in_trace(self, trace_id: str) -> set[str]:
        with self._lock:
            return {service for tid, service, _ in self.spans if tid == trace_id}


@pytest.fixture(scope="session")
def inbox() -> Iterator[Inbox]:
    inbox = Inbox().start()
    yield inbox
    inbox.stop()


@pytest.fixture(scope="session")
def span_collector() -> Iterator[SpanCollector]:
    collector = SpanCollector()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), collector.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    collector.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    yield collector
    server.shutdown()


@pytest.fixture(scope="module")
def platform(settings, inbox, span_collector, tmp_path_factory) -> Iterator[ServiceProcesses]:
    env = {
        "REDTHREAD_NAMESPACE": settings.namespace,
        "DATABASE_URL": settings.database_url,
        "REDTHREAD_SMTP_PORT": str(inbox.port),
        "REDTHREAD_OUTBOX_POLL_INTERVAL_S": "0.2",
        "OTEL_EXPORTER_OTLP_ENDPOINT": span_collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    ports = {name: free_port() for name in SERVICES}
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
        for name in SERVICES:
            tail = (log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
            print(f"--- {name}.log (tail)\n" + "\n".join(tail))
