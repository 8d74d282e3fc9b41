"""Idempotency-Key for POSTs that must not happen twice (check-ins, claims, redemptions).

A key belongs to one request: brand, caller (API key or member), method, the concrete path (ids included)
and the body. The first answer is stored with a fingerprint of the path and body in the same transaction
as the work, so a replay can only see committed work:
  * same key, path and body, within 24 h → the first answer again (``Idempotent-Replayed: true``);
  * same key on another path (a claim on another offer, a void of another redemption) or with another
    body → 422 ``idempotency_key_reused``, never the other request's answer;
  * same key while the first request is still in flight → 409 ``idempotency_key_in_use``
    (``pg_try_advisory_xact_lock``: the second request never queues behind the first);
  * a malformed key (empty, over 255 characters, not printable ASCII) → 400, as the IETF
    Idempotency-Key draft says.
The row is found by brand, caller, method and key (the path is in the fingerprint), so one primary-key
probe finds a key whatever path it was first used on.
Failed requests store nothing (their transaction rolls back), so they may be retried with the same key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.principal import Principal
from solomo.errors import ApiError, FieldError

HEADER = "Idempotency-Key"
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=False,
        description="Any unique string (a UUID is good). Retrying with the same key and body replays the first answer.",
    ),
]
_VALID = re.compile(r"^[\x20-\x7e]{1,255}$")
_DIGEST_BYTES = 32

_LOOK_UP = text(
    """
    SELECT pg_try_advisory_xact_lock(hashtextextended(:lock, 0)) AS locked, k.body_hash, k.status_code, k.response
    FROM (SELECT 1) AS one
    LEFT JOIN idempotency_keys k
           ON k.brand_id = :brand_id AND k.caller = :caller AND k.method = :method AND k.key = :key
          AND k.created_at > now() - interval '24 hours'
    """
)
_STORE = text(
    """
    INSERT INTO idempotency_keys (brand_id, caller, method, key, body_hash, status_code, response)
    VALUES (:brand_id, :caller, :method, :key, :body_hash, :status_code, :response)
    ON CONFLICT (brand_id, caller, method, key) DO UPDATE
       SET body_hash = excluded.body_hash, status_code = excluded.status_code, response = excluded.response,
           created_at = now()
    """
)


def caller_of(principal: Principal) -> str:
    return str(principal.member_id or principal.key_id)


async def run_once(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    status_code: int,
    work: Callable[[], Awaitable[msgspec.Struct]],
) -> Response[Any]:
    """Do ``work`` once per key; its Struct answer is stored as JSON and replayed byte for byte."""
    if key is None:
        return Response(await work(), status_code=status_code)
    if not _VALID.match(key) or not key.strip():
        raise ApiError(
            HTTP_400_BAD_REQUEST,
            "invalid_idempotency_key",
            f"{HEADER} must be 1 to 255 printable ASCII characters",
            errors=[FieldError(HEADER, "must be 1 to 255 printable ASCII characters", "header")],
        )
    scope = {"brand_id": principal.brand_id, "caller": caller_of(principal), "method": request.method, "key": key}
    fingerprint = _digest(request.url.path.encode()) + _digest(await request.body())
    found = (await session.execute(_LOOK_UP, scope | {"lock": "|".join(str(v) for v in scope.values())})).one()
    if not found.locked:
        raise ApiError(
            HTTP_409_CONFLICT, "idempotency_key_in_use", "A request with this Idempotency-Key is in progress"
        )
    if found.body_hash is not None:
        stored = bytes(found.body_hash)
        if stored[:_DIGEST_BYTES] != fingerprint[:_DIGEST_BYTES]:
            raise _reused("was used for a request to another path")
        if stored != fingerprint:
            raise _reused("was used with another body")
        return Response(
            bytes(found.response),
            status_code=found.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    answer = msgspec.json.encode(await work())
    await session.execute(_STORE, scope | {"body_hash": fingerprint, "status_code": status_code, "response": answer})
    return Response(answer, status_code=status_code, media_type="application/json")


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _reused(why: str) -> ApiError:
    return ApiError(
        HTTP_422_UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        f"This {HEADER} {why}; use a new key for a new request",
        errors=[FieldError(HEADER, f"already {why.removeprefix('was ')}", "header")],
    )
