"""Prometheus' configuration and redthread's alert rules (deploy/prometheus/), checked by
promtool itself (deploy/prometheus/install-promtool.sh builds it from the Go module
proxy): the configuration and rules are valid, and each alert fires on the series that
should wake an operator (alerts.test.yml). Every metric the rules read is one the services
expose (services/common/metrics.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from services.common.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus"
PROMTOOL = REPO / ".local" / "bin" / "promtool"


def promtool(*args: str) -> subprocess.CompletedProcess:
    if not PROMTOOL.exists():
        pytest.fail("promtool is not built: run `make install` (deploy/prometheus/install-promtool.sh)")
    return subprocess.run([str(PROMTOOL), *args], cwd=RULES, capture_output=True, text=True, timeout=60)


def test_promtool_finds_the_configuration_and_rules_valid():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"][0]["rules"]
    assert "SUCCESS" in checked.stdout and f"{len(rules)} rules found" in checked.stdout


def test_each_alert_fires_when_it_should_and_only_then():
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_rules_read_only_metrics_the_services_expose():
    families = list(Metrics("test").registry.collect())
    exposed = {family.name for family in families} | {"up"}
    exposed |= {f"{family.name}_total" for family in families if family.type == "counter"}
    exposed |= {f"{family.name}_{part}" for family in families if family.type == "histogram"
                for part in ("bucket", "count", "sum")}
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"][0]["rules"]
    read = {name for rule in rules for name in re.findall(r"\b(redthread_\w+|up)\b", rule["expr"])}
    assert read <= exposed, read - exposed
