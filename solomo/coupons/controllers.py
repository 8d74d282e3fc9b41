from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import ADMIN, MANAGERS, MEMBER
from solomo.auth.middleware import principal_of
from solomo.coupons.claim_request import claim_offer
from solomo.coupons.claims import ClaimService
from solomo.coupons.redeem_request import redeem_coupon
from solomo.coupons.schemas import (
    ClaimIn,
    CouponOut,
    CouponPage,
    CouponStatus,
    RedemptionIn,
    RedemptionOut,
    ShareOut,
    TypedCode,
    VoidIn,
)
from solomo.coupons.throttle import CodeGuard
from solomo.coupons.till import TillService
from solomo.hot.callers import HOT_ROUTE, HotRoutes, api_key, member_token
from solomo.idempotency import IdempotencyKeyHeader, run_once
from solomo.members.service import MemberService
from solomo.openapi_contract import problems
from solomo.pagination import Cursor, Limit

StatusFilter = Annotated[CouponStatus | None, Parameter(description="Only coupons in this status.")]


class ClaimController(Controller):
    path = "/v1"
    tags = ["Coupons"]

    @post(
        "/offers/{offer_id:uuid}/claims",
        before_request=member_token,
        status_code=HTTP_201_CREATED,
        summary="Claim a coupon from an offer the member may claim (after a check-in, or with a share code)",
        opt=HOT_ROUTE
        | problems({403: ["member_token_required", "not_eligible"], 409: ["member_limit", "offer_exhausted"]}),
    )
    async def claim(
        self,
        request: Request[Any, Any, Any],
        hot: NamedDependency[HotRoutes],
        offer_id: FromPath[uuid.UUID],
        data: JSONBody[ClaimIn | None] = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[CouponOut]:
        share_code = data.share_code if data is not None else None
        return await claim_offer(request, hot, offer_id, share_code, idempotency_key)

    @post(
        "/offers/{offer_id:uuid}/shares",
        guards=[MEMBER],
        status_code=HTTP_201_CREATED,
        summary="The member's share code for a shareable offer (the same code every time)",
        opt=problems({403: ["not_shareable"]}),
    )
    async def share(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], offer_id: FromPath[uuid.UUID]
    ) -> ShareOut:
        return await ClaimService(db_session, principal_of(request)).share(offer_id)

    @get("/members/me/coupons", guards=[MEMBER], summary="The member's own coupons, newest first")
    async def my_coupons(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        status: StatusFilter = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> CouponPage:
        principal = principal_of(request)
        assert principal.member_id is not None
        service = ClaimService(db_session, principal)
        return await service.page(principal.member_id, status=status, limit=limit, cursor=cursor)

    @get("/members/{member_id:uuid}/coupons", guards=[ADMIN], summary="A member's coupons, newest first")
    async def member_coupons(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[uuid.UUID],
        status: StatusFilter = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> CouponPage:
        principal = principal_of(request)
        await MemberService(db_session, principal).get(member_id)  # 404 for unknown, merged or erased
        return await ClaimService(db_session, principal).page(member_id, status=status, limit=limit, cursor=cursor)


class TillController(Controller):
    path = "/v1"
    tags = ["Redemptions"]
    guards = [MANAGERS]

    @get(
        "/coupons/{code:str}",
        summary="Look a coupon up at the till: offer, terms, status, expiry (failed look-ups are throttled)",
        opt=problems({403: ["wrong_store"], 429: ["too_many_failed_codes"]}),
    )
    async def lookup(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        code_guard: NamedDependency[CodeGuard],
        code: Annotated[TypedCode, Parameter(description="The code as printed or typed, or the QR payload.")],
    ) -> CouponOut:
        return await TillService(db_session, principal_of(request), code_guard).lookup(code)

    @get(
        "/redemptions/{redemption_id:uuid}",
        summary="One redemption, with its coupon",
        opt=problems({403: ["store_out_of_scope"]}),
    )
    async def get_redemption(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        code_guard: NamedDependency[CodeGuard],
        redemption_id: FromPath[uuid.UUID],
    ) -> RedemptionOut:
        return await TillService(db_session, principal_of(request), code_guard).get(redemption_id)

    @post(
        "/redemptions/{redemption_id:uuid}/void",
        status_code=HTTP_200_OK,
        summary="Void a redemption within 24 hours (same store or admin): the coupon can be redeemed again",
        opt=problems({403: ["store_out_of_scope"], 409: ["already_voided", "void_window_passed"]}),
    )
    async def void(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        code_guard: NamedDependency[CodeGuard],
        redemption_id: FromPath[uuid.UUID],
        data: JSONBody[VoidIn | None] = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[RedemptionOut]:
        principal = principal_of(request)
        service = TillService(db_session, principal, code_guard)
        reason = data.reason if data is not None else None
        return await run_once(
            request, db_session, principal, idempotency_key, HTTP_200_OK, lambda: service.void(redemption_id, reason)
        )


class RedeemController(Controller):
    """Redeeming: a hot route, authenticated by its guard and its one statement (no controller-wide guard)."""

    path = "/v1"
    tags = ["Redemptions"]

    @post(
        "/redemptions",
        before_request=api_key,
        status_code=HTTP_201_CREATED,
        summary="Redeem a coupon at a store (once, however many tills scan it)",
        opt=HOT_ROUTE
        | problems(
            {
                403: ["api_key_required", "role_not_allowed", "store_out_of_scope", "wrong_store", "visit_required"],
                404: ["not_found", "store_not_found"],
                409: ["already_redeemed", "store_archived"],
                410: ["coupon_cancelled", "expired"],
                422: ["code_mistyped"],
                429: ["too_many_failed_codes"],
            }
        ),
    )
    async def redeem(
        self,
        request: Request[Any, Any, Any],
        hot: NamedDependency[HotRoutes],
        data: JSONBody[RedemptionIn],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[RedemptionOut]:
        return await redeem_coupon(request, hot, data, idempotency_key)
