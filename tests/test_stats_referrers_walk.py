"""The KOL board's walk (sharers taken by their four-month window, stopped by the bound) gives exactly the rows of
summing every sharer, on a skewed history with ties, for every figure, limit, provider and offer it serves; and
the four-month windows the fold keeps are the sums of their months."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

import solomo.stats.referrers as board
from solomo.stats.ranges import DateRange
from solomo.stats.referrers import ReferrerSort, board_params, top_referrers, window_of
from tests.conftest import BrandContext
from tests.coupon_helpers import scalar

ALL = uuid.UUID(int=0)
ZONE = "Europe/Paris"
SHARERS = 300
OFFERS = (uuid.uuid4(), uuid.uuid4())
#: A brand's four-month windows, summed from its month rows: what the fold must have kept.
WINDOWS_FROM_MONTHS = """
    INSERT INTO stats_referrers (brand_id, offer_key, grain, period, referrer_id, shares, claims, redemptions,
                                 order_amount)
    SELECT brand_id, offer_key, 'r', (period + make_interval(months => later))::date, referrer_id,
           sum(shares), sum(claims), sum(redemptions), sum(order_amount)
    FROM stats_referrers
    CROSS JOIN generate_series(0, 3) AS later
    WHERE grain = 'm' AND brand_id = :b
    GROUP BY 1, 2, 3, 4, 5
"""


async def _history(brand: BrandContext, today: date) -> None:
    """Journalled shares, claims, redemptions (some voided) through SHARERS sharers over five months: a few
    sharers bring most claims, as on a real KOL board, and most of the rest tie on one or two."""
    rng = random.Random(8)
    async with brand.sessions() as session, session.begin():
        sharers = list(
            (
                await session.execute(
                    text(
                        "INSERT INTO members (brand_id, external_id) SELECT :b, 'sharer-' || g"
                        " FROM generate_series(1, :n) AS g RETURNING id"
                    ),
                    {"b": brand.id, "n": SHARERS},
                )
            ).scalars()
        )
        for i, sharer in enumerate(sharers[::3]):
            await session.execute(
                text(
                    "INSERT INTO member_social_accounts (brand_id, member_id, provider, uid, followers)"
                    " VALUES (:b, :m, :p, :u, :f)"
                ),
                {"b": brand.id, "m": sharer, "p": ("instagram", "x")[i % 2], "u": f"u{i}", "f": rng.randrange(10**6)},
            )
        events: list[dict[str, Any]] = []
        zone = ZoneInfo(ZONE)
        for _ in range(6_000):
            sharer = sharers[
                min(int(rng.paretovariate(1.1)) - 1, SHARERS - 1) if rng.random() < 0.7 else rng.randrange(SHARERS)
            ]
            day = today - timedelta(days=rng.randrange(150))
            at = datetime.combine(day, time(rng.randrange(24), rng.randrange(60)), zone).astimezone(UTC)
            offer = rng.choice(OFFERS)
            kind = rng.choices(("share", "claim", "redeem"), (1, 5, 2))[0]
            amount = round(rng.uniform(1, 80), 2) if kind == "redeem" and rng.random() < 0.8 else None
            row = {"kind": kind, "n": 1, "at": at, "offer": offer, "ref": sharer, "amount": amount}
            events.append(row)
            if kind == "redeem" and rng.random() < 0.1:
                events.append(row | {"n": -1})  # voided: the redemption taken back in its own period
        await session.execute(
            text(
                "INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, offer_id, member_id,"
                " referrer_id, amount) VALUES (:b, :kind, :n, :at, true, '{}', :offer, :ref, :ref, :amount)"
            ),
            [e | {"b": brand.id} for e in events],
        )
    assert await scalar(brand, "SELECT solomo_stats_fold(:b, 1000)", b=brand.id) > 0


def _spans(today: date) -> list[DateRange]:
    ranges = [DateRange(today - timedelta(days=days - 1), today, ZONE) for days in (60, 75, 90, 100)]
    # Whole months, and a range that starts and ends mid-month, three months back.
    first = (today.replace(day=1) - timedelta(days=70)).replace(day=1)
    ranges.append(DateRange(first, today.replace(day=1) - timedelta(days=1), ZONE))
    ranges.append(DateRange(first + timedelta(days=9), first + timedelta(days=80), ZONE))
    return [r for r in ranges if window_of(r) is not None]


async def test_the_walk_gives_the_full_boards_rows(brand: BrandContext, monkeypatch: Any) -> None:
    today = datetime.now(ZoneInfo(ZONE)).date()
    await _history(brand, today)
    walks: list[bool] = []
    real_walk = board._walk

    async def counted(*args: Any) -> Any:
        found = await real_walk(*args)
        walks.append(found is not None)
        return found

    monkeypatch.setattr(board, "_walk", counted)
    compared = 0
    async with brand.sessions() as session:
        for span in _spans(today):
            for sort in ReferrerSort:
                for limit in (1, 4, 25, 100):
                    for provider in (None, "instagram"):
                        for keys in ([ALL], [OFFERS[0]]):
                            walked = await top_referrers(
                                session, brand.id, span, keys, provider=provider, sort=sort, limit=limit
                            )
                            summed = await top_referrers(
                                session, brand.id, span, keys, provider=provider, sort=sort, limit=limit, walk=False
                            )
                            assert walked == summed, (span, sort, limit, provider, keys)
                            assert summed or provider, (span, sort, limit, keys)
                            compared += 1
    assert compared > 300
    # The boards compared were mostly walked (claims, redemptions and amounts over 60 days or more), not summed.
    assert len(walks) > 100
    assert sum(walks) > 0.8 * len(walks), (sum(walks), len(walks))


async def test_a_walk_that_does_not_stop_gives_up_for_the_sum(brand: BrandContext) -> None:
    """Every sharer one claim: the bound never drops below the last one on the board, so the walk must not stop.
    The sharer walked last (highest id) also has a redemption, which puts it first: a stop at an equal bound
    would miss it."""
    today = datetime.now(ZoneInfo(ZONE)).date()
    at = datetime.combine(today - timedelta(days=40), time(12), ZoneInfo(ZONE)).astimezone(UTC)
    last = uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff")
    async with brand.sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, member_id, referrer_id)"
                " SELECT :b, kind, 1, :at, true, '{}', id, id FROM"
                " (SELECT gen_random_uuid() AS id FROM generate_series(1, 40) UNION ALL SELECT :last) AS sharers"
                " CROSS JOIN LATERAL (SELECT 'claim' AS kind UNION ALL SELECT 'redeem' WHERE sharers.id = :last) AS k"
            ),
            {"b": brand.id, "at": at, "last": last},
        )
    assert await scalar(brand, "SELECT solomo_stats_fold(:b, 1000)", b=brand.id) == 42
    span = DateRange(today - timedelta(days=89), today, ZONE)
    window = window_of(span)
    assert window is not None
    async with brand.sessions() as session:
        found = await board._walk(session, ReferrerSort.CLAIMS, board_params(brand.id, span, [ALL], None, 3), window, 3)
        walked = await top_referrers(session, brand.id, span, [ALL], provider=None, sort=ReferrerSort.CLAIMS, limit=3)
        summed = await top_referrers(
            session, brand.id, span, [ALL], provider=None, sort=ReferrerSort.CLAIMS, limit=3, walk=False
        )
    assert found is None
    assert walked == summed
    assert [(r.claims, r.redemptions) for r in summed] == [(1, 1), (1, 0), (1, 0)]
    assert summed[0].member_id == last


async def test_the_walk_stops_early_on_a_tight_bound(brand: BrandContext) -> None:
    today = datetime.now(ZoneInfo(ZONE)).date()
    await _history(brand, today)
    span = DateRange(today - timedelta(days=89), today, ZONE)
    window = window_of(span)
    assert window == today.replace(day=1)
    params = board_params(brand.id, span, [ALL], None, 5)
    async with brand.sessions() as session:
        found = await board._walk(session, ReferrerSort.CLAIMS, params, window, 5)
        summed = await top_referrers(
            session, brand.id, span, [ALL], provider=None, sort=ReferrerSort.CLAIMS, limit=5, walk=False
        )
    # Found within the first batch of 10: the heavy sharers' windows are far above everyone else's.
    assert found is not None
    assert [s.referrer_id for s in found] == [r.member_id for r in summed]
    assert [s.claims for s in found] == [r.claims for r in summed]


async def test_windows_are_the_sums_of_their_months(brand: BrandContext) -> None:
    today = datetime.now(ZoneInfo(ZONE)).date()
    await _history(brand, today)

    async def windows() -> list[Any]:
        async with brand.sessions() as session:
            rows = await session.execute(
                text(
                    "SELECT offer_key, period, referrer_id, shares, claims, redemptions, order_amount"
                    " FROM stats_referrers WHERE brand_id = :b AND grain = 'r'"
                    " ORDER BY offer_key, period, referrer_id"
                ),
                {"b": brand.id},
            )
            return [tuple(r) for r in rows]

    folded = await windows()
    assert len(folded) > SHARERS
    async with brand.sessions() as session, session.begin():
        await session.execute(text("DELETE FROM stats_referrers WHERE brand_id = :b AND grain = 'r'"), {"b": brand.id})
        await session.execute(text(WINDOWS_FROM_MONTHS), {"b": brand.id})
    assert await windows() == folded
