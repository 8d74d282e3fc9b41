"""The part of every request function's answer that is not the route's own: token, budget, Idempotency-Key.

A request function answers one jsonb document. Besides the route's own statuses it may say:
  * ``token_revoked``: the member token's version is not the member's (or the member is gone): 401;
  * ``key_revoked``: the API key is revoked: 401;
  * ``budget_exhausted`` with ``budget_level``: the caller's request budget is spent: 429 with Retry-After;
  * ``idempotency_key_in_use`` / ``idempotency_key_reused`` (with ``why``): 409 / 422;
  * ``replayed`` with ``status_code`` and ``response``: the first answer to this Idempotency-Key, as stored.
and every answer after the budget was charged carries ``budget_charged`` for the RateLimit headers.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from litestar import Request
from litestar.exceptions import NotAuthorizedException

from solomo.auth.middleware import RATE_LIMIT_HEADERS
from solomo.idempotency import check_key, fingerprint, in_use, reused
from solomo.ops.budgets import Budget

#: The header of an answer replayed from an Idempotency-Key.
REPLAYED: Final = {"Idempotent-Replayed": "true"}


class Envelope(msgspec.Struct, kw_only=True):
    status: str
    budget_charged: float | None = None
    budget_level: float | None = None
    why: str | None = None
    status_code: int = 0
    response: str | None = None


async def idempotency_of(
    request: Request[Any, Any, Any], key: str | None, *, variant: str = ""
) -> tuple[str | None, bytes | None]:
    """The key (a 400 when malformed) and the request's fingerprint, or (None, None) without a key.

    ``variant`` is what else, beside the path and body, makes this request another one (a check-in's ``crs``): it is
    fingerprinted with the path, and left empty for the default, so keys already stored keep matching.
    """
    if key is None:
        return None, None
    check_key(key)
    path = f"{request.url.path}?{variant}" if variant else request.url.path
    return key, fingerprint(path, await request.body())


def settle(request: Request[Any, Any, Any], answer: Envelope, budget: Budget) -> str | None:
    """Raise the problem an envelope status means; set the RateLimit headers of the answer. Returns the stored
    first answer of a replay (the route decodes it as it decodes a new one), else None."""
    if answer.status == "token_revoked":
        raise NotAuthorizedException("Member token refused: revoked")
    if answer.status == "key_revoked":
        raise NotAuthorizedException("Unknown or revoked API key")
    if answer.status == "budget_exhausted":
        budget.admit(None, answer.budget_level)  # raises the 429
    if answer.budget_charged is not None:
        request.scope["state"][RATE_LIMIT_HEADERS] = budget.admit(answer.budget_charged, None)
    if answer.status == "idempotency_key_in_use":
        raise in_use()
    if answer.status == "idempotency_key_reused":
        raise reused(answer.why or "was used for another request")
    if answer.status == "replayed":
        return answer.response
    return None
