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
from solomo.pagination import encode_label_id
from solomo.stats.periods import Span, cover, every_day
from solomo.stats.ranges import DateRange

ALL = uuid.UUID(int=0)  # the rollups' key for "the whole brand" / "all offers"


class By(StrEnum):
    #: The whole range as one row (its unique members a union over the range, not a sum of days).
    TOTAL = "total"
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
_FIGURE_NAMES = (*COUNT_COLUMNS, "order_amount", "waits", "unique_members")
_SPANS = "unnest(CAST(:grains AS bpchar[]), CAST(:periods AS date[])) AS p(grain, period)"
_SPAN_MATCH = "r.grain = p.grain AND r.period = p.period"


def _totals_sql(by: By) -> str:
    """Day and hour rows: the rollup rows of every (store, offer, span) in scope, summed by day or hour; or the
    whole range's one row (keyed by the brand)."""
    key, table = {By.HOUR: ("r.hour", "stats_hourly"), By.TOTAL: ("r.brand_id", "stats_rollup")}.get(
        by, ("r.period", "stats_rollup")
    )
    # Each (store, offer, span) is a primary-key probe, so the cost follows the rows asked for, not the size of
    # the brand's history.
    return f"""
    SELECT {key},
           {_FIGURES}
    FROM unnest(CAST(:store_keys AS uuid[])) AS s(store_key)
    CROSS JOIN unnest(CAST(:offer_keys AS uuid[])) AS f(offer_key)
    CROSS JOIN {_SPANS}
    JOIN {table} r ON r.brand_id = :brand_id AND r.store_key = s.store_key AND r.offer_key = f.offer_key
                  AND {_SPAN_MATCH}
    GROUP BY {key}
    """


@dataclass(frozen=True)
class _Board:
    """A board has a row per subject (store, offer or campaign), in the order of its label then id."""

    table: str  # the subjects' table, as t
    label: str
    extra: tuple[str, ...]  # more label columns of the subject
    scope: str  # which subjects are in scope
    probes: str  # the lateral's FROM: what is crossed with the spans for one subject x
    match: str  # the rollup rows of one subject x


_STORE_SCOPE = "(CAST(:store_keys AS uuid[]) IS NULL OR t.id = ANY(CAST(:store_keys AS uuid[])))"
_OFFER_SCOPE = "(CAST(:offer_keys AS uuid[]) IS NULL OR {id} = ANY(CAST(:offer_keys AS uuid[])))"
_BOARDS = {
    By.STORE: _Board(
        "stores", "t.name", (), _STORE_SCOPE,
        f"unnest(CAST(:offer_keys AS uuid[])) AS f(offer_key) CROSS JOIN {_SPANS}",
        "r.store_key = x.key AND r.offer_key = f.offer_key",
    ),
    By.OFFER: _Board(
        "offers", "t.title", ("campaign_id",), _OFFER_SCOPE.format(id="t.id"),
        f"unnest(CAST(:store_keys AS uuid[])) AS s(store_key) CROSS JOIN {_SPANS}",
        "r.store_key = s.store_key AND r.offer_key = x.key",
    ),
    By.CAMPAIGN: _Board(
        "campaigns", "t.name", (), "true",
        f"unnest(CAST(:store_keys AS uuid[])) AS s(store_key) CROSS JOIN offers o CROSS JOIN {_SPANS}",
        "o.brand_id = :brand_id AND o.campaign_id = x.key AND " + _OFFER_SCOPE.format(id="o.id")
        + " AND r.store_key = s.store_key AND r.offer_key = o.id",
    ),
}  # fmt: skip


def _board_sql(board: _Board) -> str:
    # The subjects are walked in label order and each one's rows are summed in a LATERAL, so a page of N costs
    # N subjects' probes however many the brand has (the LIMIT stops the walk); subjects with nothing in the
    # range are left out. Subjects deleted since have no label to show and are left out too.
    inner, outer = ("".join(f", {alias}.{c}" for c in board.extra) for alias in ("t", "x"))
    return f"""
    SELECT x.key, x.label{outer}, {", ".join(f"a.{c}" for c in _FIGURE_NAMES)}
    FROM (
        SELECT t.id AS key, {board.label} AS label{inner}
        FROM {board.table} t
        WHERE t.brand_id = :brand_id AND {board.scope}
          AND (CAST(:after_label AS text) IS NULL
               OR ({board.label}, t.id) > (CAST(:after_label AS text), CAST(:after_key AS uuid)))
        ORDER BY {board.label}, t.id
    ) AS x
    CROSS JOIN LATERAL (
        SELECT count(*) AS found,
               {_FIGURES}
        FROM {board.probes}
        JOIN stats_rollup r ON r.brand_id = :brand_id AND {board.match} AND {_SPAN_MATCH}
    ) AS a
    WHERE a.found > 0
    ORDER BY x.label, x.key
    LIMIT :limit
    """


_SQL = {by: _totals_sql(by) for by in (By.TOTAL, By.DAY, By.HOUR)} | {by: _board_sql(b) for by, b in _BOARDS.items()}
_FUNNEL = {by: text(sql).bindparams(uuids("store_keys"), uuids("offer_keys")) for by, sql in _SQL.items()}
#: How many columns come before the figures: the key, then its labels.
KEY_COLUMNS = {By.TOTAL: 1, By.DAY: 1, By.HOUR: 1} | {by: 2 + len(b.extra) for by, b in _BOARDS.items()}
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
class Page:
    """A page of a board: its size (None: every row), after the (label, id) of the previous page's last row."""

    limit: int | None = None
    after: tuple[str, uuid.UUID] | None = None


EVERY_ROW = Page()


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

    async def store_keys(self, filters: Filters) -> list[uuid.UUID] | None:
        """The stores the filter or the caller's scope names; None when neither names any."""
        scope = self.principal.store_scope
        if filters.store_id is not None:
            if not await self.session.scalar(_STORE, {"brand_id": self.brand_id, "store_id": filters.store_id}):
                raise not_found("store")
            if not self.principal.may_use_store(filters.store_id):
                raise forbidden("This key is not scoped to that store", code="store_out_of_scope")
            return [filters.store_id]
        return sorted(scope) if scope is not None else None

    async def offer_keys(self, filters: Filters) -> list[uuid.UUID] | None:
        """The offers the filters name; None when they name none."""
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
        return None

    async def total(self, span: DateRange, filters: Filters) -> dict[str, Any]:
        """The figures of the whole range, summed from the rollups (zero when nothing happened)."""
        rows, _ = await self.rows(By.TOTAL, span, filters)
        if rows:
            return rows[0].figures
        places = filters.offer_id is None and filters.campaign_id is None
        return figures([0] * len(COUNT_COLUMNS) + [0.0, [0] * len(WAIT_COLUMNS), 0], places=places)

    async def rows(
        self, by: By, span: DateRange, filters: Filters, page: Page = EVERY_ROW
    ) -> tuple[list[FunnelRow], str | None]:
        """Summed rows, one per key, and for a board (stores, offers, campaigns) the cursor of the next page when
        there is one (``page`` applies to boards only)."""
        store_keys = await self.store_keys(filters)
        offer_keys = await self.offer_keys(filters)
        # Unnamed: a board of stores (offers) reads every one from its table (NULL keys); otherwise the
        # rollups' whole-brand (all-offers) key covers them all.
        if store_keys is None and by is not By.STORE:
            store_keys = [ALL]
        if offer_keys is None and by not in (By.OFFER, By.CAMPAIGN):
            offer_keys = [ALL]
        if store_keys == [] or offer_keys == []:
            return [], None
        places = offer_keys == [ALL]
        spans: list[Span] = every_day(span.start, span.end) if by is By.DAY else cover(span.start, span.end)
        after = page.after
        result = await self.session.execute(
            _FUNNEL[by],
            {
                "brand_id": self.brand_id,
                "store_keys": store_keys,
                "offer_keys": offer_keys,
                "grains": [g for g, _ in spans],
                "periods": [p for _, p in spans],
                "after_label": after[0] if after else None,
                "after_key": after[1] if after else None,
                "limit": page.limit + 1 if page.limit is not None else None,
            },
        )
        n = KEY_COLUMNS[by]
        rows = [FunnelRow(row[0], tuple(row[1:n]), figures(row[n:], places=places)) for row in result]
        if page.limit is None or len(rows) <= page.limit:
            return rows, None
        last = rows[page.limit - 1]
        return rows[: page.limit], encode_label_id(last.labels[0], last.key)
