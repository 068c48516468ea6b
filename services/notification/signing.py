"""Standard Webhooks signing (https://www.standardwebhooks.com): the secrets of a webhook
subscription (sealed at rest), their rotation, and the `webhook-signature` header made
with them.

A rotation does not cut receivers off: the old secret keeps signing beside the new one
until its overlap ends, and the header carries one signature per valid secret, so a
receiver verifies with whichever secret it knows.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from secrets import token_bytes
from uuid import UUID

import asyncpg
from standardwebhooks import Webhook

from services.common.sealing import PREFIX, Sealer, SealingError

log = logging.getLogger(__name__)

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


class WebhookSecrets:
    """The signing secrets of webhook subscriptions, sealed at rest (services/common/
    sealing.py): each bound to its subscription, opened only to sign."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    async def add(self, conn: asyncpg.Connection, subscription_id: UUID) -> str:
        """A first secret for a new subscription; returned once, in clear, for the partner."""
        secret = new_webhook_secret()
        await self._insert(conn, subscription_id, secret)
        return secret

    async def valid(self, conn: asyncpg.Connection, subscription_id: UUID) -> list[str]:
        """The secrets that sign for a subscription now, newest first."""
        return (await self.valid_of(conn, [subscription_id])).get(subscription_id, [])

    async def valid_of(self, conn: asyncpg.Connection, subscription_ids: list[UUID]) -> dict[UUID, list[str]]:
        """`valid` for several subscriptions in one query; those without any are absent. A
        secret this key cannot open is left out and logged (its webhooks then fail with
        "no valid webhook secret", and are retried), never a crash of the dispatcher."""
        rows = await conn.fetch(
            "SELECT subscription_id, array_agg(secret ORDER BY created_at DESC, secret) AS secrets"
            " FROM webhook_secrets"
            " WHERE subscription_id = ANY($1::uuid[]) AND (expires_at IS NULL OR expires_at > now())"
            " GROUP BY subscription_id",
            list(subscription_ids),
        )
        opened: dict[UUID, list[str]] = {}
        for row in rows:
            for sealed in row["secrets"]:
                try:
                    opened.setdefault(row["subscription_id"], []).append(self._open(sealed, row["subscription_id"]))
                except SealingError as error:
                    log.error("webhook secret of subscription %s: %s", row["subscription_id"], error)
        return opened

    async def rotate(self, conn: asyncpg.Connection, subscription_id: UUID, overlap: timedelta) -> str:
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
            await self._insert(conn, subscription_id, secret)
        return secret

    async def seal_clear_ones(self, pool: asyncpg.Pool) -> int:
        """Seal the secrets stored in clear before secrets were sealed; returns how many."""
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT subscription_id, secret FROM webhook_secrets WHERE secret NOT LIKE $1 FOR UPDATE", PREFIX + "%"
            )
            for row in rows:
                await conn.execute(
                    "UPDATE webhook_secrets SET secret = $3 WHERE subscription_id = $1 AND secret = $2",
                    row["subscription_id"], row["secret"], self._sealer.seal(row["secret"], str(row["subscription_id"])),
                )
        return len(rows)

    async def _insert(self, conn: asyncpg.Connection, subscription_id: UUID, secret: str) -> None:
        await conn.execute(
            "INSERT INTO webhook_secrets (subscription_id, secret) VALUES ($1, $2)",
            subscription_id, self._sealer.seal(secret, str(subscription_id)),
        )

    def _open(self, sealed: str, subscription_id: UUID) -> str:
        return self._sealer.open(sealed, str(subscription_id))
