"""Standard Webhooks 1.0 signatures, checked with the ``standardwebhooks`` package's own verifier."""

from __future__ import annotations

import base64
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from solomo.config import Settings
from solomo.webhooks.sender import EndpointForSending, send_once
from solomo.webhooks.signing import sign, signature_header, wire_id
from tests.webhooks.receiver import running_receiver


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def headers_for(secrets: list[str], msg_id: str, body: bytes) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }


def test_a_signature_verifies_with_the_reference_verifier() -> None:
    secret, body = new_secret(), b'{"type": "member.created", "data": {"member_id": "x"}}'
    msg_id = wire_id(uuid.uuid4())
    assert Webhook(secret).verify(body, headers_for([secret], msg_id, body)) == {
        "type": "member.created",
        "data": {"member_id": "x"},
    }
    # The same bytes under another id, another body or another secret do not verify.
    headers = headers_for([secret], msg_id, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers | {"webhook-id": wire_id(uuid.uuid4())})


def test_an_unpadded_secret_signs_as_the_reference_library_reads_it() -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode().rstrip("=")
    body = b"{}"
    assert Webhook(secret).verify(body, headers_for([secret], "msg_1", body)) == {}
    assert sign(secret, "msg_1", 1700000000, body).startswith("v1,")


def test_during_a_rotation_both_secrets_sign_and_each_verifies() -> None:
    old, new, body = new_secret(), new_secret(), b'{"a": 1}'
    headers = headers_for([new, old], "msg_abc", body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers) == {"a": 1}
    assert Webhook(new).verify(body, headers) == {"a": 1}


def test_the_previous_secret_signs_only_until_its_overlap_ends() -> None:
    now = datetime.now(UTC)
    endpoint = EndpointForSending(
        uuid.uuid4(), "https://example.com/", "whsec_new", "whsec_old", now + timedelta(hours=1)
    )
    assert endpoint.signing_secrets(now) == ["whsec_new", "whsec_old"]
    assert endpoint.signing_secrets(now + timedelta(hours=2)) == ["whsec_new"]
    assert EndpointForSending(uuid.uuid4(), "https://example.com/", "whsec_new").signing_secrets(now) == ["whsec_new"]


async def test_a_sent_message_verifies_at_the_receiver_with_either_secret_during_a_rotation(settings: Settings) -> None:
    old, new = new_secret(), new_secret()
    message_id = uuid.uuid4()
    body = b'{"type": "webhook.test", "timestamp": "2026-01-01T00:00:00Z", "data": {}}'
    async with running_receiver() as receiver:
        endpoint = EndpointForSending(uuid.uuid4(), receiver.url(), new, old, datetime.now(UTC) + timedelta(days=1))
        result = await send_once(endpoint, message_id, body, receiver.settings(settings))
    assert result.delivered, result
    [got] = receiver.received
    assert got.body == body
    assert got.headers["webhook-id"] == f"msg_{message_id.hex}"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("SoLoMo-Webhooks/")
    assert Webhook(old).verify(got.body, got.headers)["type"] == "webhook.test"
    assert Webhook(new).verify(got.body, got.headers)["type"] == "webhook.test"
