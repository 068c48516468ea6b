"""Partners as the services other than intake know them: projected from the
partner-access topic (intake announces every change there), and API keys checked against
that projection. Tables: services/common/migrations/002_partner_access.sql."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends

from contracts.envelope import CloudEvent
from contracts.notices import PartnerAccessChanged
from services.common.access import Access, declares
from services.common.api_keys import hash_secret, presented_key, split_key, unauthenticated
from services.common.consumer import HandlerContext
from services.common.problems import Problem
from services.common.rate_limits import RateLimits


async def record_partner_access(conn: asyncpg.Connection, access: PartnerAccessChanged) -> None:
    """Keep the partner's latest access; its keys are replaced as a whole."""
    await conn.execute(
        "INSERT INTO partner_access (partner_id, access, changed_at) VALUES ($1, $2, now())"
        " ON CONFLICT (partner_id) DO UPDATE SET access = EXCLUDED.access, changed_at = now()",
        access.partner_id, access.model_dump_json(),
    )
    await conn.execute("DELETE FROM partner_keys WHERE partner_id = $1", access.partner_id)
    await conn.executemany(
        "INSERT INTO partner_keys (key_id, partner_id, secret_hash, revoked) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (key_id) DO UPDATE SET partner_id = EXCLUDED.partner_id,"
        " secret_hash = EXCLUDED.secret_hash, revoked = EXCLUDED.revoked",
        [(k.key_id, access.partner_id, bytes.fromhex(k.sha256), k.revoked or access.removed) for k in access.keys],
    )


async def partner_for_key(conn: asyncpg.Connection, api_key: str) -> PartnerAccessChanged | None:
    """The partner an active key belongs to, or None."""
    parts = split_key(api_key)
    if parts is None:
        return None
    key_id, secret = parts
    row = await conn.fetchrow(
        "SELECT a.access, k.secret_hash FROM partner_keys k JOIN partner_access a USING (partner_id)"
        " WHERE k.key_id = $1 AND NOT k.revoked",
        key_id,
    )
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), hash_secret(secret)):
        return None
    access = PartnerAccessChanged.model_validate_json(row["access"])
    return None if access.removed else access


async def authenticated_partner(
    pool: Callable[[], asyncpg.Pool], api_key: str | None, limits: RateLimits
) -> PartnerAccessChanged:
    """The partner whose active key a request presents, charged one request of its
    allowance; a 401 Problem otherwise, without touching the database (`pool` is asked
    for only then) when it presents nothing shaped like a key."""
    if not api_key or split_key(api_key) is None:
        raise unauthenticated()
    async with pool().acquire() as conn:
        partner = await partner_for_key(conn, api_key)
    if partner is None:
        raise unauthenticated()
    limits.charge_partner(partner.partner_id, partner.requests_per_minute)
    return partner


def not_an_operator(partner_id: str) -> Problem:
    return Problem(403, f"partner {partner_id} is not an operator; the programme office makes operators",
                   slug="operators-only")


def operator_dependency(pool: Callable[[], asyncpg.Pool], limits: RateLimits) -> Any:
    """A FastAPI dependency for a route only operators may call: the partner behind an
    operator's key, else a 401 or 403 Problem."""

    @declares(Access("operator"))
    async def operator(key: Annotated[str | None, Depends(presented_key)]) -> PartnerAccessChanged:
        partner = await authenticated_partner(pool, key, limits)
        if not partner.operator:
            raise not_an_operator(partner.partner_id)
        return partner

    return operator


async def _keep_access(context: HandlerContext, event: CloudEvent[PartnerAccessChanged]) -> None:
    await record_partner_access(context.conn, event.data)


# What a reader of redthread.partner-access.v1 that only authenticates keys does.
ACCESS_HANDLERS = {PartnerAccessChanged.EVENT_TYPE: _keep_access}
