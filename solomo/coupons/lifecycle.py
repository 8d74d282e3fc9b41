"""What other domains' changes do to coupons: member merge, export and erasure, store archival.

Coupons and redemptions are the record behind stats: erasure keeps them on the anonymous tombstone but
cancels the coupons still open and revokes the member's share codes. Merging moves everything to the
survivor and adds the claim counters together, so per-member limits still count the merged claims.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.coupons.rendering import COUPON_WITH_LIVE_REDEMPTION, coupon_with_live
from solomo.coupons.schemas import CouponOut, ShareOut
from solomo.db.sql import sql_with_uuids

_MERGE = [
    text("UPDATE coupons SET member_id = :survivor WHERE brand_id = :brand_id AND member_id = :merged"),
    text("UPDATE coupons SET referrer_id = :survivor WHERE brand_id = :brand_id AND referrer_id = :merged"),
    text("UPDATE offer_shares SET member_id = :survivor WHERE brand_id = :brand_id AND member_id = :merged"),
    text(
        """
        INSERT INTO member_offer_claims AS s (brand_id, member_id, offer_id, claimed, day, day_claimed)
        SELECT brand_id, :survivor, offer_id, claimed, day, day_claimed
          FROM member_offer_claims WHERE brand_id = :brand_id AND member_id = :merged
        ON CONFLICT (brand_id, member_id, offer_id) DO UPDATE
           SET claimed = s.claimed + excluded.claimed,
               day = greatest(s.day, excluded.day),
               day_claimed = CASE WHEN s.day = excluded.day THEN s.day_claimed + excluded.day_claimed
                                  WHEN s.day > excluded.day THEN s.day_claimed
                                  ELSE excluded.day_claimed END
        """
    ),
    text("DELETE FROM member_offer_claims WHERE brand_id = :brand_id AND member_id = :merged"),
]


_ERASE = [
    sql_with_uuids(
        """
        UPDATE coupons c SET cancelled_at = now()
         WHERE c.brand_id = :brand_id AND c.member_id = ANY(:ids) AND c.cancelled_at IS NULL
           AND c.expires_at > now()
           AND NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.coupon_id = c.id AND r.voided_at IS NULL)
        """,
        "ids",
    ),
    sql_with_uuids(
        "UPDATE offer_shares SET revoked_at = now()"
        " WHERE brand_id = :brand_id AND member_id = ANY(:ids) AND revoked_at IS NULL",
        "ids",
    ),
    sql_with_uuids("DELETE FROM member_offer_claims WHERE brand_id = :brand_id AND member_id = ANY(:ids)", "ids"),
]
_MEMBER_COUPONS = text(
    f"{COUPON_WITH_LIVE_REDEMPTION} WHERE c.brand_id = :brand_id AND c.member_id = :member_id"
    " ORDER BY c.claimed_at, c.id"
)
_MEMBER_SHARES = text(
    "SELECT offer_id, code, created_at FROM offer_shares"
    " WHERE brand_id = :brand_id AND member_id = :member_id AND revoked_at IS NULL ORDER BY created_at, id"
)
_STORE_HAS_REDEMPTIONS = text(
    "SELECT EXISTS (SELECT 1 FROM redemptions WHERE brand_id = :brand_id AND store_id = :store_id)"
)


async def merge_member_coupons(
    session: AsyncSession, brand_id: uuid.UUID, survivor: uuid.UUID, merged: uuid.UUID
) -> None:
    for statement in _MERGE:
        await session.execute(statement, {"brand_id": brand_id, "survivor": survivor, "merged": merged})


async def erase_member_coupons(session: AsyncSession, brand_id: uuid.UUID, member_ids: Sequence[uuid.UUID]) -> None:
    for statement in _ERASE:
        await session.execute(statement, {"brand_id": brand_id, "ids": list(member_ids)})


async def export_member_coupons(
    session: AsyncSession, brand_id: uuid.UUID, member_id: uuid.UUID
) -> tuple[list[CouponOut], list[ShareOut]]:
    params = {"brand_id": brand_id, "member_id": member_id}
    now = datetime.now(UTC)
    coupons = [coupon_with_live(dict(r), now) for r in (await session.execute(_MEMBER_COUPONS, params)).mappings()]
    shares = [ShareOut(r.offer_id, r.code, r.created_at) for r in await session.execute(_MEMBER_SHARES, params)]
    return coupons, shares


async def store_has_redemptions(session: AsyncSession, brand_id: uuid.UUID, store_id: uuid.UUID) -> bool:
    """Redemptions at a store are history: such a store is archived, never deleted."""
    return bool(await session.scalar(_STORE_HAS_REDEMPTIONS, {"brand_id": brand_id, "store_id": store_id}))
