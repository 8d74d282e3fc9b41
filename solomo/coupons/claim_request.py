"""POST /v1/offers/{id}/claims: one statement, ``solomo_claim_request`` (solomo/coupons/sql/claim_request.sql), which
authenticates the member's token version, charges the budget, keeps the Idempotency-Key and claims
(``solomo_claim_offer``, which decides eligibility and every limit under row locks). Python picks the code, checks
the token (the route's guard) and the share code's form, and maps refusals to problems."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec
from litestar import Request, Response
from litestar.status_codes import HTTP_201_CREATED, HTTP_403_FORBIDDEN, HTTP_409_CONFLICT

from solomo.coupons import codes
from solomo.coupons.rendering import CouponRow, coupon_out
from solomo.coupons.schemas import CouponOut
from solomo.errors import ApiError, invalid, not_found
from solomo.hot.callers import HotRoutes, member_of
from solomo.hot.envelope import REPLAYED, Envelope, idempotency_of, settle

_REQUEST = "SELECT solomo_claim_request($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"


class _Answer(Envelope, kw_only=True):
    status: Literal[
        "claimed",
        "offer_not_found",
        "not_eligible",
        "share_code_invalid",
        "own_share_code",
        "member_limit",
        "offer_exhausted",
        "token_revoked",
        "budget_exhausted",
        "idempotency_key_in_use",
        "idempotency_key_reused",
        "replayed",
    ]
    coupon: CouponRow | None = None
    reason: str | None = None
    limit: Literal["per_member", "per_member_per_day"] | None = None
    claimed: int | None = None
    retry_after: int | None = None


_ANSWER = msgspec.json.Decoder(_Answer)


async def claim_offer(
    request: Request[Any, Any, Any], hot: HotRoutes, offer_id: uuid.UUID, share_code: str | None, key: str | None
) -> Response[CouponOut]:
    claims = member_of(request)
    shared = codes.normalize(share_code) if share_code is not None else None
    idempotency_key, fingerprint = await idempotency_of(request, key)
    budget = hot.member_budget
    raw = await hot.pool.value(
        _REQUEST,
        claims.brand_id,
        claims.member_id,
        claims.version,
        budget.burst,
        budget.per_second,
        idempotency_key,
        fingerprint,
        offer_id,
        shared,
        codes.new_coupon_code(),
    )
    answer = _ANSWER.decode(raw)
    stored = settle(request, answer, budget)
    if stored is not None:
        return Response(_coupon(_ANSWER.decode(stored)), status_code=HTTP_201_CREATED, headers=REPLAYED)
    return Response(_coupon(answer), status_code=HTTP_201_CREATED)


def _coupon(answer: _Answer) -> CouponOut:
    if answer.status == "claimed" and answer.coupon is not None:
        # Its status as of the claim, so that a replay of this answer says the same, however late it comes.
        return coupon_out(answer.coupon, None, answer.coupon.claimed_at)
    raise _refusal(answer)


def _refusal(answer: _Answer) -> ApiError:
    match answer.status:
        case "offer_not_found":
            return not_found("offer")
        case "not_eligible":
            return ApiError(HTTP_403_FORBIDDEN, "not_eligible", f"Not claimable: {answer.reason}")
        case "share_code_invalid":
            return invalid("share_code", "not a share code of this offer (or the offer is no longer shareable)")
        case "own_share_code":
            return invalid("share_code", "a member cannot claim through their own share code", code="own_share_code")
        case "member_limit":
            per_day = answer.limit == "per_member_per_day"
            headers = {"Retry-After": str(answer.retry_after)} if per_day and answer.retry_after else None
            return ApiError(
                HTTP_409_CONFLICT,
                "member_limit",
                f"This member has claimed this offer {answer.claimed} time(s)"
                + (" today, the most allowed per day" if per_day else ", the most allowed"),
                headers=headers,
                extra={"limit": answer.limit},
            )
        case "offer_exhausted":
            return ApiError(HTTP_409_CONFLICT, "offer_exhausted", "Every coupon of this offer has been claimed")
    raise AssertionError(f"unexpected claim answer {answer.status}")
