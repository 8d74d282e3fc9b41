"""The funnel figures by day, hour, store, offer or campaign, read from the rollups (never from raw rows).

A query names the rollup keys in scope — stores (or the whole brand) crossed with offers (or all offers) —
and the spans covering the range (whole months, weeks, then days: see periods.py), and adds up one row per
key and span through the primary key. Unique members union the rows' HyperLogLog sketches.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.principal import Principal
from solomo.db.models.stats import COUNT_COLUMNS, WAIT_BOUNDS, WAIT_COLUMNS
from solomo.db.sql import uuids
from solomo.errors import forbidden, invalid, not_found
from solomo.stats.periods import Span, cover, every_day
from solomo.stats.ranges import DateRange

ALL = uuid.UUID(int=0)  # the rollups' key for "the whole brand" / "all offers"


class By(StrEnum):
    DAY = "day"
    HOUR = "hour"
    STORE = "store"
    OFFER = "offer"
    CAMPAIGN = "campaign"


@dataclass(frozen=True)
class Filters:
    campaign_id: uuid.UUID | None = None
    offer_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = None


_GROUP = {
    By.DAY: "r.period",
    By.HOUR: "r.hour",
    By.STORE: "r.store_key",
    By.OFFER: "r.offer_key",
    By.CAMPAIGN: "o.campaign_id",
}
_SUMS = ",\n           ".join(
    [f"sum(r.{c}) AS {c}" for c in (*COUNT_COLUMNS, "order_amount", *WAIT_COLUMNS)]
    + ["round(hll_cardinality(hll_union_agg(r.members)))::bigint AS unique_members"]
)


def _funnel_sql(by: By) -> str:
    table = "stats_hourly" if by is By.HOUR else "stats_rollup"
    campaign_join = "JOIN offers o ON o.brand_id = :brand_id AND o.id = r.offer_key" if by is By.CAMPAIGN else ""
    # Keys and spans are joined to the rollup one (key, span) pair at a time: each is a primary-key probe,
    # so the cost follows the rows asked for, not the size of the brand's history.
    return f"""
    SELECT {_GROUP[by]} AS key,
           {_SUMS}
    FROM unnest(CAST(:store_keys AS uuid[])) AS s(store_key)
    CROSS JOIN unnest(CAST(:offer_keys AS uuid[])) AS f(offer_key)
    CROSS JOIN unnest(CAST(:grains AS bpchar[]), CAST(:periods AS date[])) AS p(grain, period)
    JOIN {table} r ON r.brand_id = :brand_id AND r.store_key = s.store_key AND r.offer_key = f.offer_key
                  AND r.grain = p.grain AND r.period = p.period
    {campaign_join}
    GROUP BY 1
    """


_FUNNEL = {by: text(_funnel_sql(by)).bindparams(uuids("store_keys"), uuids("offer_keys")) for by in By}

_BRAND_STORES = text("SELECT id FROM stores WHERE brand_id = :brand_id")
_BRAND_OFFERS = text("SELECT id FROM offers WHERE brand_id = :brand_id")
_CAMPAIGN_OFFERS = text(
    "SELECT o.id FROM campaigns c LEFT JOIN offers o ON o.brand_id = c.brand_id AND o.campaign_id = c.id"
    " WHERE c.brand_id = :brand_id AND c.id = :campaign_id"
)
_OFFER = text("SELECT campaign_id FROM offers WHERE brand_id = :brand_id AND id = :offer_id")
_STORE = text("SELECT 1 FROM stores WHERE brand_id = :brand_id AND id = :store_id")


def quantile(buckets: Sequence[int], q: float) -> float | None:
    """The q-quantile of the claim-to-redemption times, interpolated inside its bucket (the open-ended last
    bucket answers its lower bound)."""
    total = sum(buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(buckets):
        if count > 0 and seen + count >= rank:
            low = 0 if i == 0 else WAIT_BOUNDS[i - 1]
            if i == len(WAIT_BOUNDS):
                return float(low)
            return round(low + (WAIT_BOUNDS[i] - low) * (rank - seen) / count, 1)
        seen += count
    return float(WAIT_BOUNDS[-1])


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(row: Any, *, places: bool) -> dict[str, Any]:
    """The Funnel fields of one summed row; place figures only where no offer is in scope."""
    waits = [int(getattr(row, c)) for c in WAIT_COLUMNS]
    impressions, claims, redemptions = int(row.impressions), int(row.claims), int(row.redemptions)
    return {
        "checkins": int(row.checkins) if places else None,
        "checkins_flagged": int(row.checkins_flagged) if places else None,
        "new_members": int(row.new_members) if places else None,
        "impressions": impressions,
        "claims": claims,
        "redemptions": redemptions,
        "voids": int(row.voids),
        "claim_rate": _rate(claims, impressions),
        "redemption_rate": _rate(redemptions, claims),
        "unique_members": int(row.unique_members),
        "median_claim_to_redeem_s": quantile(waits, 0.5),
        "p90_claim_to_redeem_s": quantile(waits, 0.9),
        "referred_claims": int(row.referred_claims),
        "referred_redemptions": int(row.referred_redemptions),
        "order_amount": float(row.order_amount),
    }


class FunnelQuery:
    """Resolves filters and the caller's store scope into rollup keys, and sums the rows for a grouping."""

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.brand_id = principal.brand_id

    async def _ids(self, statement: Any, **params: Any) -> list[uuid.UUID]:
        rows = await self.session.execute(statement, {"brand_id": self.brand_id, **params})
        return [r[0] for r in rows if r[0] is not None]

    async def store_keys(self, filters: Filters, by: By) -> list[uuid.UUID]:
        scope = self.principal.store_scope
        if filters.store_id is not None:
            if not await self.session.scalar(_STORE, {"brand_id": self.brand_id, "store_id": filters.store_id}):
                raise not_found("store")
            if not self.principal.may_use_store(filters.store_id):
                raise forbidden("This key is not scoped to that store", code="store_out_of_scope")
            return [filters.store_id]
        if scope is not None:
            return sorted(scope)
        if by is By.STORE:
            return await self._ids(_BRAND_STORES)
        return [ALL]

    async def offer_keys(self, filters: Filters, by: By) -> list[uuid.UUID]:
        if filters.offer_id is not None:
            campaign = await self.session.scalar(_OFFER, {"brand_id": self.brand_id, "offer_id": filters.offer_id})
            if campaign is None:
                raise not_found("offer")
            if filters.campaign_id is not None and campaign != filters.campaign_id:
                raise invalid("offer_id", "the offer is not in the campaign given", source="query")
            return [filters.offer_id]
        if filters.campaign_id is not None:
            rows = list(
                await self.session.execute(
                    _CAMPAIGN_OFFERS, {"brand_id": self.brand_id, "campaign_id": filters.campaign_id}
                )
            )
            if not rows:
                raise not_found("campaign")
            return [r[0] for r in rows if r[0] is not None]
        if by in (By.OFFER, By.CAMPAIGN):
            return await self._ids(_BRAND_OFFERS)
        return [ALL]

    async def rows(self, by: By, span: DateRange, filters: Filters) -> tuple[dict[Any, Any], bool]:
        """Summed rows by key, and whether place figures apply (no offer in scope)."""
        store_keys = await self.store_keys(filters, by)
        offer_keys = await self.offer_keys(filters, by)
        if not store_keys or not offer_keys:
            return {}, offer_keys == [ALL]
        spans: list[Span] = every_day(span.start, span.end) if by is By.DAY else cover(span.start, span.end)
        result = await self.session.execute(
            _FUNNEL[by],
            {
                "brand_id": self.brand_id,
                "store_keys": store_keys,
                "offer_keys": offer_keys,
                "grains": [g for g, _ in spans],
                "periods": [p for _, p in spans],
            },
        )
        return {row.key: row for row in result}, offer_keys == [ALL]
