"""Webhook signatures: what we sign, any Standard Webhooks receiver verifies."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.notification.signing import new_webhook_secret, signature_header

BODY = '{"type":"redthread.notices","text":"Ställtid"}'.encode()


def headers(msg_id: str, sent: datetime, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(sent.timestamp())), "webhook-signature": signature}


def test_a_new_secret_is_32_random_bytes_in_the_standard_format():
    first, second = new_webhook_secret(), new_webhook_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_every_valid_secret_signs_and_each_verifies_alone():
    old, new = new_webhook_secret(), new_webhook_secret()
    sent = datetime.now(UTC).replace(microsecond=0)
    signature = signature_header([new, old], "msg-1", sent, BODY)
    assert len(signature.split(" ")) == 2 and all(s.startswith("v1,") for s in signature.split(" "))
    for secret in (old, new):
        assert Webhook(secret).verify(BODY, headers("msg-1", sent, signature))["text"] == "Ställtid"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(BODY, headers("msg-1", sent, signature))


def test_a_changed_body_id_or_time_does_not_verify():
    secret = new_webhook_secret()
    sent = datetime.now(UTC).replace(microsecond=0)
    signature = signature_header([secret], "msg-1", sent, BODY)
    for body, msg_id, at in ((BODY + b" ", "msg-1", sent), (BODY, "msg-2", sent), (BODY, "msg-1", sent - timedelta(seconds=1))):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, headers(msg_id, at, signature))


def test_a_time_in_another_zone_signs_the_same_instant():
    secret = new_webhook_secret()
    sent = datetime.now(UTC).replace(microsecond=0)
    stockholm = sent.astimezone(timezone(timedelta(hours=1)))
    assert signature_header([secret], "m", stockholm, BODY) == signature_header([secret], "m", sent, BODY)


def test_nothing_to_sign_with_is_an_error():
    with pytest.raises(ValueError):
        signature_header([], "m", datetime.now(UTC), BODY)
