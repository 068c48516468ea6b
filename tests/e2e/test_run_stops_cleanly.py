"""`make run 2>&1 | tee run.log`, then Ctrl-C: the terminal's SIGINT reaches the whole
pipeline, so tee is gone before the supervisor (deploy/run.py) says it is stopping. The
supervisor must stop every service all the same. Run here without --stop-infrastructure
(what `make run` adds), so that Kafka and PostgreSQL stay up for the rest of the suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def children_of(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_ctrl_c_on_run_piped_into_tee_stops_every_service(tmp_path):
    log = tmp_path / "run.log"
    pipeline = subprocess.Popen(
        ["bash", "-c", f"{sys.executable} -m deploy.run 2>&1 | tee {log}"],
        cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while "Press Ctrl-C" not in (log.read_text() if log.exists() else ""):
            assert pipeline.poll() is None, f"deploy.run ended early:\n{log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"deploy.run did not come up:\n{log.read_text()[-2000:]}"
            time.sleep(1)
        [supervisor] = [pid for pid in children_of(pipeline.pid)
                        if "deploy.run" in Path(f"/proc/{pid}/cmdline").read_text()]
        services = children_of(supervisor)
        assert len(services) >= 4  # the four services (and the mailbox, and relays if any)

        os.killpg(pipeline.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        pipeline.wait(timeout=90)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in services) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [pid for pid in services if alive(pid)], "services left running after Ctrl-C"
    finally:
        if pipeline.poll() is None:
            os.killpg(pipeline.pid, signal.SIGKILL)
