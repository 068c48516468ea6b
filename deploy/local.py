"""Runs the four services and the operators' console as processes on this machine, as
`make run` and the end-to-end tests do: start them, wait until each reports healthy, stop
them cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES = ("intake", "matching", "notification", "reporting")
# The operators' console (services/operations): no events of its own, so no outbox relay.
CONSOLE = "operations"
EVERY_PROCESS = (*SERVICES, CONSOLE)
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Placement:
    """Where a service (and its relay) runs when not beside the others: under a command
    (the fault suite's `ip netns exec <namespace>`), listening on another address, with
    settings of its own."""

    prefix: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)


class ServiceProcesses:
    def __init__(self, env: dict[str, str], log_dir: Path, ports: dict[str, int]) -> None:
        self.env = env
        self.log_dir = log_dir
        self.ports = ports
        self.processes: dict[str, subprocess.Popen] = {}
        self.relay_processes: dict[str, subprocess.Popen] = {}  # by service: relays without a health endpoint
        self.started: tuple[str, ...] = ()
        self.placements: dict[str, Placement] = {}  # by service; the others run here, on loopback

    def url(self, service: str) -> str:
        return f"http://{self.placement(service).host}:{self.ports[service]}"

    def placement(self, service: str) -> Placement:
        return self.placements.get(service, Placement())

    def start(self, only: tuple[str, ...] = EVERY_PROCESS, relays: tuple[str, ...] = ()) -> None:
        """Start the services `only`; those in `relays` with their outbox relay as a
        process of its own (settings.outbox_relay = "own-process"), as compose runs them."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started = only
        for service in only:
            own_relay = {"REDTHREAD_OUTBOX_RELAY": "own-process"} if service in relays else {}
            env = {"REDTHREAD_HTTP_PORT": str(self.ports[service]), **own_relay}
            self.processes[service] = self._spawn(service, ["-m", f"services.{service}"], env)
        for service in relays:
            self.relay_processes[service] = self._spawn(f"{service}-relay", ["-m", "services.common.relay", service], {})

    def _spawn(self, log_name: str, arguments: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{log_name}.log", "ab")  # noqa: SIM115 - owned by the child
        placement = self.placement(log_name.removesuffix("-relay"))
        return subprocess.Popen(
            [*placement.prefix, sys.executable, *arguments],
            cwd=REPO,
            env={**os.environ, **self.env, **placement.env, **env},
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
            for service, process in self.relay_processes.items():  # no health endpoint: it must be running
                if process.poll() is not None:
                    raise RuntimeError(f"{service}'s relay exited with {process.returncode}; see {self.log_dir}/{service}-relay.log")
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
        """Stop the services, then their relays, whose last pass sends what the services
        wrote while stopping."""
        deadline = time.monotonic() + timeout_s
        for group in (self.processes, self.relay_processes):
            for process in group.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in group.values():
                try:
                    process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
