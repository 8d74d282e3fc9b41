"""POST /v1/redemptions: one statement, ``solomo_redeem_request`` (solomo/coupons/sql/redeem_request.sql), which checks
the API key (revocation, role, stores), the request budget, the Idempotency-Key and the throttle on failed codes,
and redeems (``solomo_redeem_coupon``, which locks the coupon row). Python finds the key's brand (the route's
guard), reads the code, and maps refusals to problems."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Request, Response
from litestar.status_codes import HTTP_201_CREATED, HTTP_404_NOT_FOUND, HTTP_409_CONFLICT, HTTP_410_GONE

from solomo.auth.principal import Principal, Role
from solomo.coupons import codes
from solomo.coupons.rendering import CouponRow, RedemptionRow, coupon_out, redemption_out
from solomo.coupons.schemas import RedemptionIn, RedemptionOut
from solomo.coupons.throttle import THROTTLE_PARAMS, refuse_if_throttled
from solomo.errors import ApiError, forbidden, invalid
from solomo.hot.callers import HotRoutes, key_of
from solomo.hot.envelope import REPLAYED, Envelope, idempotency_of, settle

_REQUEST = "SELECT solomo_redeem_request($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"


class _Answer(Envelope, kw_only=True):
    status: Literal[
        "redeemed",
        "unknown_code",
        "store_not_found",
        "store_archived",
        "already_redeemed",
        "cancelled",
        "expired",
        "wrong_store",
        "visit_required",
        "too_many_failed_codes",
        "code_mistyped",
        "store_out_of_scope",
        "role_not_allowed",
        "key_revoked",
        "budget_exhausted",
        "idempotency_key_in_use",
        "idempotency_key_reused",
        "replayed",
    ]
    role: Literal["admin", "manager", "marketer"] | None = None
    redemption: RedemptionRow | None = None
    coupon: CouponRow | None = None
    expires_at: datetime | None = None
    throttle_level: float | None = None


_ANSWER = msgspec.json.Decoder(_Answer)


async def redeem_coupon(
    request: Request[Any, Any, Any], hot: HotRoutes, data: RedemptionIn, key: str | None
) -> Response[RedemptionOut]:
    caller = key_of(request)
    code = codes.normalize(data.code)
    idempotency_key, fingerprint = await idempotency_of(request, key)
    budget = hot.key_budget
    raw = await hot.pool.value(
        _REQUEST,
        caller.brand_id,
        caller.key_id,
        caller.secret_hash,
        budget.burst,
        budget.per_second,
        idempotency_key,
        fingerprint,
        THROTTLE_PARAMS["drain"],
        THROTTLE_PARAMS["last_allowed"],
        code,
        not codes.is_well_formed(code),
        data.store_id,
        data.order_amount,
    )
    answer = _ANSWER.decode(raw)
    if answer.role is not None:  # who called, for the request log
        request.scope["user"] = Principal(brand_id=caller.brand_id, role=Role(answer.role), key_id=caller.key_id)
    stored = settle(request, answer, budget)
    if stored is not None:
        return Response(_redemption(_ANSWER.decode(stored)), status_code=HTTP_201_CREATED, headers=REPLAYED)
    return Response(_redemption(answer), status_code=HTTP_201_CREATED)


def _redemption(answer: _Answer) -> RedemptionOut:
    if answer.status == "redeemed" and answer.redemption is not None and answer.coupon is not None:
        # As of the redemption, so that a replay of this answer says the same, however late it comes.
        coupon = coupon_out(answer.coupon, answer.redemption, answer.redemption.redeemed_at)
        return redemption_out(answer.redemption, coupon)
    raise _refusal(answer)


def _refusal(answer: _Answer) -> ApiError:
    match answer.status:
        case "too_many_failed_codes":
            refuse_if_throttled(answer.throttle_level)  # raises the 429
        case "code_mistyped":
            return invalid("code", "not a valid coupon code: check it for typos", source="body", code="code_mistyped")
        case "role_not_allowed":
            return forbidden("This route needs one of the roles: admin, manager", code="role_not_allowed")
        case "store_out_of_scope":
            return forbidden("This key may not act for that store", code="store_out_of_scope")
        case "unknown_code":
            return ApiError(HTTP_404_NOT_FOUND, "not_found", "coupon not found")
        case "store_not_found":
            return invalid("store_id", "no such store in this brand")
        case "store_archived":
            return invalid("store_id", "the store is archived", code="store_archived")
        case "already_redeemed":
            live = answer.redemption
            assert live is not None
            return ApiError(
                HTTP_409_CONFLICT,
                "already_redeemed",
                f"This coupon was redeemed at {live.redeemed_at.isoformat()}",
                extra={"redemption_id": live.id, "redeemed_at": live.redeemed_at, "store_id": live.store_id},
            )
        case "cancelled":
            return ApiError(HTTP_410_GONE, "coupon_cancelled", "This coupon has been cancelled")
        case "expired":
            return ApiError(
                HTTP_410_GONE, "expired", "This coupon has expired", extra={"expires_at": answer.expires_at}
            )
        case "wrong_store":
            return forbidden("This coupon is not redeemable at this store", code="wrong_store")
        case "visit_required":
            return forbidden(
                "This coupon needs a verified check-in at this store in the last 60 minutes", code="visit_required"
            )
    raise AssertionError(f"unexpected redemption answer {answer.status}")
