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

# The rules live in SQL (solomo/idempotency/sql/): the hot routes' request functions call the same two functions.
_LOOK_UP = text("SELECT CAST(solomo_idempotent_replay(:brand_id, :caller, :method, :key, :fingerprint) AS text)")
_STORE = text("SELECT solomo_idempotent_save(:brand_id, :caller, :method, :key, :fingerprint, :status_code, :response)")


class _Found(msgspec.Struct):
    status: str
    why: str = ""
    status_code: int = 0
    response: str = ""


_FOUND = msgspec.json.Decoder(_Found)


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
    check_key(key)
    scope = {"brand_id": principal.brand_id, "caller": caller_of(principal), "method": request.method, "key": key}
    scope["fingerprint"] = fingerprint(request.url.path, await request.body())
    raw = (await session.execute(_LOOK_UP, scope)).scalar_one()
    if raw is not None:
        found = _FOUND.decode(raw)
        if found.status == "idempotency_key_in_use":
            raise in_use()
        if found.status == "idempotency_key_reused":
            raise reused(found.why)
        return Response(
            found.response.encode(),
            status_code=found.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    answer = msgspec.json.encode(await work())
    await session.execute(_STORE, scope | {"status_code": status_code, "response": answer})
    return Response(answer, status_code=status_code, media_type="application/json")


def check_key(key: str) -> None:
    """A 400 for a key that is empty, longer than 255 characters or not printable ASCII (the IETF draft)."""
    if not _VALID.match(key) or not key.strip():
        raise ApiError(
            HTTP_400_BAD_REQUEST,
            "invalid_idempotency_key",
            f"{HEADER} must be 1 to 255 printable ASCII characters",
            errors=[FieldError(HEADER, "must be 1 to 255 printable ASCII characters", "header")],
        )


def fingerprint(path: str, body: bytes) -> bytes:
    """What a stored answer must match to be replayed: SHA-256 of the concrete path, then of the body."""
    return hashlib.sha256(path.encode()).digest() + hashlib.sha256(body).digest()


def in_use() -> ApiError:
    return ApiError(HTTP_409_CONFLICT, "idempotency_key_in_use", f"A request with this {HEADER} is in progress")


def reused(why: str) -> ApiError:
    return ApiError(
        HTTP_422_UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        f"This {HEADER} {why}; use a new key for a new request",
        errors=[FieldError(HEADER, f"already {why.removeprefix('was ')}", "header")],
    )
