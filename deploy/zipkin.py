#!/usr/bin/env python3
"""Local Zipkin, the trace viewer: its server and UI from Maven Central
(io.zipkin:zipkin-server, the `exec` jar), run with Java 17, spans kept in memory.

    zipkin.py install   resolve the jar into $REDTHREAD_HOME/zipkin (once, with Maven)
    zipkin.py start     start it detached, wait until it is healthy, print its URL
    zipkin.py stop      stop it
    zipkin.py status    exit 0 if it answers, else 3
    zipkin.py url       print its URL

The services send it their spans when OTEL_EXPORTER_ZIPKIN_ENDPOINT names its
/api/v2/spans (services/common/telemetry.py); `make run` does. Port: REDTHREAD_ZIPKIN_PORT
(default 9411). Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOME = Path(os.environ.get("REDTHREAD_HOME") or REPO / ".local").resolve() / "zipkin"
VERSION = "3.5.1"
JAR = HOME / f"zipkin-server-{VERSION}-exec.jar"
PID_FILE = HOME / "zipkin.pid"
LOG_FILE = HOME / "zipkin.log"
PORT = int(os.environ.get("REDTHREAD_ZIPKIN_PORT", "9411"))
URL = f"http://127.0.0.1:{PORT}"
HEAP = "384m"
START_TIMEOUT_S = 90


def say(message: str) -> None:
    print(f"zipkin: {message}", file=sys.stderr, flush=True)


def install() -> int:
    if JAR.exists():
        return 0
    HOME.mkdir(parents=True, exist_ok=True)
    say(f"resolving io.zipkin:zipkin-server:{VERSION}:exec with Maven (about 130 MB, once)")
    done = subprocess.run(
        ["mvn", "-B", "-q", "dependency:copy", f"-Dartifact=io.zipkin:zipkin-server:{VERSION}:jar:exec",
         f"-DoutputDirectory={HOME}"],
        cwd=HOME, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0 or not JAR.exists():
        say(f"Maven could not resolve the jar:\n{done.stdout[-3000:]}")
        return 1
    return 0


def healthy() -> bool:
    try:
        with urllib.request.urlopen(f"{URL}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def running_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start() -> int:
    if install() != 0:
        return 1
    if running_pid() and healthy():
        say(f"already running at {URL}")
        print(URL)
        return 0
    log = open(LOG_FILE, "ab")  # noqa: SIM115 - the server's, for as long as it runs
    server = subprocess.Popen(
        ["java", f"-Xmx{HEAP}", "-jar", str(JAR), f"--server.port={PORT}", "--server.address=127.0.0.1"],
        cwd=HOME, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    PID_FILE.write_text(str(server.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not healthy():
        if server.poll() is not None or time.monotonic() > deadline:
            say(f"did not come up (log: {LOG_FILE})")
            stop()
            return 1
        time.sleep(0.5)
    say(f"running at {URL} (log: {LOG_FILE})")
    print(URL)
    return 0


def stop() -> int:
    pid = running_pid()
    if pid is None:
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(60):
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.25)
    else:
        os.kill(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    say("stopped")
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    if command == "install":
        return install()
    if command == "start":
        return start()
    if command == "stop":
        return stop()
    if command == "status":
        return 0 if healthy() else 3
    if command == "url":
        print(URL)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
