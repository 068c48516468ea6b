"""docker-compose.yml cannot run on the development machines (no Docker engine), so
these checks keep it in step with the local setup by reading it."""

import re
from pathlib import Path

import yaml

from deploy.local import SERVICES
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
    assert COMPOSE["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_the_broker_is_tuned_as_the_local_one():
    local = dict(
        line.split("=", 1)
        for line in (REPO / "deploy/kafka/conf/server.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    environment = COMPOSE["kafka"]["environment"]
    for setting in ("group.initial.rebalance.delay.ms", "group.coordinator.append.linger.ms"):
        assert str(environment["KAFKA_" + setting.upper().replace(".", "_")]) == local[setting], setting


def test_topics_are_created_before_the_services_start():
    assert COMPOSE["topics"]["command"] == ["python", "-m", "deploy.topics"]
    for name in SERVICES:
        assert COMPOSE[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_postgres_runs_with_the_local_servers_settings():
    command = COMPOSE["postgres"]["command"]
    assert command[0] == "postgres"
    assert dict(option.split("=", 1) for option in command[2::2]) == SERVER_SETTINGS
    assert set(command[1::2]) == {"-c"}
