"""Standard Webhooks signing (https://www.standardwebhooks.com): the secrets of a webhook
subscription, their rotation, and the `webhook-signature` header made with them.

A rotation does not cut receivers off: the old secret keeps signing beside the new one
until its overlap ends, and the header carries one signature per valid secret, so a
receiver verifies with whichever secret it knows.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from secrets import token_bytes
from uuid import UUID

import asyncpg
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_webhook_secret() -> str:
    """A fresh secret in the Standard Webhooks format: whsec_ + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(32)).decode()


def signature_header(secrets: list[str], msg_id: str, timestamp: datetime, body: bytes) -> str:
    """The webhook-signature value: `v1,<sig>` per secret, space-separated. `body` is
    exactly the bytes sent; `timestamp` the one sent in webhook-timestamp."""
    if not secrets:
        raise ValueError("no secret to sign with")
    # The library reads the timestamp as UTC wall time (it replaces, not converts, the
    # zone), so an aware time in another zone must be converted first.
    utc = timestamp.astimezone(UTC) if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    data = body.decode()
    return " ".join(Webhook(secret).sign(msg_id, utc, data) for secret in secrets)


async def valid_secrets(conn: asyncpg.Connection, subscription_id: UUID) -> list[str]:
    """The secrets that sign for a subscription now, newest first."""
    return (await valid_secrets_of(conn, [subscription_id])).get(subscription_id, [])


async def valid_secrets_of(conn: asyncpg.Connection, subscription_ids: list[UUID]) -> dict[UUID, list[str]]:
    """valid_secrets for several subscriptions in one query; those without any are absent."""
    rows = await conn.fetch(
        "SELECT subscription_id, array_agg(secret ORDER BY created_at DESC, secret) AS secrets"
        " FROM webhook_secrets"
        " WHERE subscription_id = ANY($1::uuid[]) AND (expires_at IS NULL OR expires_at > now())"
        " GROUP BY subscription_id",
        list(subscription_ids),
    )
    return {row["subscription_id"]: list(row["secrets"]) for row in rows}


async def rotate_webhook_secret(conn: asyncpg.Connection, subscription_id: UUID, overlap: timedelta) -> str:
    """Add a new secret; the current ones keep signing for `overlap`, and secrets whose
    overlap has ended are removed. Returns the new secret (shown to the partner once)."""
    secret = new_webhook_secret()
    async with conn.transaction():
        # Two rotations at once would each give the other's new secret an expiry; the
        # subscription's row lock puts them one after the other.
        found = await conn.fetchval(
            "SELECT true FROM subscriptions WHERE subscription_id = $1 FOR UPDATE", subscription_id
        )
        if not found:
            raise LookupError(f"no subscription {subscription_id}")
        await conn.execute(
            "DELETE FROM webhook_secrets WHERE subscription_id = $1 AND expires_at <= now()", subscription_id
        )
        await conn.execute(
            "UPDATE webhook_secrets SET expires_at = now() + $2::interval"
            " WHERE subscription_id = $1 AND expires_at IS NULL",
            subscription_id,
            overlap,
        )
        await conn.execute(
            "INSERT INTO webhook_secrets (subscription_id, secret) VALUES ($1, $2)", subscription_id, secret
        )
    return secret
