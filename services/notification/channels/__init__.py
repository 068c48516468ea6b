"""The channels that send a message somewhere: e-mail over SMTP (`mail`) and Standard
Webhooks calls (`webhook`). Each says what one send came to, as a `Sent`, and never
raises for a failure of its peer: the dispatcher decides what the failure means for the
delivery (`services.notification.delivery_policy`) and for the peer (`breakers`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What a send says about the peer it went to: "up" when the peer answered as a working
# peer does (accepted, or refused this message for good), "down" when it did not answer
# or asked to be tried later, None when the peer was not asked at all (the message could
# not be built). Circuit breakers count only "down" in a row.
PeerState = Literal["up", "down"]


@dataclass(frozen=True)
class Sent:
    """What one attempt came to, before it is judged against the horizon."""

    ok: bool
    peer: PeerState | None
    status_code: int | None = None  # the HTTP status or SMTP reply code, when there was one
    error: str | None = None
    permanent: bool = False  # retrying cannot help (a refused recipient, a broken message)
    subject: str | None = None  # of the e-mail sent

    @classmethod
    def delivered(cls, *, status_code: int | None = None, subject: str | None = None) -> Sent:
        return cls(ok=True, peer="up", status_code=status_code, subject=subject)
