"""Share codes and a member's coupons. Claiming a coupon is the hot route's single statement
(solomo/coupons/claim_request.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from litestar.status_codes import HTTP_403_FORBIDDEN
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.principal import Principal
from solomo.coupons import codes
from solomo.coupons.rendering import COUPON_WITH_LIVE_REDEMPTION, coupon_with_live
from solomo.coupons.schemas import CouponPage, CouponStatus, ShareOut
from solomo.errors import ApiError, not_found
from solomo.pagination import keyset_after, split_page

_OFFER_FOR_SHARE = text(
    "SELECT shareable, active FROM offers WHERE brand_id = :brand_id AND id = :offer_id",
)
# A member has one share code per offer (the first one made); two made at once are both valid.
_SHARE = text(
    """
    WITH existing AS (
        SELECT code, created_at FROM offer_shares
        WHERE brand_id = :brand_id AND offer_id = :offer_id AND member_id = :member_id AND revoked_at IS NULL
        ORDER BY created_at, id
        LIMIT 1
    ),
    made AS (
        INSERT INTO offer_shares (brand_id, offer_id, member_id, code)
        SELECT :brand_id, :offer_id, :member_id, :code
        WHERE NOT EXISTS (SELECT 1 FROM existing)
        RETURNING code, created_at, offer_id, member_id
    ),
    journaled AS (
        INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, offer_id, member_id, referrer_id)
        SELECT :brand_id, 'share', 1, m.created_at, false, '{}', m.offer_id, m.member_id, m.member_id FROM made m
    )
    SELECT code, created_at FROM existing UNION ALL SELECT code, created_at FROM made
    """
)

_STATUS_SQL: dict[str, str] = {
    "redeemed": "r.id IS NOT NULL",
    "cancelled": "r.id IS NULL AND c.cancelled_at IS NOT NULL",
    "expired": "r.id IS NULL AND c.cancelled_at IS NULL AND c.expires_at <= now()",
    "active": "r.id IS NULL AND c.cancelled_at IS NULL AND c.expires_at > now()",
}


class ClaimService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.brand_id = principal.brand_id

    def _member(self) -> uuid.UUID:
        assert self.principal.member_id is not None  # member-token routes only
        return self.principal.member_id

    async def share(self, offer_id: uuid.UUID) -> ShareOut:
        offer = (
            await self.session.execute(_OFFER_FOR_SHARE, {"brand_id": self.brand_id, "offer_id": offer_id})
        ).first()
        if offer is None:
            raise not_found("offer")
        if not offer.shareable or not offer.active:
            raise ApiError(HTTP_403_FORBIDDEN, "not_shareable", "This offer cannot be shared")
        params = {
            "brand_id": self.brand_id,
            "offer_id": offer_id,
            "member_id": self._member(),
            "code": codes.new_share_code(),
        }
        row = (await self.session.execute(_SHARE, params)).first()
        assert row is not None
        return ShareOut(offer_id=offer_id, code=row.code, created_at=row.created_at)

    async def page(
        self, member_id: uuid.UUID, *, status: CouponStatus | None, limit: int, cursor: str | None
    ) -> CouponPage:
        where = ["c.brand_id = :brand_id", "c.member_id = :member_id"]
        params: dict[str, object] = {"brand_id": self.brand_id, "member_id": member_id, "limit": limit + 1}
        if status is not None:
            where.append(_STATUS_SQL[status])
        where += keyset_after(cursor, "c.claimed_at, c.id", params)
        query = text(
            f"{COUPON_WITH_LIVE_REDEMPTION} WHERE {' AND '.join(where)}"
            " ORDER BY c.claimed_at DESC, c.id DESC LIMIT :limit"
        )
        rows = (await self.session.execute(query, params)).all()
        page, next_cursor = split_page(rows, limit, at=lambda r: r.claimed_at)
        now = datetime.now(UTC)
        return CouponPage(items=[coupon_with_live(dict(r._mapping), now) for r in page], next_cursor=next_cursor)
