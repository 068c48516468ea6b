"""Webhooks signed per Standard Webhooks: one POST of the message to the subscriber's URL.

An HTTP status tells what a failure is: a 4xx refuses this call as it is (the delivery
gives up at once; not 408, 409, 425 or 429, which ask for a later try), a 5xx, a timeout
or a connection that fails may pass. Redirects are never followed: the receiver's answer
is the one its URL gives. Every call goes to an address checked just before it
(services.notification.outbound), and what a receiver answers is never shown to the
partner: an internal endpoint reached by mistake must not be read through /deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import httpx

from contracts.notices import OutgoingMessage
from services.common.timeouts import running_time_limit
from services.common.failures import http_status_is_permanent
from services.common.settings import Settings
from services.notification.channels import PeerState, Sent
from services.notification.outbound import Refused, resolve_destination
from services.notification.signing import signature_header

USER_AGENT = "redthread-notification"
# A receiver's 2xx answer is read (and dropped) up to this size, so that its connection
# can be used again; a longer one costs the connection, nothing else.
SUCCESS_BODY_MAX_BYTES = 64 * 1024


class WebhookChannel:
    def __init__(self, settings: Settings) -> None:
        self._timeout_s = settings.webhook_timeout_s
        self._allow_internal = settings.webhook_allow_internal
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
                destination = await resolve_destination(url, self._allow_internal)
                pinned = {"host": destination.host_header}
                # TLS still checks the certificate against the name the partner wrote.
                name = destination.url.raw_host.decode("ascii")
                extensions = {} if name.strip("[]") == destination.address else {"sni_hostname": name}
                async with self._http.stream("POST", destination.pinned_url, content=body, headers=headers | pinned,
                                             extensions=extensions) as response:
                    if response.is_success:
                        answered = Sent.delivered(status_code=response.status_code)
                        # Read the (usually empty) answer to its end, within bounds: a
                        # response left unread closes its connection, and every call
                        # would open a new one (and, over https, a new TLS session).
                        await _read_at_most(response, SUCCESS_BODY_MAX_BYTES)
                        return answered
                    status = response.status_code
                    return Sent(
                        ok=False,
                        peer=peer_state_of(status),
                        status_code=status,
                        error=f"HTTP {status}",
                        permanent=http_status_is_permanent(status),
                    )
        except Refused as refused:
            return Sent(ok=False, peer=None, error=str(refused), permanent=True)
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


async def _read_at_most(response: httpx.Response, limit: int) -> None:
    """Reads (and drops) a response body up to `limit` bytes; never the whole of a large one."""
    read = 0
    async for chunk in response.aiter_bytes():
        read += len(chunk)
        if read >= limit:
            break
