"""Runs the four services as processes on this machine, as `make run` and the end-to-end
tests do: start them, wait until each reports healthy, stop them cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVICES = ("intake", "matching", "notification", "reporting")
REPO = Path(__file__).resolve().parent.parent


class ServiceProcesses:
    def __init__(self, env: dict[str, str], log_dir: Path, ports: dict[str, int]) -> None:
        self.env = env
        self.log_dir = log_dir
        self.ports = ports
        self.processes: dict[str, subprocess.Popen] = {}
        self.started: tuple[str, ...] = ()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self, only: tuple[str, ...] = SERVICES) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started = only
        for service in only:
            log = open(self.log_dir / f"{service}.log", "ab")  # noqa: SIM115 - owned by the child
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"],
                cwd=REPO,
                env={**os.environ, **self.env, "REDTHREAD_HTTP_PORT": str(self.ports[service])},
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: Ctrl-C reaches only the supervisor, which stops the
                # services itself, in order.
                start_new_session=True,
            )

    def wait_healthy(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = set(self.started)
        while waiting:
            for service in sorted(waiting):
                process = self.processes[service]
                if process.poll() is not None:
                    raise RuntimeError(f"{service} exited with {process.returncode}; see {self.log_dir}/{service}.log")
                try:
                    if httpx.get(self.url(service) + "/health", timeout=2).status_code == 200:
                        waiting.discard(service)
                except httpx.HTTPError:
                    pass
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"not healthy after {timeout_s:.0f}s: {', '.join(sorted(waiting))}; see {self.log_dir}")
            if waiting:
                time.sleep(0.3)

    def stop(self, timeout_s: float = 20) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
