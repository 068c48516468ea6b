"""Webhooks signed per Standard Webhooks: one POST of the message to the subscriber's URL.

An HTTP status tells what a failure is: a 4xx refuses this call as it is (the delivery
gives up at once; not 408, 409, 425 or 429, which ask for a later try), a 5xx, a timeout
or a connection that fails may pass. Redirects are never followed: the receiver's answer
is the one its URL gives."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import httpx

from contracts.notices import OutgoingMessage
from services.common.timeouts import running_time_limit
from services.common.failures import http_status_is_permanent
from services.common.settings import Settings
from services.notification.channels import PeerState, Sent
from services.notification.signing import signature_header

USER_AGENT = "redthread-notification"
# A receiver's 2xx answer is read (and dropped) up to this size, so that its connection
# can be used again; a longer one costs the connection, nothing else.
SUCCESS_BODY_MAX_BYTES = 64 * 1024
# How much of a failed call's answer the delivery's error (seen by the partner) quotes.
ERROR_EXCERPT_BYTES = 300


class WebhookChannel:
    def __init__(self, settings: Settings) -> None:
        self._timeout_s = settings.webhook_timeout_s
        self._http = httpx.AsyncClient(
            # No timeout of httpx's own: after a pause of the process its timers would
            # fire before the answer is read (services.common.timeouts); `send` bounds the call.
            timeout=None,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.delivery_concurrency),
            headers={"user-agent": USER_AGENT},
        )

    async def send(self, url: str, delivery_id: UUID, message: OutgoingMessage, secrets: list[str]) -> Sent:
        """POST `message` to `url`, signed with every secret in `secrets`; the delivery id
        is the webhook-id, the same on every attempt, so that receivers can tell a repeat."""
        if not secrets:
            # Never unsigned; a secret may yet be added, so this failure is not for good.
            return Sent(ok=False, peer=None, error="no valid webhook secret for the subscription")
        body = message.model_dump_json().encode()  # exactly the bytes signed
        msg_id = str(delivery_id)
        timestamp = datetime.now(UTC).replace(microsecond=0)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
            "content-type": "application/json",
        }
        answered: Sent | None = None  # a 2xx: delivered, whatever happens to the connection after it
        try:
            # This bounds the whole call, so that a receiver answering a byte at a time
            # cannot hold a slot.
            async with running_time_limit(self._timeout_s):
                async with self._http.stream("POST", url, content=body, headers=headers) as response:
                    if response.is_success:
                        answered = Sent.delivered(status_code=response.status_code)
                        # Read the (usually empty) answer to its end, within bounds: a
                        # response left unread closes its connection, and every call
                        # would open a new one (and, over https, a new TLS session).
                        await _read_at_most(response, SUCCESS_BODY_MAX_BYTES)
                        return answered
                    excerpt = await _read_at_most(response, ERROR_EXCERPT_BYTES)
                    status = response.status_code
                    return Sent(
                        ok=False,
                        peer=peer_state_of(status),
                        status_code=status,
                        error=f"HTTP {status}: {excerpt}".rstrip(": "),
                        permanent=http_status_is_permanent(status),
                    )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            return Sent(ok=False, peer=None, error=f"webhook URL {url!r} cannot be called: {error}", permanent=True)
        except (httpx.HTTPError, OSError, TimeoutError) as error:
            return answered or Sent(ok=False, peer="down", error=f"{type(error).__name__}: {error}".rstrip(": "))

    async def close(self) -> None:
        await self._http.aclose()


def peer_state_of(status: int) -> PeerState:
    """A host that answers 5xx, 408 or 429 cannot take calls now; any other answer (a 4xx
    refusing this call, a redirect) comes from a host that works."""
    return "down" if status >= 500 or status in (408, 429) else "up"


async def _read_at_most(response: httpx.Response, limit: int) -> str:
    """The start of a response body, for the error text; never the whole of a large one."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) >= limit:
            break
    return chunks[:limit].decode("utf-8", "replace").replace("\x00", "\ufffd").strip()
