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


#: The figures' columns, in the order every funnel statement answers them after its key columns.
_FIGURES = ",\n           ".join(
    [f"sum(r.{c})::bigint AS {c}" for c in COUNT_COLUMNS]
    + [
        "sum(r.order_amount)::float8 AS order_amount",
        "ARRAY[" + ", ".join(f"sum(r.{c})" for c in WAIT_COLUMNS) + "]::bigint[] AS waits",
        "round(hll_cardinality(hll_union_agg(r.members)))::bigint AS unique_members",
    ]
)
# Stores (or offers) given as keys, or, where the answer has a row per store (offer), read with their labels from
# their own table: every store of the brand when :store_keys is NULL. Stores and offers deleted since are left out.
_STORE_KEYS = "unnest(CAST(:store_keys AS uuid[])) AS s(store_key)"
_STORES = """(
        SELECT id AS store_key, name AS store_name FROM stores
        WHERE brand_id = :brand_id AND (CAST(:store_keys AS uuid[]) IS NULL OR id = ANY(CAST(:store_keys AS uuid[])))
    ) AS s"""
_OFFER_KEYS = "unnest(CAST(:offer_keys AS uuid[])) AS f(offer_key)"
_OFFERS = """(
        SELECT o.id AS offer_key, o.title AS offer_title, o.campaign_id, c.name AS campaign_name
        FROM offers o JOIN campaigns c ON c.brand_id = o.brand_id AND c.id = o.campaign_id
        WHERE o.brand_id = :brand_id
          AND (CAST(:offer_keys AS uuid[]) IS NULL OR o.id = ANY(CAST(:offer_keys AS uuid[])))
    ) AS f"""
#: Per grouping: the key columns it answers first (key, then labels), and its sources of stores and offers.
_SHAPES = {
    By.DAY: ("r.period", _STORE_KEYS, _OFFER_KEYS),
    By.HOUR: ("r.hour", _STORE_KEYS, _OFFER_KEYS),
    By.STORE: ("s.store_key, s.store_name", _STORES, _OFFER_KEYS),
    By.OFFER: ("f.offer_key, f.offer_title, f.campaign_id", _STORE_KEYS, _OFFERS),
    By.CAMPAIGN: ("f.campaign_id, f.campaign_name", _STORE_KEYS, _OFFERS),
}
#: How many columns come before the figures.
KEY_COLUMNS = {by: len(shape[0].split(",")) for by, shape in _SHAPES.items()}


def _funnel_sql(by: By) -> str:
    keys, stores, offers = _SHAPES[by]
    table = "stats_hourly" if by is By.HOUR else "stats_rollup"
    # Keys and spans are joined to the rollup one (store, offer, span) at a time: each is a primary-key probe,
    # so the cost follows the rows asked for, not the size of the brand's history.
    return f"""
    SELECT {keys},
           {_FIGURES}
    FROM {stores}
    CROSS JOIN {offers}
    CROSS JOIN unnest(CAST(:grains AS bpchar[]), CAST(:periods AS date[])) AS p(grain, period)
    JOIN {table} r ON r.brand_id = :brand_id AND r.store_key = s.store_key AND r.offer_key = f.offer_key
                  AND r.grain = p.grain AND r.period = p.period
    GROUP BY {keys}
    """


_FUNNEL = {by: text(_funnel_sql(by)).bindparams(uuids("store_keys"), uuids("offer_keys")) for by in By}
_CAMPAIGN_OFFERS = text(
    "SELECT o.id FROM campaigns c LEFT JOIN offers o ON o.brand_id = c.brand_id AND o.campaign_id = c.id"
    " WHERE c.brand_id = :brand_id AND c.id = :campaign_id"
)
_OFFER = text("SELECT campaign_id FROM offers WHERE brand_id = :brand_id AND id = :offer_id")
_STORE = text("SELECT 1 FROM stores WHERE brand_id = :brand_id AND id = :store_id")
_QUANTILES = (0.5, 0.9)


def quantiles(buckets: Sequence[int], qs: Sequence[float] = _QUANTILES) -> list[float | None]:
    """The q-quantiles of the claim-to-redemption times, each interpolated inside its bucket (the open-ended
    last bucket answers its lower bound); None for each when nothing was redeemed."""
    total = sum(buckets)
    if total <= 0:
        return [None] * len(qs)
    found: list[float | None] = []
    for q in qs:
        rank = q * total
        seen = 0
        for i, count in enumerate(buckets):
            if count > 0 and seen + count >= rank:
                low = 0 if i == 0 else WAIT_BOUNDS[i - 1]
                found.append(
                    float(low)
                    if i == len(WAIT_BOUNDS)
                    else round(low + (WAIT_BOUNDS[i] - low) * (rank - seen) / count, 1)
                )
                break
            seen += count
        else:
            found.append(float(WAIT_BOUNDS[-1]))
    return found


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(values: Sequence[Any], *, places: bool) -> dict[str, Any]:
    """The Funnel fields of one summed row (the figures' columns of a funnel statement, in their order); place
    figures only where no offer is in scope."""
    (checkins, flagged, new_members, impressions, claims, referred_claims, redemptions, referred_redemptions,
     voids, order_amount, waits, unique_members) = values  # fmt: skip
    median, p90 = quantiles(waits)
    return {
        "checkins": checkins if places else None,
        "checkins_flagged": flagged if places else None,
        "new_members": new_members if places else None,
        "impressions": impressions,
        "claims": claims,
        "redemptions": redemptions,
        "voids": voids,
        "claim_rate": _rate(claims, impressions),
        "redemption_rate": _rate(redemptions, claims),
        "unique_members": unique_members,
        "median_claim_to_redeem_s": median,
        "p90_claim_to_redeem_s": p90,
        "referred_claims": referred_claims,
        "referred_redemptions": referred_redemptions,
        "order_amount": order_amount,
    }


@dataclass(frozen=True)
class FunnelRow:
    key: Any
    labels: tuple[Any, ...]  # the store's name; the offer's title and campaign; the campaign's name
    figures: dict[str, Any]


class FunnelQuery:
    """Resolves filters and the caller's store scope into rollup keys, and sums the rows for a grouping."""

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.brand_id = principal.brand_id

    async def store_keys(self, filters: Filters, by: By) -> list[uuid.UUID] | None:
        """The stores in scope; None for every store of the brand (only where each store has its own row)."""
        scope = self.principal.store_scope
        if filters.store_id is not None:
            if not await self.session.scalar(_STORE, {"brand_id": self.brand_id, "store_id": filters.store_id}):
                raise not_found("store")
            if not self.principal.may_use_store(filters.store_id):
                raise forbidden("This key is not scoped to that store", code="store_out_of_scope")
            return [filters.store_id]
        if scope is not None:
            return sorted(scope)
        return None if by is By.STORE else [ALL]

    async def offer_keys(self, filters: Filters, by: By) -> list[uuid.UUID] | None:
        """The offers in scope; None for every offer of the brand (only where each offer has its own row)."""
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
        return None if by in (By.OFFER, By.CAMPAIGN) else [ALL]

    async def rows(self, by: By, span: DateRange, filters: Filters) -> tuple[list[FunnelRow], bool]:
        """Summed rows, one per key, and whether place figures apply (no offer in scope)."""
        store_keys = await self.store_keys(filters, by)
        offer_keys = await self.offer_keys(filters, by)
        places = offer_keys == [ALL]
        if store_keys == [] or offer_keys == []:
            return [], places
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
        n = KEY_COLUMNS[by]
        return [FunnelRow(row[0], tuple(row[1:n]), figures(row[n:], places=places)) for row in result], places
