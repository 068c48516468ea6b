"""docker-compose.yml cannot run on the development machines (no Docker engine), so
these checks keep it in step with the local setup by reading it."""

import os
import re
import subprocess
from pathlib import Path

import yaml

from deploy.local import CONSOLE, SERVICES
from deploy.postgres.postgres import SERVER_SETTINGS
from services.common.settings import SERVICE_PORTS, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def test_every_service_runs_its_own_module_on_its_local_port():
    for name in SERVICES:
        service = COMPOSE[name]
        assert service["command"] == ["python", "-m", f"services.{name}"]
        assert service["environment"]["REDTHREAD_HTTP_PORT"] == str(SERVICE_PORTS[name])


def test_every_service_has_its_outbox_relayed_by_a_process_of_its_own():
    for name in SERVICES:
        assert COMPOSE[name]["environment"]["REDTHREAD_OUTBOX_RELAY"] == "own-process"
        relay = COMPOSE[f"{name}-relay"]
        assert relay["command"] == ["python", "-m", "services.common.relay", name]
        assert relay["environment"]["DATABASE_URL"] == COMPOSE[name]["environment"]["DATABASE_URL"]
    assert "own-process" in Settings.model_fields["outbox_relay"].annotation.__args__


def test_environment_names_are_real_settings():
    known = {f"REDTHREAD_{field.upper()}" for field in Settings.model_fields} | {"DATABASE_URL"}
    for name in SERVICES:
        redthread_vars = {k for k in COMPOSE[name]["environment"] if k.startswith("REDTHREAD_") or k == "DATABASE_URL"}
        assert redthread_vars <= known, redthread_vars - known


def test_the_same_kafka_version_as_the_local_broker():
    pom = (REPO / "deploy/kafka/pom.xml").read_text()
    local_version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom).group(1)
    assert COMPOSE["kafka"]["image"] == f"apache/kafka:{local_version}"


def test_the_broker_runs_the_local_brokers_settings():
    mounts = COMPOSE["kafka"]["volumes"]
    assert "./deploy/kafka/conf/server.properties:/etc/redthread/server.properties:ro" in mounts
    assert COMPOSE["kafka"]["command"] == ["/etc/redthread/compose-broker.sh"]
    assert COMPOSE["kafka"]["ports"] == ["9092:9092"]  # the SCRAM listener, not the controller's


def test_the_broker_rendered_for_compose_authenticates_everyone(tmp_path):
    """compose-broker.sh renders the template for the compose network: every listener
    on all interfaces, advertised as kafka, SASL only, the password from the environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kafka-storage.sh", "kafka-server-start.sh"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >>"{tmp_path}/calls"\n')
        (bin_dir / tool).chmod(0o755)
    conf = tmp_path / "server.properties"
    env = {
        "PATH": os.environ["PATH"], "REDTHREAD_KAFKA_ADMIN_PASSWORD": "from-the-environment-1234",
        "REDTHREAD_KAFKA_TEMPLATE": str(REPO / "deploy/kafka/conf/server.properties"),
        "REDTHREAD_KAFKA_DATA": str(tmp_path / "data"), "REDTHREAD_KAFKA_CONF": str(conf),
        "REDTHREAD_KAFKA_BIN": str(bin_dir),
    }
    subprocess.run(["bash", str(REPO / "deploy/kafka/compose-broker.sh")], env=env, check=True, timeout=30)
    rendered = dict(line.split("=", 1) for line in conf.read_text().splitlines() if line and not line.startswith("#"))
    assert rendered["listeners"] == "SASL_PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093"
    assert rendered["advertised.listeners"] == "SASL_PLAINTEXT://kafka:9092,CONTROLLER://kafka:9093"
    assert rendered["controller.quorum.bootstrap.servers"] == "kafka:9093"
    assert set(rendered["listener.security.protocol.map"].split(",")) == {"SASL_PLAINTEXT:SASL_PLAINTEXT", "CONTROLLER:SASL_PLAINTEXT"}
    assert rendered["allow.everyone.if.no.acl.found"] == "false" and rendered["super.users"] == "User:admin"
    assert "127.0.0.1" not in conf.read_text() and "@" not in conf.read_text().replace("\"@", "")
    assert "from-the-environment-1234" in rendered["listener.name.controller.plain.sasl.jaas.config"]
    calls = (tmp_path / "calls").read_text()
    assert "--add-scram SCRAM-SHA-512=[name=admin,password=from-the-environment-1234]" in calls
    assert f"kafka-server-start.sh {conf}" in calls


def test_every_service_and_relay_reads_only_its_credentials_volume():
    for name in (*SERVICES, *(f"{s}-relay" for s in SERVICES)):
        environment = COMPOSE[name]["environment"]
        assert "REDTHREAD_KAFKA_PASSWORD" not in environment and "REDTHREAD_KAFKA_PRINCIPAL" not in environment
        mount = "kafka-credentials:" + environment["REDTHREAD_KAFKA_CREDENTIALS_DIR"] + ":ro"
        assert COMPOSE[name]["volumes"] == [mount], name
    topics = COMPOSE["topics"]["environment"]
    assert topics["REDTHREAD_KAFKA_PRINCIPAL"] == "admin"
    assert topics["REDTHREAD_KAFKA_PASSWORD"].startswith("${REDTHREAD_KAFKA_ADMIN_PASSWORD:?")


def test_topics_are_created_before_the_services_start():
    assert COMPOSE["topics"]["command"] == ["python", "-m", "deploy.topics"]
    for name in SERVICES:
        assert COMPOSE[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_postgres_runs_with_the_local_servers_settings():
    command = COMPOSE["postgres"]["command"]
    assert command[0] == "postgres"
    assert dict(option.split("=", 1) for option in command[2::2]) == SERVER_SETTINGS
    assert set(command[1::2]) == {"-c"}


def test_the_same_trace_viewer_as_make_run_and_every_service_sends_it_spans():
    from deploy import zipkin

    assert COMPOSE["zipkin"]["image"] == f"openzipkin/zipkin:{zipkin.VERSION}"
    for name in SERVICES:
        assert COMPOSE[name]["environment"]["OTEL_EXPORTER_ZIPKIN_ENDPOINT"] == "http://zipkin:9411/api/v2/spans"


def test_prometheus_runs_the_version_promtool_checks_with_the_checked_files():
    script = (REPO / "deploy" / "prometheus" / "install-promtool.sh").read_text()
    [minor, patch] = re.search(r"MODULE_VERSION=v0\.3(\d\d)\.(\d+)", script).groups()
    assert COMPOSE["prometheus"]["image"] == f"prom/prometheus:v3.{int(minor)}.{patch}"
    mounted = {volume.split(":")[0] for volume in COMPOSE["prometheus"]["volumes"]}
    assert mounted == {"./deploy/prometheus/prometheus.yml", "./deploy/prometheus/alerts.yml"}


def test_the_operators_console_runs_as_admin_on_its_local_port_and_links_into_the_trace_viewer():
    console = COMPOSE[CONSOLE]
    assert console["command"] == ["python", "-m", f"services.{CONSOLE}"]
    environment = console["environment"]
    assert environment["REDTHREAD_HTTP_PORT"] == str(SERVICE_PORTS[CONSOLE])
    assert console["ports"] == [f"{SERVICE_PORTS[CONSOLE]}:{SERVICE_PORTS[CONSOLE]}"]
    assert environment["REDTHREAD_KAFKA_PRINCIPAL"] == "admin"
    assert environment["REDTHREAD_KAFKA_PASSWORD"] == COMPOSE["topics"]["environment"]["REDTHREAD_KAFKA_PASSWORD"]
    assert environment["REDTHREAD_OUTBOX_RELAY"] == "in-process" and f"{CONSOLE}-relay" not in COMPOSE
    assert environment["REDTHREAD_TRACE_VIEWER_URL"].endswith("9411/zipkin}")
    known = {f"REDTHREAD_{field.upper()}" for field in Settings.model_fields} | {"DATABASE_URL"}
    assert {k for k in environment if k.startswith("REDTHREAD_")} <= known


def test_prometheus_scrapes_every_process_with_metrics():
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    targets = {target for group in job["static_configs"] for target in group["targets"]}
    assert targets == {f"{name}:{SERVICE_PORTS[name]}" for name in (*SERVICES, CONSOLE)} | {
        f"{name}-relay:{COMPOSE[f'{name}-relay']['environment']['REDTHREAD_HTTP_PORT']}" for name in SERVICES
    }
