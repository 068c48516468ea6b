"""Partners: who may send what, about which companies, and how they prove who they are.

API keys and how they are checked: services/common/api_keys.py.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from dataclasses import dataclass

import asyncpg

from contracts.envelope import new_event
from contracts.notices import ApiKeyHash, PartnerAccessChanged
from services.common.api_keys import KEY_PREFIX, hash_secret, split_key
from services.common.outbox import add_to_outbox

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
    # What it may see in reporting: "board" (aggregates, every timeline without contact
    # data) or "coach" (the timelines of the companies in its scope); None: nothing.
    reporting: str | None = None
    # An operator of the programme office: reads what went out (deliveries, messages sent).
    operator: bool = False

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
        if known is None or not hmac.compare_digest(known[1], hash_secret(secret)):
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
        reporting=row["reporting_role"],
        operator=row["operator"],
    )


# --- administration (used by `python -m services.intake.admin` and by tests) ---------


# Every change is announced on the partner-access topic (through the outbox, in the same
# transaction), so that the other services with an HTTP API know the same partners and keys.


async def save_partner(conn: asyncpg.Connection, partner: Partner, *, access_topic: str) -> None:
    await conn.execute(
        "INSERT INTO partners (partner_id, name, event_types, regions, org_numbers, requests_per_minute,"
        " own_kafka_topics, reporting_role, operator) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (partner_id) DO UPDATE SET name = $2, event_types = $3, regions = $4, org_numbers = $5,"
        " requests_per_minute = $6, own_kafka_topics = $7, reporting_role = $8, operator = $9",
        partner.partner_id,
        partner.name,
        sorted(partner.event_types),
        sorted(partner.regions) if partner.regions is not None else None,
        sorted(partner.org_numbers) if partner.org_numbers is not None else None,
        partner.requests_per_minute,
        partner.own_kafka_topics,
        partner.reporting,
        partner.operator,
    )
    await announce_access(conn, partner.partner_id, access_topic)


async def issue_key(conn: asyncpg.Connection, partner_id: str, secret: str | None = None, *, access_topic: str) -> str:
    """A new API key for the partner; the only time the full key is ever seen."""
    key_id = secrets.token_hex(6)
    secret = secret or secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO api_keys (key_id, partner_id, secret_hash) VALUES ($1, $2, $3)", key_id, partner_id, hash_secret(secret)
    )
    await announce_access(conn, partner_id, access_topic)
    return f"{KEY_PREFIX}_{key_id}_{secret}"


async def revoke_key(conn: asyncpg.Connection, key_id: str, *, access_topic: str) -> bool:
    partner_id = await conn.fetchval(
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL RETURNING partner_id", key_id
    )
    if partner_id is None:
        return False
    await announce_access(conn, partner_id, access_topic)
    return True


async def announce_access(conn: asyncpg.Connection, partner_id: str, access_topic: str) -> None:
    """Stage the partner's whole access as it is now: a compacted topic then always holds
    each partner's latest state."""
    row = await conn.fetchrow("SELECT * FROM partners WHERE partner_id = $1", partner_id)
    keys = await conn.fetch("SELECT key_id, secret_hash, revoked_at FROM api_keys WHERE partner_id = $1", partner_id)
    partner = _partner_from_row(row)
    access = PartnerAccessChanged(
        partner_id=partner.partner_id,
        name=partner.name,
        event_types=sorted(partner.event_types),
        regions=sorted(partner.regions) if partner.regions is not None else None,
        org_numbers=sorted(partner.org_numbers) if partner.org_numbers is not None else None,
        requests_per_minute=partner.requests_per_minute,
        reporting=partner.reporting,
        operator=partner.operator,
        keys=[
            ApiKeyHash(key_id=k["key_id"], sha256=bytes(k["secret_hash"]).hex(), revoked=k["revoked_at"] is not None)
            for k in keys
        ],
    )
    await add_to_outbox(conn, access_topic, partner_id, new_event(access, source="/redthread/intake", subject=partner_id))
