"""kill -9 of an outbox relay (a process of its own, as compose runs it) between the
broker's acknowledgement of its records and the deletion of their rows: the rows are sent
again, and every consumer must take the second copy as the same event."""

from __future__ import annotations

import time

import pytest

from tests.faults.harness import Workload, assert_clean
from tests.faults.infra import wait_until

HELD = ("intake", "matching", "notification")  # reporting's outbox only ever holds dead letters

# Instrumentation, not a fix: the relay deletes its rows only after the broker's
# acknowledgement, so a DELETE held here is exactly the moment between the two.
HOLD_DELETES = """
CREATE SCHEMA IF NOT EXISTS faults;
CREATE TABLE IF NOT EXISTS faults.held (schema_name text PRIMARY KEY);
CREATE OR REPLACE FUNCTION faults.hold_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM faults.held WHERE schema_name = TG_TABLE_SCHEMA) THEN
        PERFORM pg_sleep(5);
    END IF;
    RETURN NULL;
END $$;
"""


@pytest.fixture(scope="module")
def platform_options() -> dict:
    return {"relays": ("intake", "matching", "notification", "reporting")}


@pytest.mark.fault_timeout(600)
def test_relays_killed_between_the_brokers_ack_and_the_rows_deletion(platform):
    platform.execute(HOLD_DELETES + "".join(
        f"CREATE TRIGGER fault_hold BEFORE DELETE ON {s}.outbox FOR EACH STATEMENT EXECUTE FUNCTION faults.hold_delete();"
        for s in HELD
    ))
    workload = Workload(platform).start()
    workload.wait_acknowledged(0.3)
    try:
        for service in HELD:
            platform.execute(f"INSERT INTO faults.held VALUES ('{service}')")
            wait_until(lambda: platform.query(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'DELETE FROM outbox%'"
            ) > 0, 60, f"{service}'s relay deleting rows the broker acknowledged")
            platform.kill(f"{service}-relay")
            platform.execute("DELETE FROM faults.held")
            platform.respawn(f"{service}-relay")
    finally:
        platform.execute("DELETE FROM faults.held")
    healed_at = time.monotonic()
    result = platform.verify("kill -9 of the intake, matching and notification relays between ack and delete",
                             workload, healed_at)
    assert_clean(result)
