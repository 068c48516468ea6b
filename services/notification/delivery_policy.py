"""What an attempt at a delivery comes to: delivered, failed and tried again after a
backoff, or given up. Pure decisions over what the send said and how long the delivery
has been pending; the dispatcher does the I/O around them.

Retrying ends by time, not by a count of attempts: a delivery is retried until the
horizon (`delivery_give_up_after_s`, a day by default) has passed since it became
pending, so that a peer's outage of up to an hour (and far beyond) loses nothing,
whatever the backoff made of the attempts meanwhile.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from services.common.settings import Settings
from services.notification.channels import Sent

Result = Literal["delivered", "failed", "gave-up"]


@dataclass(frozen=True)
class Verdict:
    result: Result
    retry_in_s: float | None = None  # when failed: the next attempt is due this much later
    gave_up_because: str | None = None  # when gave-up: why, for the dead letter


def judge(sent: Sent, *, attempt: int, pending_for_s: float, settings: Settings,
          uniform: Callable[[float, float], float] = random.uniform) -> Verdict:
    """The verdict on attempt number `attempt` (1 for the first) of a delivery pending
    for `pending_for_s` seconds."""
    if sent.ok:
        return Verdict("delivered")
    horizon_s = settings.delivery_give_up_after_s
    if sent.permanent:
        return Verdict("gave-up", gave_up_because="a permanent failure")
    if pending_for_s >= horizon_s:
        return Verdict("gave-up", gave_up_because=f"retrying for {_duration(horizon_s)}")
    if attempt >= settings.delivery_max_attempts:
        return Verdict("gave-up", gave_up_because=f"the most attempts allowed ({settings.delivery_max_attempts})")
    # The last attempt falls on the horizon, not after it: a delivery is given up when its
    # horizon ends, not up to a backoff later.
    retry_in_s = min(backoff_s(attempt, settings, uniform), horizon_s - pending_for_s)
    return Verdict("failed", retry_in_s=retry_in_s)


def backoff_s(attempt: int, settings: Settings, uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Exponential, capped, with full jitter: retries of many deliveries that failed
    together (a receiver was down) spread out instead of arriving together."""
    exponent = min(attempt - 1, 60)  # 2**60 seconds is beyond any cap; bounds the float
    ceiling = min(settings.delivery_backoff_max_s, settings.delivery_backoff_initial_s * 2**exponent)
    return uniform(0, ceiling)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
