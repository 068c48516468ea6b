"""What /health says, decided from what each part of a service reports.

- **failing** (HTTP 503): the service cannot do its work at all — its database or its
  broker cannot be reached.
- **degraded** (HTTP 200): it serves, but something is stuck or late and needs an
  operator's eye: a consumer that makes no progress while records wait, one whose
  batches keep failing, an outbox row or an owed delivery older than a bound, a worker
  (relay, dispatcher) that keeps failing, rows parked for good.
- **ok**: none of these.

Each finding is a sentence with the numbers in it, so that the reason is in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConsumerProgress:
    name: str
    busy_for_s: float | None  # a batch in hand for this long
    failing_for_s: float | None  # batches failing (transiently) for this long
    last_error: str | None
    since_last_batch_s: float  # or since it started, before its first batch
    records_waiting: int | None  # fetched by nobody yet; None when unknown


@dataclass(frozen=True)
class Observations:
    database: str | None = None  # None when reachable, else why not
    broker: str | None = None
    consumers: list[ConsumerProgress] = field(default_factory=list)
    outbox_oldest_s: float | None = None
    outbox_waiting: int = 0
    outbox_parked: int = 0
    failing_workers: list[tuple[str, float, str]] = field(default_factory=list)  # name, for how long, last error
    other: dict[str, str | None] = field(default_factory=dict)  # a check of the service's own: None when fine


@dataclass(frozen=True)
class Bounds:
    stall_s: float  # no progress for this long is a stall
    outbox_max_age_s: float


def judge(seen: Observations, bounds: Bounds) -> tuple[str, dict[str, str]]:
    """The status ("ok", "degraded" or "failing") and a finding per check."""
    checks: dict[str, str] = {}
    failing = False
    for name, problem in (("database", seen.database), ("kafka", seen.broker)):
        checks[name] = "ok" if problem is None else f"failing: {problem}"
        failing = failing or problem is not None
    degraded = False

    def finding(name: str, problem: str | None) -> None:
        nonlocal degraded
        checks[name] = "ok" if problem is None else f"degraded: {problem}"
        degraded = degraded or problem is not None

    for consumer in seen.consumers:
        finding(f"consumer {consumer.name}", _stalled(consumer, bounds.stall_s))
    if seen.outbox_oldest_s is not None or seen.outbox_parked:
        late = seen.outbox_oldest_s is not None and seen.outbox_oldest_s > bounds.outbox_max_age_s
        finding(
            "outbox",
            "; ".join(
                part
                for part in (
                    f"its oldest row is {seen.outbox_oldest_s:.0f}s old (bound {bounds.outbox_max_age_s:.0f}s)" if late else "",
                    f"{seen.outbox_parked} row(s) refused by the broker are parked in outbox_parked" if seen.outbox_parked else "",
                )
                if part
            )
            or None,
        )
    for name, for_s, error in seen.failing_workers:
        if for_s > bounds.stall_s:
            finding(name, f"failing for {for_s:.0f}s: {error}")
    for name, problem in seen.other.items():
        finding(name, problem)
    return ("failing" if failing else "degraded" if degraded else "ok"), checks


def _stalled(consumer: ConsumerProgress, stall_s: float) -> str | None:
    if consumer.failing_for_s is not None and consumer.failing_for_s > stall_s:
        return f"its batches have failed for {consumer.failing_for_s:.0f}s: {consumer.last_error}"
    if consumer.busy_for_s is not None and consumer.busy_for_s > stall_s:
        return f"one batch has been in hand for {consumer.busy_for_s:.0f}s"
    idle_for = consumer.since_last_batch_s
    if consumer.records_waiting and consumer.busy_for_s is None and idle_for > stall_s:
        return f"{consumer.records_waiting} record(s) wait on the broker and it has handled none for {idle_for:.0f}s"
    return None
