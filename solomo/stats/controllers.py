"""``/v1/stats``: the funnel by day, hour, store, offer and campaign, and the referrer board; JSON or CSV.

Each read folds the brand's journal first (in the statement that reads the brand's clock), so the figures include
every event committed before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import STAFF, allow
from solomo.auth.middleware import principal_of
from solomo.auth.principal import Role
from solomo.db.models import SOCIAL_PROVIDERS
from solomo.db.transactions import REPORT_QUERIES
from solomo.errors import invalid
from solomo.pagination import MAX_LIMIT, Cursor, decode_label_id
from solomo.stats.csv_response import csv_response, wants_csv
from solomo.stats.funnel import ALL, EVERY_ROW, By, Filters, FunnelQuery, FunnelRow, Page
from solomo.stats.ranges import DateRange, stats_range
from solomo.stats.referrers import ReferrerSort, top_referrers
from solomo.stats.schemas import (
    ESTIMATED,
    FUNNEL_COLUMNS,
    REFERRER_COLUMNS,
    CampaignRow,
    CampaignStats,
    DailyRow,
    DailyStats,
    Funnel,
    HourlyRow,
    HourlyStats,
    OfferRow,
    OfferStats,
    ReferrerStats,
    StoreRow,
    StoreStats,
)

FromDate = Annotated[
    date | None,
    QueryParameter(
        name="from", description="First day (ISO date, brand-local), included. Default: 29 days before `to`."
    ),
]
ToDate = Annotated[
    date | None,
    QueryParameter(name="to", description="Last day (ISO date, brand-local), included; at most 400 days after `from`."),
]
CampaignId = Annotated[uuid.UUID | None, QueryParameter(name="campaign_id", description="Only this campaign's offers.")]
OfferId = Annotated[uuid.UUID | None, QueryParameter(name="offer_id", description="Only this offer.")]
StoreId = Annotated[uuid.UUID | None, QueryParameter(name="store_id", description="Only this store.")]
BOARD_LIMIT = 50
BoardLimit = Annotated[
    int | None,
    QueryParameter(
        ge=1,
        le=MAX_LIMIT,
        description=f"Rows a page, in the order of their names (1 to {MAX_LIMIT}; default {BOARD_LIMIT}). A CSV "
        "answer without `limit` has every row from `cursor` on.",
    ),
]


_CSV_NOTE = " Send `Accept: text/csv` for the same rows as CSV, with a header line."


def _range_fields(span: DateRange, estimated: Sequence[str] = ESTIMATED) -> dict[str, Any]:
    return {"from_": span.start, "to": span.end, "timezone": span.timezone, "estimated": list(estimated)}


def _csv(name: str, keys: Sequence[str], columns: Sequence[str], items: Iterable[msgspec.Struct]) -> Any:
    def rows() -> Iterable[list[object]]:
        for item in items:
            values = msgspec.to_builtins(item)
            yield [values[k] for k in (*keys, *columns)]

    return csv_response([*keys, *columns], rows(), name)


async def _read(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    by: By,
    start: date | None,
    end: date | None,
    filters: Filters,
    page: Page = EVERY_ROW,
) -> tuple[DateRange, list[FunnelRow], str | None]:
    principal = principal_of(request)
    span = await stats_range(session, principal.brand_id, start, end, fold=True)
    rows, next_cursor = await FunnelQuery(session, principal).rows(by, span, filters, page)
    return span, rows, next_cursor


def _page(request: Request[Any, Any, Any], limit: int | None, cursor: str | None) -> Page:
    """A board's page: ``limit`` rows (BOARD_LIMIT unless given) after ``cursor``; a CSV download without a
    limit has every row from the cursor on."""
    if limit is None and not wants_csv(request):
        limit = BOARD_LIMIT
    return Page(limit, decode_label_id(cursor) if cursor else None)


def _answer(
    request: Request[Any, Any, Any],
    name: str,
    keys: Sequence[str],
    page: Any,
) -> Any:
    if wants_csv(request):
        return _csv(name, keys, FUNNEL_COLUMNS, page.items)
    return page


class StatsController(Controller):
    path = "/v1/stats"
    tags = ["Stats"]
    # Reports scan months of rollups: their transaction gets the report statement timeout.
    opt = {REPORT_QUERIES: True}

    @get(
        "/daily",
        guards=[STAFF],
        summary="The funnel per brand-local day",
        description="A manager sees its stores' figures only." + _CSV_NOTE,
    )
    async def daily(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        from_date: FromDate = None,
        to_date: ToDate = None,
        campaign_id: CampaignId = None,
        offer_id: OfferId = None,
        store_id: StoreId = None,
    ) -> DailyStats:
        filters = Filters(campaign_id, offer_id, store_id)
        span, rows, _ = await _read(request, db_session, By.DAY, from_date, to_date, filters)
        items = sorted((DailyRow(day=r.key, **r.figures) for r in rows), key=lambda r: r.day)
        if wants_csv(request):  # a line a day; the total is the JSON answer's
            return cast("DailyStats", _csv("daily", ["day"], FUNNEL_COLUMNS, items))
        total = Funnel(**await FunnelQuery(db_session, principal_of(request)).total(span, filters))
        return DailyStats(items=items, total=total, **_range_fields(span))

    @get(
        "/hourly",
        guards=[STAFF],
        summary="The funnel per hour of the day",
        description="Hours are the store's local hours on a store's figures (`store_id`, or a manager's stores) "
        "and the brand's otherwise; days are brand-local." + _CSV_NOTE,
    )
    async def hourly(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        from_date: FromDate = None,
        to_date: ToDate = None,
        campaign_id: CampaignId = None,
        offer_id: OfferId = None,
        store_id: StoreId = None,
    ) -> HourlyStats:
        filters = Filters(campaign_id, offer_id, store_id)
        span, rows, _ = await _read(request, db_session, By.HOUR, from_date, to_date, filters)
        items = sorted((HourlyRow(hour=r.key, **r.figures) for r in rows), key=lambda r: r.hour)
        return cast(
            "HourlyStats", _answer(request, "hourly", ["hour"], HourlyStats(items=items, **_range_fields(span)))
        )

    @get(
        "/stores",
        guards=[STAFF],
        summary="The funnel per store",
        description="A check-in counts at every store whose fence it was in; a manager sees its own stores."
        + _CSV_NOTE,
    )
    async def stores(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        from_date: FromDate = None,
        to_date: ToDate = None,
        campaign_id: CampaignId = None,
        offer_id: OfferId = None,
        store_id: StoreId = None,
        limit: BoardLimit = None,
        cursor: Cursor = None,
    ) -> StoreStats:
        filters = Filters(campaign_id, offer_id, store_id)
        span, rows, next_cursor = await _read(
            request, db_session, By.STORE, from_date, to_date, filters, _page(request, limit, cursor)
        )
        items = [StoreRow(store_id=r.key, store_name=r.labels[0], **r.figures) for r in rows]
        page = StoreStats(items=items, next_cursor=next_cursor, **_range_fields(span))
        return cast("StoreStats", _answer(request, "stores", ["store_id", "store_name"], page))

    @get(
        "/offers",
        guards=[STAFF],
        summary="The funnel per offer",
        description="A manager sees what happened at its stores." + _CSV_NOTE,
    )
    async def offers(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        from_date: FromDate = None,
        to_date: ToDate = None,
        campaign_id: CampaignId = None,
        offer_id: OfferId = None,
        store_id: StoreId = None,
        limit: BoardLimit = None,
        cursor: Cursor = None,
    ) -> OfferStats:
        filters = Filters(campaign_id, offer_id, store_id)
        span, rows, next_cursor = await _read(
            request, db_session, By.OFFER, from_date, to_date, filters, _page(request, limit, cursor)
        )
        items = [OfferRow(offer_id=r.key, offer_title=r.labels[0], campaign_id=r.labels[1], **r.figures) for r in rows]
        page = OfferStats(items=items, next_cursor=next_cursor, **_range_fields(span))
        return cast("OfferStats", _answer(request, "offers", ["offer_id", "offer_title", "campaign_id"], page))

    @get(
        "/campaigns",
        guards=[STAFF],
        summary="The funnel per campaign",
        description="A manager sees what happened at its stores." + _CSV_NOTE,
    )
    async def campaigns(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        from_date: FromDate = None,
        to_date: ToDate = None,
        campaign_id: CampaignId = None,
        offer_id: OfferId = None,
        store_id: StoreId = None,
        limit: BoardLimit = None,
        cursor: Cursor = None,
    ) -> CampaignStats:
        filters = Filters(campaign_id, offer_id, store_id)
        span, rows, next_cursor = await _read(
            request, db_session, By.CAMPAIGN, from_date, to_date, filters, _page(request, limit, cursor)
        )
        items = [CampaignRow(campaign_id=r.key, campaign_name=r.labels[0], **r.figures) for r in rows]
        page = CampaignStats(items=items, next_cursor=next_cursor, **_range_fields(span))
        return cast("CampaignStats", _answer(request, "campaigns", ["campaign_id", "campaign_name"], page))

    @get(
        "/referrers",
        guards=[allow(Role.ADMIN, Role.MARKETER)],
        summary="Top sharers: the KOL board",
        description="Members whose share codes brought claims: shares made, claims and redemptions through their "
        "codes, order amount, and their linked social accounts. Sorted by `sort` (claims by default)." + _CSV_NOTE,
    )
    async def referrers(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        from_date: FromDate = None,
        to_date: ToDate = None,
        campaign_id: CampaignId = None,
        offer_id: OfferId = None,
        provider: Annotated[
            str | None, QueryParameter(description="Only sharers with a linked account of this provider.")
        ] = None,
        sort: Annotated[
            ReferrerSort, QueryParameter(description="Rank by this figure, highest first.")
        ] = ReferrerSort.CLAIMS,
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="How many sharers (1 to 1000).")] = 50,
    ) -> ReferrerStats:
        principal = principal_of(request)
        if provider is not None and provider not in SOCIAL_PROVIDERS:
            raise invalid("provider", f"unknown provider; one of {', '.join(SOCIAL_PROVIDERS)}", source="query")
        span = await stats_range(db_session, principal.brand_id, from_date, to_date, fold=True)
        query = FunnelQuery(db_session, principal)
        offer_keys = await query.offer_keys(Filters(campaign_id, offer_id))
        items = await top_referrers(
            db_session, principal.brand_id, span, [ALL] if offer_keys is None else offer_keys,
            provider=provider, sort=sort, limit=limit,
        )  # fmt: skip
        page = ReferrerStats(items=items, **_range_fields(span, estimated=()))
        if wants_csv(request):
            return cast("ReferrerStats", csv_response(REFERRER_COLUMNS, _referrer_rows(page), "referrers"))
        return page


def _referrer_rows(page: ReferrerStats) -> Iterable[list[object]]:
    for item in page.items:
        yield [
            item.member_id,
            item.shares,
            item.claims,
            item.redemptions,
            item.order_amount,
            item.followers,
            " ".join(a.provider for a in item.accounts),
        ]
