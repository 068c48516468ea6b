"""What a failure is, by what it says: transient failures are retried (and answered 503
over HTTP), permanent ones are dead-lettered or given up."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import errors as kafka_errors
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.common.failures import (
    TransientError,
    http_status_is_permanent,
    is_transient,
    smtp_reply_is_permanent,
)
from services.common.problems import install_problem_handlers


def postgres_error(sqlstate: str) -> asyncpg.PostgresError:
    return asyncpg.PostgresError.new({"C": sqlstate, "M": f"error {sqlstate}"})


@pytest.mark.parametrize(
    "sqlstate",
    ["57P01", "57P02", "57P03", "53300", "53100", "53200", "57014", "40001", "40P01", "08006", "08001", "58030", "55P03"],
)
def test_database_errors_about_the_moment_are_transient(sqlstate):
    assert is_transient(postgres_error(sqlstate))


@pytest.mark.parametrize("sqlstate", ["23505", "22P02", "22001", "54000", "23503", "42P01", "22021"])
def test_database_errors_about_the_data_are_permanent(sqlstate):
    assert not is_transient(postgres_error(sqlstate))


def test_lost_connections_and_our_own_transient_errors_are_transient():
    assert is_transient(ConnectionRefusedError())
    assert is_transient(TimeoutError())
    assert is_transient(asyncpg.InterfaceError("connection is closed"))
    assert is_transient(TransientError("created concurrently"))
    assert is_transient(asyncpg.exceptions.InternalClientError("cannot switch to state 15; another operation (2) is in progress"))
    assert not is_transient(ValueError("bad data"))


def test_a_wrapper_around_a_transient_failure_is_transient():
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as error:
            raise RuntimeError("the library's own words") from error
    except RuntimeError as wrapped:
        assert is_transient(wrapped)


def test_kafka_errors_follow_kafkas_retriable_flag():
    assert is_transient(kafka_errors.KafkaConnectionError())
    assert is_transient(kafka_errors.NotLeaderForPartitionError())
    assert is_transient(kafka_errors.RequestTimedOutError())
    assert not is_transient(kafka_errors.MessageSizeTooLargeError())
    assert not is_transient(kafka_errors.InvalidTopicError())


def test_smtp_and_http_replies():
    assert smtp_reply_is_permanent(550) and smtp_reply_is_permanent(554)
    assert not smtp_reply_is_permanent(421) and not smtp_reply_is_permanent(451) and not smtp_reply_is_permanent(None)
    assert http_status_is_permanent(400) and http_status_is_permanent(410)
    assert not any(map(http_status_is_permanent, [408, 409, 425, 429, 500, 502, 503, None]))


def test_http_answers_503_with_retry_after_when_a_peer_is_away_and_500_for_a_bug():
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/database-restarting")
    async def database_restarting():
        raise postgres_error("57P03")

    @app.get("/bug")
    async def bug():
        raise KeyError("no such thing")

    client = TestClient(app)  # raises what the app lets through to the server: a 503 lets nothing
    away = client.get("/database-restarting")
    assert away.status_code == 503
    assert away.headers["retry-after"].isdigit()
    assert away.json()["type"] == "urn:redthread:problem:temporarily-unavailable"
    assert TestClient(app, raise_server_exceptions=False).get("/bug").status_code == 500
