"""`make run`: the whole platform on this machine with demo data, until Ctrl-C.

Expects Kafka, PostgreSQL, Zipkin and the topics to be up (`make up` does that first);
the services send their spans to Zipkin, and the link to a demo need's trace is printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from deploy.demo.load import load
from deploy.demo.partners import BOARD_PARTNER, COACH_PARTNER, OPERATOR_PARTNER, provision
from deploy.demo.feedback import answer_some
from deploy.demo.subscriptions import subscribe_demo
from deploy import zipkin
from deploy.local import CONSOLE, EVERY_PROCESS, REPO, ServiceProcesses
from services.common.settings import SERVICE_PORTS, Settings

HOME = Path(os.environ.get("REDTHREAD_HOME", REPO / ".local"))


def say(*parts: object, file=None, **options) -> None:
    """print, for a reader that may have gone: with `make run 2>&1 | tee run.log`, Ctrl-C
    ends tee too, and a write to the closed pipe must not keep the services from being
    stopped. After the first failed write, this process's output (and what the tools it
    runs to stop Kafka and PostgreSQL would print) goes to /dev/null."""
    stream = file or sys.stdout
    try:
        print(*parts, file=stream, flush=True, **options)
    except (BrokenPipeError, OSError):
        nowhere = os.open(os.devnull, os.O_WRONLY)
        for gone in (sys.stdout, sys.stderr):
            try:
                os.dup2(nowhere, gone.fileno())
            except OSError:
                pass


def main() -> int:
    settings = Settings()
    mailbox_dir = HOME / "mailbox"
    log_dir = HOME / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    mailbox = subprocess.Popen(
        [sys.executable, "-m", "deploy.mailbox", str(mailbox_dir), str(settings.smtp_port)],
        cwd=REPO,
        stdout=open(log_dir / "mailbox.log", "ab"),  # noqa: SIM115 - owned by the child
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    tracing = {"OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{zipkin.URL}/api/v2/spans",
               "REDTHREAD_TRACE_VIEWER_URL": f"{zipkin.URL}/zipkin"} if zipkin.healthy() else {}
    services = ServiceProcesses(tracing, log_dir, SERVICE_PORTS)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        say("starting intake, matching, notification, reporting and the operators' console …")
        services.start()
        services.wait_healthy()
        keys = asyncio.run(provision(settings))
        subscriptions = subscribe_demo(services.url("notification"), keys["produktion2030"])
        counts = load(services.url("intake"), keys)
        say("demo data:", ", ".join(f"{n} {k}" for k, n in counts.items()))
        _wait_for_notifications(services, keys[OPERATOR_PARTNER])
        answered = answer_some(services.url("notification"), services.url("intake"), keys["produktionslyftet-coach"],
                               keys[OPERATOR_PARTNER])
        say(f"{answered} answer(s) from coaches about their matches")
        feed = next(s["feed_url"] for s in subscriptions if s["channel"] == "atom")
        _print_where_to_look(services, mailbox_dir, log_dir, feed, keys, _demo_trace() if tracing else None)
        while not stopping:
            time.sleep(0.5)
            for name, process in services.processes.items():
                if process.poll() is not None and not stopping:
                    say(f"{name} stopped unexpectedly; see {log_dir}/{name}.log", file=sys.stderr)
                    return 1
    finally:
        say("\nstopping the services …")
        services.stop()
        mailbox.terminate()
        mailbox.wait(10)
        if "--stop-infrastructure" in sys.argv:
            say("stopping Kafka and PostgreSQL …")
            zipkin.stop()
            subprocess.run([str(REPO / "deploy/kafka/kafka.sh"), "stop"], check=False)
            subprocess.run([sys.executable, str(REPO / "deploy/postgres/postgres.py"), "stop"], check=False)
    return 0


def _wait_for_notifications(services: ServiceProcesses, operator_key: str, timeout_s: float = 30) -> None:
    """Until the coaches' notifications have stopped coming (or the timeout passes)."""
    deadline = time.monotonic() + timeout_s
    counted = -1
    as_operator = {"Authorization": f"Bearer {operator_key}"}
    while time.monotonic() < deadline:
        sent = len(httpx.get(services.url("notification") + "/v1/notifications", headers=as_operator, timeout=5).json())
        if sent and sent == counted:
            break
        counted = sent
        time.sleep(2)
    say(f"{max(counted, 0)} coach notification(s) sent so far")


def _first_demo_need() -> dict:
    return json.loads((REPO / "deploy/demo/data/needs.jsonl").read_text().splitlines()[0])


def _demo_trace(timeout_s: float = 15) -> str:
    """A link into Zipkin for the first demo need: its trace, once its spans have
    arrived, else the search for its id (when the demo was loaded by an earlier run,
    whose spans Zipkin, keeping them in memory, no longer has)."""
    need_id = _first_demo_need()["need_id"]
    search = f"redthread.need_id={need_id}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            traces = httpx.get(f"{zipkin.URL}/api/v2/traces", params={"annotationQuery": search, "limit": 1,
                                                                      "lookback": 86_400_000}, timeout=5).json()
        except (httpx.HTTPError, ValueError):
            traces = []
        if traces and traces[0]:
            return f"{zipkin.URL}/zipkin/traces/{traces[0][0]['traceId']}"
        time.sleep(1)
    return f"{zipkin.URL}/zipkin/?annotationQuery={search}"


def _print_where_to_look(
    services: ServiceProcesses, mailbox_dir: Path, log_dir: Path, feed_url: str, keys: dict[str, str],
    demo_trace: str | None,
) -> None:
    need = _first_demo_need()
    org = need["company"]["org_number"].replace("-", "")
    reporting = services.url("reporting")
    # Reporting answers partners with a reporting role only: the board (every figure, no
    # contact data) and the coach of the first demo need's company.
    as_coach = f'curl -H "Authorization: Bearer {keys[COACH_PARTNER]}"'
    as_operator = f'curl -H "Authorization: Bearer {keys[OPERATOR_PARTNER]}"'
    say(
        "\nredthread is running. Where to look:\n"
        + "".join(f"  {name:13} {services.url(name)}/docs\n" for name in EVERY_PROCESS)
        + f"  the board's dashboard {reporting}/dashboard/  (log in with the board's key below)\n"
        + f"  a need's matches      {as_coach} {reporting}/v1/needs/{need['need_id']}/matches\n"
        + f"  a company's timeline  {as_coach} {reporting}/v1/companies/{org}/timeline\n"
        + f"  notifications sent    {as_operator} {services.url('notification')}/v1/notifications\n"
        + f"  the need feed (Atom)  {feed_url}\n"
        + f"  everyone's mailbox    {mailbox_dir}/*.eml  (coaches: answer a match through its link)\n"
        + "".join(f"  metrics ({name:12}) {services.url(name)}/metrics\n" for name in EVERY_PROCESS)
        + f"  service logs          {log_dir}/  (one JSON object per line)\n"
        + f"  the operators' page   {services.url(CONSOLE)}/operations/  (log in with the operator's key below)\n"
        + "  dead letters          .venv/bin/python -m services.ops dead-letters list  (and redrive)\n"
        + (f"  traces (Zipkin)       {zipkin.URL}/zipkin/  (search: redthread.need_id=…, redthread.company=…)\n"
           f"  a demo need's trace   {demo_trace}\n" if demo_trace else "  traces                Zipkin is not running: no spans recorded\n")
        + "  Kafka                 127.0.0.1:9092, SASL/SCRAM-SHA-512 only; as admin with the password in "
        + f"{HOME / 'kafka' / 'credentials' / 'admin'} (README: Publishing a need on Kafka by hand)\n"
        + "API keys of this run for reporting:\n"
        + f"  the board  {keys[BOARD_PARTNER]}  ({BOARD_PARTNER})\n"
        + f"  a coach    {keys[COACH_PARTNER]}  ({COACH_PARTNER}: Värnamo Pressgjuteri, Gnosjö Tråd & Fjäder)\n"
        + f"  operator   {keys[OPERATOR_PARTNER]}  ({OPERATOR_PARTNER}: the operators' page, what went out)\n"
        + "Press Ctrl-C to stop.",
    )


if __name__ == "__main__":
    sys.exit(main())
