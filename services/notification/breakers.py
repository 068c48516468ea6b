"""Circuit breakers, one per peer (the mail server; each webhook host).

A peer that fails `failures_to_open` sends in a row is *open*: its deliveries are held
back without spending attempts, since every send would only wait for a timeout or a
refused connection. After `pause_s` one delivery goes as a probe (*half-open*); when the
peer answers it, the breaker closes and everything it held is due at once, so a peer that
comes back after a long outage gets its backlog within seconds, not after each
delivery's remaining backoff. A probe that fails opens the breaker for another pause.

Pure state: the caller says what each send said about the peer, and acts on the changes
returned (hold a peer's deliveries back, release them). The clock is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from services.notification.channels import PeerState


class Admission(Enum):
    SEND = "send"  # closed: send as usual
    PROBE = "probe"  # this send is the one probe of a half-open breaker
    HOLD = "hold"  # open, or its probe is under way: do not send now


class Change(Enum):
    OPENED = "opened"
    CLOSED = "closed"


@dataclass
class _Breaker:
    failures: int = 0  # "down" in a row
    opened_at: float | None = None  # None while closed
    opened_wall: datetime | None = None
    reason: str | None = None
    probe_at: float = 0.0
    probing: bool = False


@dataclass(frozen=True)
class OpenBreaker:
    peer: str
    since: datetime
    reason: str | None
    next_probe_at: datetime


class Breakers:
    def __init__(self, failures_to_open: int, pause_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._failures_to_open = max(1, failures_to_open)
        self.pause_s = pause_s
        self._clock = clock
        self._breakers: dict[str, _Breaker] = {}

    def admit(self, peer: str) -> Admission:
        """May a send to `peer` start now? A PROBE admission is given once per pause."""
        breaker = self._breakers.get(peer)
        if breaker is None or breaker.opened_at is None:
            return Admission.SEND
        if breaker.probing or self._clock() < breaker.probe_at:
            return Admission.HOLD
        breaker.probing = True
        return Admission.PROBE

    def record(self, peer: str, state: PeerState | None, error: str | None = None) -> Change | None:
        """What a send said about `peer`; returns the change it made, if any."""
        if state is None:  # the peer was not asked: says nothing about it
            breaker = self._breakers.get(peer)
            if breaker is not None:
                breaker.probing = False
            return None
        breaker = self._breakers.setdefault(peer, _Breaker())
        if state == "up":
            was_open = breaker.opened_at is not None
            del self._breakers[peer]
            return Change.CLOSED if was_open else None
        breaker.failures += 1
        breaker.reason = error
        if breaker.opened_at is not None:
            if breaker.probing:  # the probe failed: another pause
                breaker.probing = False
                breaker.probe_at = self._clock() + self.pause_s
                return Change.OPENED
            return None
        if breaker.failures < self._failures_to_open:
            return None
        breaker.opened_at = self._clock()
        breaker.opened_wall = datetime.now(UTC)
        breaker.probe_at = breaker.opened_at + self.pause_s
        return Change.OPENED

    def held_back(self) -> list[str]:
        """The peers that may not be sent to now (open, or a probe under way)."""
        now = self._clock()
        return [
            peer for peer, b in self._breakers.items()
            if b.opened_at is not None and (b.probing or now < b.probe_at)
        ]

    def probing_allowed(self) -> list[str]:
        """The open peers whose pause is over: one delivery each may go as a probe."""
        now = self._clock()
        return [
            peer for peer, b in self._breakers.items()
            if b.opened_at is not None and not b.probing and now >= b.probe_at
        ]

    def hold_for_s(self, peer: str) -> float:
        """How long until `peer` may be probed (0 when it is closed or due a probe)."""
        breaker = self._breakers.get(peer)
        if breaker is None or breaker.opened_at is None:
            return 0.0
        return max(0.0, breaker.probe_at - self._clock())

    def open_breakers(self) -> list[OpenBreaker]:
        now = self._clock()
        return [
            OpenBreaker(
                peer=peer,
                since=b.opened_wall,
                reason=b.reason,
                next_probe_at=datetime.now(UTC) + timedelta(seconds=max(0.0, b.probe_at - now)),
            )
            for peer, b in self._breakers.items()
            if b.opened_at is not None and b.opened_wall is not None
        ]
