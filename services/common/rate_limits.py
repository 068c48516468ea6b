"""Requests per minute: per partner on the routes that need a key (the partner's own
`requests_per_minute`), per client address on the open ones (answer and unsubscribe
pages, feeds, the dashboard). Counted in each instance, a token bucket per partner or
address; `/health` is not counted, since supervisors poll it.

Behind a proxy every client has the proxy's address: raise
`REDTHREAD_PUBLIC_REQUESTS_PER_MINUTE` there, or limit at the proxy.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from services.common.problems import Problem

# Addresses remembered at most: a client spraying addresses costs bounded memory (the
# oldest buckets are forgotten, which only gives those a fresh allowance).
ADDRESSES_KEPT = 50_000


@dataclass
class TokenBucket:
    """`per_minute` requests, in bursts of at most that many."""

    per_minute: int
    tokens: float = field(default=-1.0)
    updated: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """0 when allowed, else the seconds until the next request would be."""
        now = time.monotonic()
        rate = self.per_minute / 60
        if self.tokens < 0:
            self.tokens = float(self.per_minute)
        self.tokens = min(float(self.per_minute), self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / rate


class RateLimits:
    def __init__(self, per_address_per_minute: int) -> None:
        self.per_address_per_minute = per_address_per_minute
        self._partners: dict[str, TokenBucket] = {}
        self._addresses: OrderedDict[str, TokenBucket] = OrderedDict()

    def charge_partner(self, partner_id: str, per_minute: int) -> None:
        bucket = self._partners.get(partner_id)
        if bucket is None or bucket.per_minute != per_minute:  # a changed allowance applies at once
            bucket = self._partners[partner_id] = TokenBucket(per_minute)
        _charge(bucket, f"partner {partner_id} may send {per_minute} requests per minute")

    def charge_address(self, address: str) -> None:
        bucket = self._addresses.pop(address, None) or TokenBucket(self.per_address_per_minute)
        self._addresses[address] = bucket  # the most recently seen last
        if len(self._addresses) > ADDRESSES_KEPT:
            self._addresses.popitem(last=False)
        _charge(bucket, f"at most {self.per_address_per_minute} requests per minute from one address")


def _charge(bucket: TokenBucket, rule: str) -> None:
    if (wait := bucket.take()) > 0:
        raise Problem(429, rule, slug="rate-limited", headers={"Retry-After": str(max(1, round(wait + 0.5)))})


def charge_client(request: Request) -> None:
    """Charges a request to its client's address, against the service's limits."""
    request.app.state.rate_limits.charge_address(request.client.host if request.client else "unknown")


class CountedPerAddress:
    """An ASGI app (static files) whose every request is charged to its client's address;
    a 429 is raised as a Problem, answered by the service's problem handler."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            charge_client(Request(scope))
        await self.app(scope, receive, send)
