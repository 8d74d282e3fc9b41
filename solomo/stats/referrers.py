"""The KOL board: top sharers by claims made through their share codes, with their social reach.

Summed over every active sharer, the board costs what the sharers are: at 90 days 12,000 of them, most of its
time. So for a range of 60 days or more that touches at most four calendar months, ranked by claims,
redemptions or order amount, for the whole brand or one offer, the board walks the sharers instead (``_walk``):

- ``stats_referrers`` keeps per sharer its four-month windows (grain ``r``, under the window's last month;
  ``solomo/stats/sql/fold_statement.sql``). The range lies inside the window ending with its last month, and no
  figure is ever negative (a void takes back its redemption in the redemption's own period), so the window
  bounds the range total.
- Sharers come in descending order of that bound, a batch at a time, each with its exact range total.
- Once the ``limit``-th best exact total is above the bound of the last sharer walked, no one left can reach
  the board (a tie could: the stop is strict), and it ranks what it has exactly as the full sum would.

The bound is tight where it matters (at 90 days, 51 sharers have a window that reaches the 50th total), so a
board of 50 walks 100 sharers. Where it is loose the walk would read many: it gives up after 6 times ``limit``
sharers and the board sums every sharer, as it does for everything else. Shares are not walked: most sharers
tie on one or two, and at 90 days the walk took twice as long as the sum.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import TextClause, text
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


#: Months in a window (``solomo/stats/sql/fold_statement.sql``).
WINDOW_MONTHS = 4
#: The walk's limits, from bench/stats.py at 10⁷ check-ins. Below about half a window (60 of its ~120 days) the
#: bound is too loose to stop early: at 7 and 30 days the walk was slower than the sum. Past a board of 100 the
#: probes cost more than the sum. The walk reads twice limit sharers, then four times limit more, then gives up.
WALK_MIN_DAYS = 60
WALK_LIMIT = 100
_BATCHES = (2, 4)

# A sharer's reach (its largest following) and its accounts as JSON, for the member in {member}.
_REACH = (
    "(SELECT max(a.followers) FROM member_social_accounts a WHERE a.brand_id = :brand_id AND a.member_id = {member})"
)
_ACCOUNTS_JSON = (
    "coalesce((SELECT jsonb_agg(jsonb_build_object('provider', a.provider, 'followers', a.followers)"
    " ORDER BY a.provider) FROM member_social_accounts a"
    " WHERE a.brand_id = :brand_id AND a.member_id = {member}), '[]')"
)
_HAS_PROVIDER = (
    "(CAST(:provider AS text) IS NULL OR EXISTS ("
    "SELECT 1 FROM member_social_accounts a"
    " WHERE a.brand_id = :brand_id AND a.member_id = {member} AND a.provider = CAST(:provider AS text)))"
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
        WHERE {has_provider}
        ORDER BY {order} DESC NULLS LAST, t.claims DESC, t.redemptions DESC, t.shares DESC, t.referrer_id
        LIMIT :limit
    )
    SELECT k.*, {accounts} AS accounts
    FROM ranked k
    ORDER BY {outer_order} DESC NULLS LAST, k.claims DESC, k.redemptions DESC, k.shares DESC, k.referrer_id
"""


def _order(sort: ReferrerSort, alias: str) -> str:
    if sort is ReferrerSort.FOLLOWERS:
        return _REACH.format(member="t.referrer_id") if alias == "t" else "k.followers"
    if sort is ReferrerSort.ORDER_AMOUNT:
        # In cents, as the walk ranks them: a float8 sum's last bits depend on the order it added the periods in.
        return f"round(CAST({alias}.order_amount AS numeric), 2)"
    return f"{alias}.{sort.value}"


_QUERIES = {
    sort: text(
        _BOARD.format(
            reach=_REACH.format(member="t.referrer_id"),
            accounts=_ACCOUNTS_JSON.format(member="k.referrer_id"),
            has_provider=_HAS_PROVIDER.format(member="t.referrer_id"),
            order=_order(sort, "t"),
            outer_order=_order(sort, "k"),
        )
    ).bindparams(uuids("offer_keys"))
    for sort in ReferrerSort
}
# One batch of the walk: the next sharers by their window, each with its exact total over the range (n = 0 when
# it has no row in the range: it counts toward the walk's progress, not toward the board). Amounts are summed as
# numeric here, so the stop and the order compare exact cents.
_WALK: dict[ReferrerSort, TextClause] = {
    sort: text(
        f"""
    SELECT w.referrer_id, w.{sort.value} AS bound, t.n, t.shares, t.claims, t.redemptions, t.order_amount
    FROM (
        SELECT w.referrer_id, w.{sort.value}
        FROM stats_referrers w
        WHERE w.brand_id = :brand_id AND w.offer_key = CAST(:offer_key AS uuid) AND w.grain = 'r'
          AND w.period = :window AND {_HAS_PROVIDER.format(member="w.referrer_id")}
        ORDER BY w.{sort.value} DESC, w.referrer_id
        LIMIT :batch OFFSET :walked
    ) AS w
    -- A probe by primary key per sharer and period: one index scan per period with "= ANY" over the batch was
    -- three times slower (bench/stats.py, 90 days).
    CROSS JOIN LATERAL (
        SELECT count(*) AS n, sum(r.shares) AS shares, sum(r.claims) AS claims, sum(r.redemptions) AS redemptions,
               sum(r.order_amount) AS order_amount
        FROM unnest(CAST(:grains AS bpchar[]), CAST(:periods AS date[])) AS p(grain, period)
        JOIN stats_referrers r ON r.brand_id = :brand_id AND r.offer_key = CAST(:offer_key AS uuid)
                              AND r.grain = p.grain AND r.period = p.period AND r.referrer_id = w.referrer_id
    ) AS t
    ORDER BY w.{sort.value} DESC, w.referrer_id
    """
    )
    for sort in (ReferrerSort.CLAIMS, ReferrerSort.REDEMPTIONS, ReferrerSort.ORDER_AMOUNT)
}
_REACH_OF = text(
    f"""
    SELECT m.id AS referrer_id, {_REACH.format(member="m.id")} AS followers,
           {_ACCOUNTS_JSON.format(member="m.id")} AS accounts
    FROM unnest(CAST(:ids AS uuid[])) AS m(id)
    """
).bindparams(uuids("ids"))
_ACCOUNTS = msgspec.json.Decoder(list[SocialReach])


def _accounts(raw: Any) -> list[SocialReach]:
    accounts = raw if isinstance(raw, list) else _ACCOUNTS.decode(raw)
    return [a if isinstance(a, SocialReach) else SocialReach(**a) for a in accounts]


def _row(row: Any) -> ReferrerRow:
    return ReferrerRow(
        member_id=row.referrer_id,
        shares=int(row.shares),
        claims=int(row.claims),
        redemptions=int(row.redemptions),
        order_amount=round(row.order_amount, 2),
        followers=row.followers,
        accounts=_accounts(row.accounts),
    )


@dataclass(frozen=True, slots=True)
class _Sharer:
    referrer_id: uuid.UUID
    shares: int
    claims: int
    redemptions: int
    order_amount: Decimal

    def figure(self, sort: ReferrerSort) -> int | Decimal:
        value: int | Decimal = getattr(self, sort.value)
        return value

    def rank(self, sort: ReferrerSort) -> tuple[Any, ...]:
        # The board's ORDER BY: the figure, then claims, redemptions and shares, all highest first, then the id.
        return (-self.figure(sort), -self.claims, -self.redemptions, -self.shares, self.referrer_id)


def window_of(span: DateRange) -> date | None:
    """The last month of the four-month window holding the range, or None when the range touches more months."""
    first, last = span.start.replace(day=1), span.end.replace(day=1)
    if (last.year - first.year) * 12 + last.month - first.month >= WINDOW_MONTHS:
        return None
    return last


async def _walk(
    session: AsyncSession, sort: ReferrerSort, params: dict[str, Any], window: date, limit: int
) -> list[_Sharer] | None:
    """The board's sharers, ranked, by walking the windows; None when the bound did not stop the walk soon."""
    found: list[_Sharer] = []
    walked = 0
    for times in _BATCHES:
        batch = times * limit
        rows = (await session.execute(_WALK[sort], params | {"window": window, "batch": batch, "walked": walked})).all()
        walked += len(rows)
        found += [
            _Sharer(r.referrer_id, int(r.shares), int(r.claims), int(r.redemptions), r.order_amount)
            for r in rows
            if r.n
        ]
        found.sort(key=lambda s: s.rank(sort))
        del found[limit:]
        if len(rows) < batch:
            return found  # every sharer with a window was walked
        if len(found) == limit and rows[-1].bound < found[-1].figure(sort):
            return found  # no one left has a window, so a total, as high as the last one on the board
    return None


def board_params(
    brand_id: uuid.UUID, span: DateRange, offer_keys: list[uuid.UUID], provider: str | None, limit: int
) -> dict[str, Any]:
    """The statements' parameters; ``offer_key`` is the first offer key, the one a walk reads."""
    spans = cover(span.start, span.end)
    return {
        "brand_id": brand_id,
        "offer_keys": offer_keys,
        "offer_key": offer_keys[0],
        "grains": [g for g, _ in spans],
        "periods": [p for _, p in spans],
        "provider": provider,
        "limit": limit,
    }


async def top_referrers(
    session: AsyncSession,
    brand_id: uuid.UUID,
    span: DateRange,
    offer_keys: list[uuid.UUID],
    *,
    provider: str | None,
    sort: ReferrerSort,
    limit: int,
    walk: bool = True,
) -> list[ReferrerRow]:
    """The board; ``walk=False`` always sums every sharer (the tests compare the two ways)."""
    if not offer_keys:
        return []
    params = board_params(brand_id, span, offer_keys, provider, limit)
    window = window_of(span)
    if (
        walk
        and window is not None
        and span.days >= WALK_MIN_DAYS
        and sort in _WALK
        and len(offer_keys) == 1
        and limit <= WALK_LIMIT
    ):
        found = await _walk(session, sort, params, window, limit)
        if found is not None:
            return await _with_reach(session, brand_id, found)
    return [_row(r) for r in await session.execute(_QUERIES[sort], params)]


async def _with_reach(session: AsyncSession, brand_id: uuid.UUID, found: list[_Sharer]) -> list[ReferrerRow]:
    if not found:
        return []
    reach = {
        r.referrer_id: r
        for r in await session.execute(_REACH_OF, {"brand_id": brand_id, "ids": [s.referrer_id for s in found]})
    }
    return [
        ReferrerRow(
            member_id=s.referrer_id,
            shares=s.shares,
            claims=s.claims,
            redemptions=s.redemptions,
            order_amount=round(float(s.order_amount), 2),
            followers=reach[s.referrer_id].followers,
            accounts=_accounts(reach[s.referrer_id].accounts),
        )
        for s in found
    ]
