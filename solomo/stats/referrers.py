"""The KOL board: top sharers by claims made through their share codes, with their social reach."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.db.sql import uuids
from solomo.stats.periods import cover
from solomo.stats.ranges import DateRange
from solomo.stats.schemas import ReferrerRow, SocialReach


class ReferrerSort(StrEnum):
    CLAIMS = "claims"
    REDEMPTIONS = "redemptions"
    SHARES = "shares"
    ORDER_AMOUNT = "order_amount"
    FOLLOWERS = "followers"


_REACH = (
    "(SELECT max(a.followers) FROM member_social_accounts a"
    " WHERE a.brand_id = :brand_id AND a.member_id = t.referrer_id)"
)
_BOARD = """
    WITH totals AS (
        -- int4 and float8 sums keep their running totals in place; bigint and numeric ones allocate a state per
        -- sharer, which was two thirds of the board's time at 12,000 sharers. A row is one sharer in one period,
        -- so its counts fit in int4; amounts have cents, and the total is rounded back to them.
        SELECT r.referrer_id, sum(r.shares::int4) AS shares, sum(r.claims::int4) AS claims,
               sum(r.redemptions::int4) AS redemptions, sum(r.order_amount::float8) AS order_amount
        FROM unnest(CAST(:offer_keys AS uuid[])) AS f(offer_key)
        CROSS JOIN unnest(CAST(:grains AS bpchar[]), CAST(:periods AS date[])) AS p(grain, period)
        JOIN stats_referrers r ON r.brand_id = :brand_id AND r.offer_key = f.offer_key
                              AND r.grain = p.grain AND r.period = p.period
        GROUP BY r.referrer_id
    ),
    ranked AS (
        SELECT t.*, {reach} AS followers
        FROM totals t
        WHERE CAST(:provider AS text) IS NULL OR EXISTS (
            SELECT 1 FROM member_social_accounts a
            WHERE a.brand_id = :brand_id AND a.member_id = t.referrer_id AND a.provider = CAST(:provider AS text))
        ORDER BY {order} DESC NULLS LAST, t.claims DESC, t.redemptions DESC, t.shares DESC, t.referrer_id
        LIMIT :limit
    )
    SELECT k.*, coalesce((
        SELECT jsonb_agg(jsonb_build_object('provider', a.provider, 'followers', a.followers) ORDER BY a.provider)
        FROM member_social_accounts a WHERE a.brand_id = :brand_id AND a.member_id = k.referrer_id), '[]') AS accounts
    FROM ranked k
    ORDER BY {outer_order} DESC NULLS LAST, k.claims DESC, k.redemptions DESC, k.shares DESC, k.referrer_id
"""
_QUERIES = {
    sort: text(
        _BOARD.format(
            reach=_REACH,
            order=_REACH if sort is ReferrerSort.FOLLOWERS else f"t.{sort.value}",
            outer_order=f"k.{sort.value}",
        )
    ).bindparams(uuids("offer_keys"))
    for sort in ReferrerSort
}
_ACCOUNTS = msgspec.json.Decoder(list[SocialReach])


def _row(row: Any) -> ReferrerRow:
    accounts = row.accounts if isinstance(row.accounts, list) else _ACCOUNTS.decode(row.accounts)
    return ReferrerRow(
        member_id=row.referrer_id,
        shares=int(row.shares),
        claims=int(row.claims),
        redemptions=int(row.redemptions),
        order_amount=round(row.order_amount, 2),
        followers=row.followers,
        accounts=[a if isinstance(a, SocialReach) else SocialReach(**a) for a in accounts],
    )


async def top_referrers(
    session: AsyncSession,
    brand_id: uuid.UUID,
    span: DateRange,
    offer_keys: list[uuid.UUID],
    *,
    provider: str | None,
    sort: ReferrerSort,
    limit: int,
) -> list[ReferrerRow]:
    if not offer_keys:
        return []
    spans = cover(span.start, span.end)
    result = await session.execute(
        _QUERIES[sort],
        {
            "brand_id": brand_id,
            "offer_keys": offer_keys,
            "grains": [g for g, _ in spans],
            "periods": [p for _, p in spans],
            "provider": provider,
            "limit": limit,
        },
    )
    return [_row(r) for r in result]
