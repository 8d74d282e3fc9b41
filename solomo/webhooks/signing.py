"""Standard Webhooks 1.0 signatures: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.

The key is the base64 part of the endpoint's ``whsec_…`` secret, decoded. During a rotation's overlap the message
carries one signature per secret, space-separated, so a receiver that still knows only the old secret (or already
only the new one) verifies it. Written here rather than taken from the ``standardwebhooks`` package: it is ten
lines, and the tests check it against that package's verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret (base64, padding optional)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,…`` signature of the body sent as ``message_id`` at ``timestamp`` (unix seconds)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Iterable[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets)


def wire_id(message_id: uuid.UUID | str) -> str:
    """The ``webhook-id`` of a message: ``msg_`` and its uuid's 32 hex digits (the receiver's idempotency key)."""
    if isinstance(message_id, str):
        if message_id.startswith("msg_"):
            return message_id
        message_id = uuid.UUID(message_id)
    return "msg_" + message_id.hex
