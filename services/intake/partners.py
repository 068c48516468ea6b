"""Partners: who may send what, about which companies, and how they prove who they are.

API keys look like `rt_<key id>_<secret>`. Only a SHA-256 of the secret is stored: the
secrets are 256 random bits, so a slow password hash would add nothing but latency.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass, field

import asyncpg

KEY_PREFIX = "rt"
PARTNER_SOURCE_PREFIX = "/partners/"


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name: str
    event_types: frozenset[str]
    regions: frozenset[str] | None = None  # None: any region
    org_numbers: frozenset[str] | None = None  # None: any company
    requests_per_minute: int = 600
    # On Kafka, only its own topics partner.<id>.*, which only its principal may write,
    # count: its source on a shared topic could have been written by anyone.
    own_kafka_topics: bool = False

    @property
    def source(self) -> str:
        return PARTNER_SOURCE_PREFIX + self.partner_id

    def may_send(self, event_type: str) -> bool:
        return event_type in self.event_types

    def may_speak_for(self, org_number: str | None, region: str | None) -> str | None:
        """None when allowed, else why not."""
        if self.org_numbers is not None and org_number not in self.org_numbers:
            return f"partner {self.partner_id} may not send events about company {org_number}"
        if self.regions is not None and region not in self.regions:
            return f"partner {self.partner_id} may not send events for region {region or 'unknown'}"
        return None


def partner_id_from_source(source: str) -> str | None:
    if source.startswith(PARTNER_SOURCE_PREFIX):
        return source[len(PARTNER_SOURCE_PREFIX):] or None
    return None


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def split_key(api_key: str) -> tuple[str, str] | None:
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class PartnerDirectory:
    """Partners and keys from the database, cached for `ttl_s` seconds: a new partner or
    a revoked key takes effect within that time on every intake instance."""

    def __init__(self, pool: asyncpg.Pool | None = None, ttl_s: float = 5.0) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._partners: dict[str, Partner] = {}
        self._keys: dict[str, tuple[str, bytes]] = {}
        self._loaded_at = -math.inf

    def bind(self, pool: asyncpg.Pool) -> None:
        """Attach the pool once the service has one (directories are made before start)."""
        self._pool = pool
        self.invalidate()

    async def _refresh(self) -> None:
        if time.monotonic() - self._loaded_at < self._ttl_s:
            return
        if self._pool is None:
            raise RuntimeError("PartnerDirectory is not bound to a database pool")
        async with self._pool.acquire() as conn:
            partners = await conn.fetch("SELECT * FROM partners")
            keys = await conn.fetch("SELECT key_id, partner_id, secret_hash FROM api_keys WHERE revoked_at IS NULL")
        self._partners = {row["partner_id"]: _partner_from_row(row) for row in partners}
        self._keys = {row["key_id"]: (row["partner_id"], bytes(row["secret_hash"])) for row in keys}
        self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        self._loaded_at = -math.inf

    async def partner(self, partner_id: str) -> Partner | None:
        await self._refresh()
        return self._partners.get(partner_id)

    async def authenticate(self, api_key: str) -> Partner | None:
        parts = split_key(api_key)
        if parts is None:
            return None
        await self._refresh()
        key_id, secret = parts
        known = self._keys.get(key_id)
        if known is None or not hmac.compare_digest(known[1], _hash(secret)):
            return None
        return self._partners.get(known[0])


def _partner_from_row(row: asyncpg.Record) -> Partner:
    return Partner(
        partner_id=row["partner_id"],
        name=row["name"],
        event_types=frozenset(row["event_types"]),
        regions=frozenset(row["regions"]) if row["regions"] is not None else None,
        org_numbers=frozenset(row["org_numbers"]) if row["org_numbers"] is not None else None,
        requests_per_minute=row["requests_per_minute"],
        own_kafka_topics=row["own_kafka_topics"],
    )


# --- administration (used by `python -m services.intake.admin` and by tests) ---------


async def save_partner(conn: asyncpg.Connection, partner: Partner) -> None:
    await conn.execute(
        "INSERT INTO partners (partner_id, name, event_types, regions, org_numbers, requests_per_minute,"
        " own_kafka_topics) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (partner_id) DO UPDATE SET name = $2,"
        " event_types = $3, regions = $4, org_numbers = $5, requests_per_minute = $6, own_kafka_topics = $7",
        partner.partner_id,
        partner.name,
        sorted(partner.event_types),
        sorted(partner.regions) if partner.regions is not None else None,
        sorted(partner.org_numbers) if partner.org_numbers is not None else None,
        partner.requests_per_minute,
        partner.own_kafka_topics,
    )


async def issue_key(conn: asyncpg.Connection, partner_id: str, secret: str | None = None) -> str:
    """A new API key for the partner; the only time the full key is ever seen."""
    key_id = secrets.token_hex(6)
    secret = secret or secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO api_keys (key_id, partner_id, secret_hash) VALUES ($1, $2, $3)", key_id, partner_id, _hash(secret)
    )
    return f"{KEY_PREFIX}_{key_id}_{secret}"


async def revoke_key(conn: asyncpg.Connection, key_id: str) -> bool:
    status = await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL", key_id)
    return status.endswith(" 1")


@dataclass
class TokenBucket:
    """Per-partner rate limit on one intake instance: `per_minute` requests, in bursts of
    at most that many."""

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
