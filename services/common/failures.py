"""What a failure is, told by what it says, not by where it happened.

A *transient* failure is about the moment, not the data: a peer is down, busy, out of
room or restarting. Trying the same work again later can succeed, so it is retried
after a backoff and never dead-lettered. Anything else is *permanent* for the item at
hand: trying again the same way cannot help, so the item is dead-lettered (or its
delivery given up) with the reason.

Every mechanism that retries (consumer, outbox relay, delivery dispatcher, HTTP
endpoints) asks here, so a new kind of outage is taught once.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import errors as kafka_errors
from asyncpg.exceptions import InternalClientError


class TransientError(Exception):
    """Raised by our own code for a failure that may pass (a peer is down)."""


# PostgreSQL SQLSTATE classes (and single codes) that say nothing about the data:
#   08 connection exception; 40 transaction rollback (serialization failure, deadlock);
#   53 insufficient resources (disk full, out of memory, too many connections);
#   57 operator intervention (statement timeout or cancel 57014, admin shutdown 57P01,
#      crash shutdown 57P02, cannot connect now 57P03); 58 system error (I/O);
#   55P03 lock not available; 55006 object in use; 25006 read-only transaction (a
#   replica promoted or the database put into read-only mode for a while).
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
TRANSIENT_SQLSTATES = frozenset({"55P03", "55006", "25006"})


def sqlstate_is_transient(sqlstate: str | None) -> bool:
    if not sqlstate:
        return False
    return sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES or sqlstate in TRANSIENT_SQLSTATES


def is_transient(error: BaseException, *, _depth: int = 3) -> bool:
    """Whether `error` may pass if the same work is tried again later. A library's own
    exception raised from a transient one (its __cause__) is transient too."""
    if isinstance(error, asyncio.CancelledError):
        return False
    if isinstance(error, (TransientError, OSError, TimeoutError, asyncpg.InterfaceError, InternalClientError)):
        # OSError covers refused and reset connections; asyncpg.InterfaceError a
        # connection lost or closed under the work, InternalClientError one that broke
        # mid-operation ("cannot switch to state …; another operation is in progress").
        return True
    if isinstance(error, asyncpg.PostgresError):
        return sqlstate_is_transient(getattr(error, "sqlstate", None))
    if isinstance(error, kafka_errors.KafkaError):
        # Kafka marks each error code retriable or not (a record too large is not).
        return bool(error.retriable) or isinstance(error, _KAFKA_UNREACHABLE)
    cause = error.__cause__ or error.__context__
    return _depth > 0 and cause is not None and is_transient(cause, _depth=_depth - 1)


# Client-side Kafka errors that mean "no broker answered", whatever their retriable flag.
_KAFKA_UNREACHABLE = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
)


def smtp_reply_is_permanent(code: int | None) -> bool:
    """RFC 5321: 5yz is a permanent negative reply, 4yz a transient one. A reply without
    a code (a dropped connection) is transient."""
    return code is not None and 500 <= code < 600


def http_status_is_permanent(status: int | None) -> bool:
    """A receiver's 4xx refuses this request as it is, and sending it again the same way
    cannot help; except 408 (timeout), 409 (conflict), 425 (too early) and 429 (slow
    down), which ask for a later try. 5xx and no answer at all are transient."""
    return status is not None and 400 <= status < 500 and status not in (408, 409, 425, 429)
