"""Offers near a point, for browsing: counted as impressions, granting nothing."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.principal import Principal
from solomo.offers.schemas import CouponTerms, NearbyOffer, NearbyOffers

MAX_RADIUS_M = 50_000.0
#: Stores looked at, nearest first: enough for a screen of offers, bounded so a dense city stays cheap.
_STORES_SCANNED = 200

# The point is written out where it is used (not joined in from a CTE) so the KNN ORDER BY can use the
# (brand_id, location) index.
_POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography"
_NEARBY = text(
    f"""
    WITH near AS (
        SELECT s.id, s.name, s.timezone, ST_Distance(s.location, {_POINT}) AS distance_m
        FROM stores s
        WHERE s.brand_id = :brand_id AND s.archived_at IS NULL AND ST_DWithin(s.location, {_POINT}, :radius_m)
        ORDER BY s.location <-> {_POINT}
        LIMIT {_STORES_SCANNED}
    ),
    matched AS (
        SELECT DISTINCT ON (o.id) o.id AS offer_id, o.title, o.description, o.coupon_kind, o.percent_off,
               o.amount_off, o.currency, o.free_item, o.validity_minutes, o.redeemable_at, o.requires_visit,
               near.id AS store_id, near.name AS store_name, near.distance_m
        FROM near
        JOIN members m ON m.id = :member_id AND m.brand_id = :brand_id
        JOIN offers o ON o.brand_id = :brand_id AND o.active
        JOIN campaigns c ON c.brand_id = :brand_id AND c.id = o.campaign_id AND c.status = 'active'
                        AND now() >= c.starts_at AND now() < c.ends_at
        WHERE (o.target = 'all_stores'
               OR (o.target = 'stores' AND near.id = ANY(o.store_ids))
               OR (o.target = 'geofences' AND EXISTS (
                      SELECT 1 FROM geofences g
                      WHERE g.brand_id = :brand_id AND g.store_id = near.id AND g.active
                        AND g.id = ANY(o.geofence_ids))))
          AND solomo_offer_admits(o.audience_tags, o.audience_tiers, o.audience_provider, o.min_followers,
                                  o.joined_within_days, o.weekly_hours, m.brand_id, m.id, m.tags, m.tier,
                                  m.joined_at, m.consent_marketing, now(), near.timezone)
        ORDER BY o.id, near.distance_m
    ),
    listed AS (
        SELECT * FROM matched ORDER BY distance_m, offer_id LIMIT :limit
    ),
    shown AS (
        INSERT INTO offer_impressions (brand_id, member_id, offer_id, day, source, shown_at, store_id)
        SELECT :brand_id, :member_id, l.offer_id,
               (now() AT TIME ZONE (SELECT b.timezone FROM brands b WHERE b.id = :brand_id))::date, 'nearby', now(),
               l.store_id
        FROM listed l
        ON CONFLICT (brand_id, member_id, offer_id, day) DO NOTHING
        RETURNING offer_id, store_id, shown_at
    ),
    journaled AS (
        INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, offer_id, member_id)
        SELECT :brand_id, 'impression', 1, s.shown_at, true, ARRAY[s.store_id], s.offer_id, :member_id FROM shown s
    )
    SELECT * FROM listed ORDER BY distance_m, offer_id
    """
)


def _nearby_offer(row: Any) -> NearbyOffer:
    return NearbyOffer(
        offer_id=row.offer_id,
        title=row.title,
        description=row.description,
        coupon=CouponTerms(
            kind=row.coupon_kind,
            validity_minutes=row.validity_minutes,
            percent_off=float(row.percent_off) if row.percent_off is not None else None,
            amount_off=float(row.amount_off) if row.amount_off is not None else None,
            currency=row.currency,
            free_item=row.free_item,
            redeemable_at=row.redeemable_at,
            requires_visit=row.requires_visit,
        ),
        store_id=row.store_id,
        store_name=row.store_name,
        distance_m=row.distance_m,
    )


async def nearby_offers(
    session: AsyncSession, principal: Principal, *, lon: float, lat: float, radius_m: float, limit: int
) -> NearbyOffers:
    member_id: uuid.UUID | None = principal.member_id
    assert member_id is not None  # member tokens only
    rows = await session.execute(
        _NEARBY,
        {
            "brand_id": principal.brand_id,
            "member_id": member_id,
            "lon": lon,
            "lat": lat,
            "radius_m": radius_m,
            "limit": limit,
        },
    )
    return NearbyOffers(items=[_nearby_offer(r) for r in rows])
