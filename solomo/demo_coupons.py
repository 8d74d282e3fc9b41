"""Demo coupons: a month of claims, shares, redemptions and a few voids across the demo's stores.

Generated with a fixed seed in Python (limits respected as the claim function would), inserted with a
few set-based statements, then the claim counters and capacity slots are set from the coupons, so the
demo's limits hold exactly as if every claim had gone through the API. Skipped when the brand has coupons.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.coupons import codes
from solomo.coupons.capacity import SLOTS
from solomo.db.sql import sql_with_uuids

DEMO_CLAIMS = 2500
DAYS = 30
REDEEMED_SHARE = 0.45
VOIDED_SHARE = 0.03
Columns = dict[str, list[Any]]

_OFFERS = text(
    """
    SELECT id, title, coupon_kind, percent_off, amount_off, currency, free_item, redeemable_at, requires_visit,
           validity_minutes, total_limit, per_member_limit, per_member_daily_limit, shareable
    FROM offers WHERE brand_id = :brand_id AND active ORDER BY created_at, id
    """
)
_MEMBERS = text(
    "SELECT id FROM members WHERE brand_id = :brand_id AND consent_marketing AND merged_into_id IS NULL"
    " AND erased_at IS NULL ORDER BY external_id LIMIT 1500"
)
_KOLS = text(
    """
    SELECT m.id FROM members m
    WHERE m.brand_id = :brand_id AND m.consent_marketing
      AND EXISTS (SELECT 1 FROM member_social_accounts a WHERE a.member_id = m.id AND a.followers >= 10000)
    ORDER BY m.external_id LIMIT 12
    """
)
_STORES = text("SELECT id FROM stores WHERE brand_id = :brand_id AND archived_at IS NULL ORDER BY external_ref, id")
_ADMIN_KEY = text("SELECT id FROM api_keys WHERE brand_id = :brand_id AND role = 'admin' ORDER BY created_at LIMIT 1")


_INSERT_SHARES = sql_with_uuids(
    """
    INSERT INTO offer_shares (id, brand_id, offer_id, member_id, code, created_at)
    SELECT u.id, :brand_id, u.offer_id, u.member_id, u.code, u.at
    FROM unnest(CAST(:ids AS uuid[]), CAST(:offers AS uuid[]), CAST(:members AS uuid[]), CAST(:codes AS text[]),
                CAST(:ats AS timestamptz[])) AS u(id, offer_id, member_id, code, at)
    """,
    "ids",
    "offers",
    "members",
)
_INSERT_COUPONS = sql_with_uuids(
    """
    INSERT INTO coupons (id, brand_id, offer_id, member_id, code, title, coupon_kind, percent_off, amount_off,
                         currency, free_item, redeemable_at, requires_visit, claimed_at, claim_day, expires_at,
                         store_id, share_id, referrer_id)
    SELECT u.id, :brand_id, o.id, u.member_id, u.code, o.title, o.coupon_kind, o.percent_off, o.amount_off,
           o.currency, o.free_item, o.redeemable_at, o.requires_visit, u.at, u.day,
           u.at + make_interval(mins => o.validity_minutes), u.store_id, u.share_id, u.referrer_id
    FROM unnest(CAST(:ids AS uuid[]), CAST(:offers AS uuid[]), CAST(:members AS uuid[]), CAST(:codes AS text[]),
                CAST(:ats AS timestamptz[]), CAST(:days AS date[]), CAST(:stores AS uuid[]),
                CAST(:shares AS uuid[]), CAST(:referrers AS uuid[]))
         AS u(id, offer_id, member_id, code, at, day, store_id, share_id, referrer_id)
    JOIN offers o ON o.id = u.offer_id
    """,
    "ids",
    "offers",
    "members",
    "stores",
    "shares",
    "referrers",
)
_INSERT_REDEMPTIONS = sql_with_uuids(
    """
    WITH made AS (
        INSERT INTO redemptions (brand_id, coupon_id, store_id, key_id, redeemed_at, order_amount, voided_at,
                                 voided_by_key_id, void_reason)
        SELECT :brand_id, u.coupon_id, u.store_id, :key_id, u.at, u.amount, u.voided_at,
               CASE WHEN u.voided_at IS NOT NULL THEN CAST(:key_id AS uuid) END,
               CASE WHEN u.voided_at IS NOT NULL THEN 'demo: rung up by mistake' END
        FROM unnest(CAST(:coupons AS uuid[]), CAST(:stores AS uuid[]), CAST(:ats AS timestamptz[]),
                    CAST(:amounts AS numeric[]), CAST(:voided AS timestamptz[]))
             AS u(coupon_id, store_id, at, amount, voided_at)
        RETURNING *
    )
    INSERT INTO coupon_audit (brand_id, coupon_id, redemption_id, action, store_id, key_id, role, at)
    SELECT brand_id, coupon_id, id, 'redeem', store_id, key_id, 'admin', redeemed_at FROM made
    UNION ALL
    SELECT brand_id, coupon_id, id, 'void', store_id, key_id, 'admin', voided_at FROM made WHERE voided_at IS NOT NULL
    """,
    "coupons",
    "stores",
)
#: Impressions behind the claims (and as many again that were not claimed), so claim rates mean something.
_INSERT_IMPRESSIONS = text(
    """
    INSERT INTO offer_impressions (brand_id, member_id, offer_id, day, source, shown_at, store_id)
    SELECT brand_id, member_id, offer_id, claim_day, 'checkin', claimed_at - interval '2 minutes', store_id
    FROM coupons WHERE brand_id = :brand_id
    UNION ALL
    SELECT c.brand_id, c.member_id, o.id, c.claim_day, 'nearby', c.claimed_at - interval '1 minute', c.store_id
    FROM coupons c JOIN offers o ON o.brand_id = c.brand_id AND o.id <> c.offer_id
    WHERE c.brand_id = :brand_id AND get_byte(uuid_send(c.id), 0) < 128
    ON CONFLICT DO NOTHING
    """
)
_SET_CLAIM_COUNTERS = text(
    """
    INSERT INTO member_offer_claims (brand_id, member_id, offer_id, claimed, day, day_claimed)
    SELECT brand_id, member_id, offer_id, count(*), max(claim_day),
           count(*) FILTER (WHERE claim_day = (SELECT max(c2.claim_day) FROM coupons c2
                                               WHERE c2.member_id = c.member_id AND c2.offer_id = c.offer_id))
    FROM coupons c WHERE brand_id = :brand_id
    GROUP BY brand_id, member_id, offer_id
    """
)
_SET_CAPACITY = text(
    """
    UPDATE offer_capacity s
       SET used = n.issued / :slots + CASE WHEN s.slot < n.issued % :slots THEN 1 ELSE 0 END
      FROM (SELECT offer_id, count(*) AS issued FROM coupons WHERE brand_id = :brand_id GROUP BY offer_id) AS n
     WHERE s.offer_id = n.offer_id
    """
)


def _ids(rows: Any) -> list[uuid.UUID]:
    return [r[0] for r in rows]


async def load_demo_coupons(session: AsyncSession, brand_id: uuid.UUID, timezone: str) -> None:
    params = {"brand_id": brand_id}
    if await session.scalar(text("SELECT EXISTS (SELECT 1 FROM coupons WHERE brand_id = :brand_id)"), params):
        return
    offers = [dict(o) for o in (await session.execute(_OFFERS, params)).mappings()]
    members = _ids(await session.execute(_MEMBERS, params))
    kols = _ids(await session.execute(_KOLS, params))
    stores = _ids(await session.execute(_STORES, params))
    key_id = await session.scalar(_ADMIN_KEY, params)
    if not offers or not members or not stores or key_id is None:
        return
    share_rows, coupons, redemptions = _generate(offers, members, kols, stores, ZoneInfo(timezone))
    await session.execute(_INSERT_SHARES, params | share_rows)
    await session.execute(_INSERT_COUPONS, params | coupons)
    await session.execute(_INSERT_REDEMPTIONS, params | redemptions | {"key_id": key_id})
    await session.execute(_INSERT_IMPRESSIONS, params)
    await session.execute(_SET_CLAIM_COUNTERS, params)
    await session.execute(_SET_CAPACITY, params | {"slots": SLOTS})


def _generate(
    offers: Sequence[Mapping[str, Any]],
    members: list[uuid.UUID],
    kols: list[uuid.UUID],
    stores: list[uuid.UUID],
    zone: ZoneInfo,
) -> tuple[Columns, Columns, Columns]:
    """Shares, coupons and redemptions as columns for ``unnest``, within every limit of every offer."""
    rng = random.Random(20261123)  # noqa: S311 - demo data, not secrets
    now = datetime.now(UTC).replace(microsecond=0)

    shares = {(offer["id"], kol): uuid.uuid4() for offer in offers if offer["shareable"] for kol in kols}
    # Friends claim with a share only inside the stats' default range (the last 30 brand-local days), so that
    # the share itself, made shortly before its first claim, is counted on the KOL board the demo shows.
    referred_from = now - timedelta(days=DAYS - 2)
    first_claim: dict[uuid.UUID, datetime] = {}

    issued: Counter[uuid.UUID] = Counter()
    per_member: Counter[tuple[uuid.UUID, uuid.UUID]] = Counter()
    per_day: Counter[tuple[uuid.UUID, uuid.UUID, date]] = Counter()
    coupons: Columns = {
        k: [] for k in ("ids", "offers", "members", "codes", "ats", "days", "stores", "shares", "referrers")
    }
    redemptions: Columns = {k: [] for k in ("coupons", "stores", "ats", "amounts", "voided")}
    weights = [6, 2, 2, 3][: len(offers)] + [1] * max(0, len(offers) - 4)
    for _ in range(DEMO_CLAIMS):
        offer = rng.choices(offers, weights=weights)[0]
        member = rng.choice(members)
        at = now - timedelta(seconds=rng.randrange(60, DAYS * 86400))
        day = at.astimezone(zone).date()
        key, day_key = (member, offer["id"]), (member, offer["id"], day)
        if (
            (offer["total_limit"] is not None and issued[offer["id"]] >= offer["total_limit"])
            or (offer["per_member_limit"] is not None and per_member[key] >= offer["per_member_limit"])
            or (offer["per_member_daily_limit"] is not None and per_day[day_key] >= offer["per_member_daily_limit"])
        ):
            continue
        referrer = rng.choice(kols) if offer["shareable"] and kols and rng.random() < 0.6 else None
        if referrer == member or at < referred_from:
            referrer = None
        issued[offer["id"]] += 1
        per_member[key] += 1
        per_day[day_key] += 1
        coupon_id = uuid.uuid4()
        store = rng.choice(stores)
        share = shares.get((offer["id"], referrer)) if referrer else None
        if share is not None:
            first_claim[share] = min(at, first_claim.get(share, at))
        row = (coupon_id, offer["id"], member, codes.new_coupon_code(), at, day, store, share, referrer)
        for column, value in zip(coupons, row, strict=True):
            coupons[column].append(value)
        expires = at + timedelta(minutes=offer["validity_minutes"])
        if rng.random() < REDEEMED_SHARE:
            window = min(offer["validity_minutes"] * 60, 3 * 86400)
            redeemed = at + timedelta(seconds=rng.randrange(60, max(120, int(window * 0.9))))
            if redeemed < min(expires, now):
                voided = redeemed + timedelta(minutes=10) if rng.random() < VOIDED_SHARE else None
                amount = round(rng.uniform(18, 120), 2)
                for column, value in zip(redemptions, (coupon_id, store, redeemed, amount, voided), strict=True):
                    redemptions[column].append(value)

    share_rows: Columns = {k: [] for k in ("ids", "offers", "members", "codes", "ats")}
    for (offer_id, kol), share_id in shares.items():
        unused = now - timedelta(seconds=rng.randrange(3600, (DAYS - 2) * 86400))
        made = first_claim[share_id] - timedelta(minutes=rng.randrange(5, 180)) if share_id in first_claim else unused
        for column, value in zip(share_rows, (share_id, offer_id, kol, codes.new_share_code(), made), strict=True):
            share_rows[column].append(value)
    return share_rows, coupons, redemptions
