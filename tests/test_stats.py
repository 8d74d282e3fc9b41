"""Marketer stats: every figure of a known history by hand, through every route and filter; rebuilt equals
incremental; CSV equals JSON; manager scope; brand-local days and store-local hours; bad ranges."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from solomo.stats.csv_response import csv_lines
from solomo.stats.funnel import quantiles
from solomo.stats.rollups import rebuild_brand
from tests.cli import run_solomo_async
from tests.conftest import BrandContext
from tests.coupon_helpers import Shop, open_shop, scalar
from tests.scenes import PARIS
from tests.test_claims import friend

ROUTES = ("daily", "hourly", "stores", "offers", "campaigns")
PLACE_FIGURES = ("checkins", "checkins_flagged", "new_members")


def _window() -> dict[str, str]:
    # Scene clocks run from two hours ago, so a history may straddle midnight: ask for yesterday and today.
    today = datetime.now(UTC).date()
    return {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}


async def stats(brand: BrandContext, route: str, headers: dict[str, str] | None = None, /, **params: Any) -> Any:
    answer = await brand.client.get(f"/v1/stats/{route}", params=_window() | params, headers=headers or brand.admin)
    assert answer.status_code == 200, (answer.status_code, answer.headers, answer.text)
    return answer.json()


def total(items: list[dict[str, Any]], field: str) -> Any:
    values = [i[field] for i in items]
    return None if values and all(v is None for v in values) else sum(v or 0 for v in values)


class History:
    """Member A checks in away from any store, then at the shop (enter: an impression), claims, redeems for
    12.50, has it voided, redeems again for 20; a mocked check-in at the shop is flagged. A shares the offer;
    member B, who never checked in, claims through the share code and redeems at the shop with no amount."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.brand = shop.brand
        self.store_id = shop.scene.store["id"]
        self.offer_id = shop.offer["id"]
        self.campaign_id = shop.campaign["id"]
        self.member_a = shop.scene.member["id"]


async def make_history(brand: BrandContext) -> History:
    shop = await open_shop(brand, shareable=True)  # A: one check-in away, one entering the shop's fence
    coupon = await shop.claimed()
    first = await shop.redeem(coupon["code"], order_amount=12.5)
    assert first.status_code == 201, first.text
    voided = await brand.client.post(f"/v1/redemptions/{first.json()['id']}/void", json={}, headers=brand.admin)
    assert voided.status_code == 200, voided.text
    assert (await shop.redeem(coupon["code"], order_amount=20)).status_code == 201
    flagged = await shop.scene.checkin(*PARIS, mocked=True)
    assert (flagged.status_code, flagged.json()["flags"]) == (201, ["mocked"]), flagged.text

    share = await brand.client.post(f"/v1/offers/{shop.offer['id']}/shares", headers=shop.scene.headers)
    assert share.status_code == 201, share.text
    b = await friend(shop)
    shared = await shop.claim(headers=b, share_code=share.json()["code"])
    assert shared.status_code == 201, shared.text
    assert (await shop.redeem(shared.json()["code"])).status_code == 201
    return History(shop)


BRAND_WIDE = {
    "checkins": 2,
    "checkins_flagged": 1,
    "new_members": 1,
    "impressions": 1,
    "claims": 2,
    "redemptions": 2,
    "voids": 1,
    "claim_rate": 2.0,
    "redemption_rate": 1.0,
    "unique_members": 2,
    # Both redemptions came within a minute of their claims: bucket [0, 60 s), interpolated.
    "median_claim_to_redeem_s": 30.0,
    "p90_claim_to_redeem_s": 54.0,
    "referred_claims": 1,
    "referred_redemptions": 1,
    "order_amount": 20.0,
}
#: At the shop: A's check-in there (not the one away), A's claim (B's came through a share code, with no
#: visit), both redemptions, A's flagged check-in (it fell in the shop's fence).
AT_THE_SHOP = BRAND_WIDE | {"checkins": 1, "claims": 1, "claim_rate": 1.0, "redemption_rate": 2.0, "referred_claims": 0}
#: Offer rows have no place figures.
FOR_THE_OFFER = BRAND_WIDE | dict.fromkeys(PLACE_FIGURES)


def figures_of(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in BRAND_WIDE}


async def test_every_figure_through_every_route(brand: BrandContext) -> None:
    h = await make_history(brand)

    daily = await stats(brand, "daily")
    additive = [f for f in BRAND_WIDE if f not in ("claim_rate", "redemption_rate", "unique_members")]
    additive = [f for f in additive if "claim_to_redeem" not in f]
    assert {f: total(daily["items"], f) for f in additive} == {f: BRAND_WIDE[f] for f in additive}
    assert daily["estimated"] == ["unique_members", "median_claim_to_redeem_s", "p90_claim_to_redeem_s"]

    stores = await stats(brand, "stores")
    assert [(r["store_id"], r["store_name"]) for r in stores["items"]] == [(h.store_id, h.shop.scene.store["name"])]
    assert figures_of(stores["items"][0]) == AT_THE_SHOP

    offers = await stats(brand, "offers")
    assert [(r["offer_id"], r["campaign_id"]) for r in offers["items"]] == [(h.offer_id, h.campaign_id)]
    assert figures_of(offers["items"][0]) == FOR_THE_OFFER

    campaigns = await stats(brand, "campaigns")
    assert [r["campaign_id"] for r in campaigns["items"]] == [h.campaign_id]
    assert figures_of(campaigns["items"][0]) == FOR_THE_OFFER

    # Filters land on the same figures: the offer, its campaign, the store.
    for params, expected in (
        ({"offer_id": h.offer_id}, FOR_THE_OFFER),
        ({"campaign_id": h.campaign_id}, FOR_THE_OFFER),
        ({"store_id": h.store_id}, AT_THE_SHOP),
    ):
        for route in ("stores", "offers", "campaigns"):
            rows = (await stats(brand, route, **params))["items"]
            if route == "stores" and "store_id" not in params:
                # The offer at the shop: no place figures, and only what happened there.
                assert figures_of(rows[0]) == AT_THE_SHOP | dict.fromkeys(PLACE_FIGURES), params
                continue
            if route != "stores" and "store_id" in params:
                assert figures_of(rows[0]) == AT_THE_SHOP | dict.fromkeys(PLACE_FIGURES), params
                continue
            assert figures_of(rows[0]) == expected, (route, params)
        hourly = (await stats(brand, "hourly", **params))["items"]
        assert total(hourly, "redemptions") == expected["redemptions"]
        assert total(hourly, "claims") == expected["claims"]

    hourly = await stats(brand, "hourly")
    assert total(hourly["items"], "checkins") == 2
    assert all(0 <= r["hour"] <= 23 for r in hourly["items"])

    board = await stats(brand, "referrers")
    assert board["items"] == [
        {
            "member_id": h.member_a,
            "shares": 1,
            "claims": 1,
            "redemptions": 1,
            "order_amount": 0.0,
            "followers": None,
            "accounts": [],
        }
    ]


async def test_rebuilt_equals_incremental(brand: BrandContext, engine: Any) -> None:
    h = await make_history(brand)
    # A check-in recorded three hours before the member's first one arrives late: the first visit moves.
    late = await h.shop.scene.checkin(
        *PARIS, after_s=0, recorded_at=(datetime.now(UTC) - timedelta(hours=5)).isoformat()
    )
    assert late.status_code == 201, late.text
    await brand.client.get("/v1/stats/daily", headers=brand.admin)  # folds the journal

    tables = {
        "stats_rollup": "store_key, offer_key, grain, period",
        "stats_hourly": "store_key, offer_key, grain, period, hour",
        "stats_referrers": "offer_key, grain, period, referrer_id",
        "heatmap_cells": "rung, grain, period, i, j",
    }

    async def snapshot() -> dict[str, list[Any]]:
        out = {}
        async with brand.sessions() as session:
            for table, order in tables.items():
                rows = await session.execute(
                    text(
                        f"SELECT to_jsonb(t) - 'members' AS r,"
                        f" CASE WHEN '{table}' = 'stats_referrers' THEN NULL"
                        f" ELSE hll_cardinality((to_jsonb(t)->>'members')::hll) END AS members"
                        f" FROM {table} t WHERE brand_id = :b ORDER BY {order}"
                    ),
                    {"b": brand.id},
                )
                out[table] = [(r.r, r.members) for r in rows]
        return out

    incremental = await snapshot()
    assert len(incremental["stats_rollup"]) > 10
    # Verified check-ins at the shop and away from it: on every one of the 21 rungs, day and month rows. (How many
    # cells depends on where the points fall on each grid and on which brand-local days: the coarse rungs put both
    # places in one cell, and the late check-in may or may not be on another day.)
    assert {(r["rung"], r["grain"]) for r, _ in incremental["heatmap_cells"]} == {
        (rung, grain) for rung in range(21) for grain in ("d", "m")
    }
    assert await scalar(brand, "SELECT count(*) FROM stats_pending WHERE brand_id = :b", b=brand.id) == 0
    await rebuild_brand(engine, brand.id)
    assert await snapshot() == incremental

    daily = await stats(brand, "daily")
    assert total(daily["items"], "new_members") == 1  # still one new member, now on the earlier check-in
    assert total(daily["items"], "checkins") == 3


async def test_csv_has_the_json_rows(brand: BrandContext) -> None:
    await make_history(brand)
    for route, keys in (
        ("daily", ["day"]),
        ("hourly", ["hour"]),
        ("stores", ["store_id", "store_name"]),
        ("offers", ["offer_id", "offer_title", "campaign_id"]),
        ("campaigns", ["campaign_id", "campaign_name"]),
    ):
        page = await stats(brand, route)
        answer = await brand.client.get(
            f"/v1/stats/{route}", params=_window(), headers=brand.admin | {"Accept": "text/csv"}
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv"), (route, answer.request.headers, answer.text[:300])
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0] == keys + list(BRAND_WIDE)
        expected = [[_csv(item[c]) for c in rows[0]] for item in page["items"]]
        assert rows[1:] == expected, route
    board = await brand.client.get(
        "/v1/stats/referrers", params=_window(), headers=brand.admin | {"Accept": "text/csv"}
    )
    lines = list(csv.reader(io.StringIO(board.text)))
    assert lines[0] == ["member_id", "shares", "claims", "redemptions", "order_amount", "followers", "providers"]
    assert lines[1][1:4] == ["1", "1", "1"]


async def execute(brand: BrandContext, sql: str, **params: Any) -> None:
    async with brand.sessions() as session, session.begin():
        await session.execute(text(sql), params)


def _csv(value: Any) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


async def test_managers_see_their_stores_only(brand: BrandContext) -> None:
    h = await make_history(brand)
    other = await brand.store(2.40, 48.90, name="Elsewhere")
    mine = brand.bearer(await brand.key("manager", [uuid.UUID(h.store_id)]))
    theirs = brand.bearer(await brand.key("manager", [uuid.UUID(other["id"])]))

    assert [r["store_id"] for r in (await stats(brand, "stores", mine))["items"]] == [h.store_id]
    daily = (await stats(brand, "daily", mine))["items"]
    assert total(daily, "checkins") == 1  # the shop's, not the brand's two
    assert total(daily, "claims") == 1
    offers = (await stats(brand, "offers", mine))["items"]
    assert figures_of(offers[0]) == AT_THE_SHOP | dict.fromkeys(PLACE_FIGURES)

    assert (await stats(brand, "stores", theirs))["items"] == []
    assert (await stats(brand, "offers", theirs))["items"] == []
    refused = await brand.client.get("/v1/stats/daily", params={"store_id": h.store_id}, headers=theirs)
    assert (refused.status_code, refused.json()["code"]) == (403, "store_out_of_scope")
    board = await brand.client.get("/v1/stats/referrers", headers=mine)
    assert board.status_code == 403
    marketer = brand.bearer(await brand.key("marketer"))
    assert figures_of((await stats(brand, "stores", marketer))["items"][0]) == AT_THE_SHOP


async def test_brand_local_days_and_store_local_hours(brand: BrandContext) -> None:
    shop = await open_shop(brand, eligible=False)
    await brand.client.patch("/v1/brand", json={"timezone": "Europe/Paris"}, headers=brand.admin)
    ny = await brand.store(-74.0, 40.7, name="New York", timezone="America/New_York")
    member = shop.scene.member["id"]
    # 22:30 UTC on 15 January is 23:30 in Paris (that day) and 17:30 in New York; 23:30 UTC is the 16th in Paris.
    for at in (datetime(2026, 1, 15, 22, 30, tzinfo=UTC), datetime(2026, 1, 15, 23, 30, tzinfo=UTC)):
        await execute(
            brand,
            "INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, offer_id, member_id, amount,"
            " wait_s) VALUES (:b, 'redeem', 1, :at, true, ARRAY[CAST(:s AS uuid)], CAST(:o AS uuid), CAST(:m AS uuid), 5,"
            " 4000)",
            b=brand.id,
            at=at,
            s=ny["id"],
            o=shop.offer["id"],
            m=member,
        )
    window = {"from": "2026-01-15", "to": "2026-01-16"}
    daily = (await stats(brand, "daily", **window))["items"]
    assert [(r["day"], r["redemptions"], r["order_amount"]) for r in daily] == [
        ("2026-01-15", 1, 5.0),
        ("2026-01-16", 1, 5.0),
    ]
    # 4,000 s lies in the [3,600, 7,200) bucket: the median of two is interpolated halfway into it.
    assert daily[0]["median_claim_to_redeem_s"] == 3600 + 3600 * 0.5
    # The range's total (what the console's funnel shows): counts summed, the same member counted once.
    whole_range = (await stats(brand, "daily", **window))["total"]
    assert [d["unique_members"] for d in daily] == [1, 1]
    assert (whole_range["redemptions"], whole_range["order_amount"], whole_range["unique_members"]) == (2, 10.0, 1)
    assert whole_range["redemption_rate"] is None  # no claims in the range
    brand_hours = (await stats(brand, "hourly", **window))["items"]
    assert [(r["hour"], r["redemptions"]) for r in brand_hours] == [(0, 1), (23, 1)]
    store_hours = (await stats(brand, "hourly", store_id=ny["id"], **window))["items"]
    assert [(r["hour"], r["redemptions"]) for r in store_hours] == [(17, 1), (18, 1)]
    # The 16th alone, and a range that ends on the 15th.
    assert [r["day"] for r in (await stats(brand, "daily", **{"from": "2026-01-16", "to": "2026-01-16"}))["items"]] == [
        "2026-01-16"
    ]
    whole = (await stats(brand, "stores", **{"from": "2025-12-01", "to": "2026-01-15"}))["items"]
    assert [(r["store_name"], r["redemptions"]) for r in whole] == [("New York", 1)]


async def test_empty_and_bad_ranges(brand: BrandContext) -> None:
    for route in (*ROUTES, "referrers"):
        empty = await stats(brand, route, **{"from": "2001-01-01", "to": "2001-12-31"})
        assert empty["items"] == [], route
        if route == "daily":
            assert (empty["total"]["checkins"], empty["total"]["redemptions"], empty["total"]["unique_members"]) == (
                0,
                0,
                0,
            )
    today = date.today()
    for params, field in (
        ({"from": str(today), "to": str(today - timedelta(days=1))}, "to"),
        ({"from": str(today - timedelta(days=400)), "to": str(today)}, "to"),
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "9999-12-31"}, "from"),  # the default end would overflow past date.max
        ({"to": "0001-01-01"}, "to"),
        ({"offer_id": "not-a-uuid"}, "offer_id"),
    ):
        answer = await brand.client.get("/v1/stats/daily", params=params, headers=brand.admin)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.json()["errors"][0]["field"] == field, answer.json()
    longest = await brand.client.get(
        "/v1/stats/offers", params={"from": str(today - timedelta(days=399)), "to": str(today)}, headers=brand.admin
    )
    assert longest.status_code == 200
    unknown = await brand.client.get("/v1/stats/daily", params={"offer_id": str(uuid.uuid4())}, headers=brand.admin)
    assert unknown.status_code == 404
    bad_provider = await brand.client.get("/v1/stats/referrers", params={"provider": "myspace"}, headers=brand.admin)
    assert (bad_provider.status_code, bad_provider.json()["errors"][0]["field"]) == (422, "provider")


async def test_reads_do_not_wait_for_a_rebuild(brand: BrandContext, engine: Any) -> None:
    """While something holds the brand's fold lock for long (a rebuild), reads answer from the rollups as they
    are, after a bounded wait, and the journal is folded by the first read after it lets go."""
    h = await make_history(brand)
    before = await stats(brand, "daily")
    assert total(before["items"], "checkins_flagged") == 1
    assert (await h.shop.scene.checkin(*PARIS, mocked=True)).status_code == 201  # journalled, not yet folded

    async with engine.connect() as holder:
        lock = "SELECT pg_advisory_lock(20261123, hashtext(CAST(CAST(:b AS uuid) AS text)))"
        await holder.execute(text(lock), {"b": brand.id})
        await holder.commit()
        # Held at session level, as rebuild_brand holds it: the read must come back while it is still held.
        during = await asyncio.wait_for(stats(brand, "daily"), timeout=60)
        assert during["items"] == before["items"]
        assert await scalar(brand, "SELECT solomo_stats_fold(:b, 0)", b=brand.id) is None  # busy: not folded
        await holder.execute(text(lock.replace("pg_advisory_lock", "pg_advisory_unlock")), {"b": brand.id})
        await holder.commit()

    after = await stats(brand, "daily")
    assert total(after["items"], "checkins_flagged") == 2
    assert total(after["items"], "checkins") == total(before["items"], "checkins")
    # Nothing journalled: the fold returns at once with 0, even while another session holds the lock.
    async with engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(20261123, hashtext(CAST(CAST(:b AS uuid) AS text)))"),
                             {"b": brand.id})  # fmt: skip
        assert await scalar(brand, "SELECT solomo_stats_fold(:b, 0)", b=brand.id) == 0


def test_claim_to_redeem_quantiles_from_buckets() -> None:
    # Buckets w00 [0, 60 s), w01 [60, 300), …, w15 [7,776,000 s, ∞).
    none = [0] * 16
    assert quantiles(none) == [None, None]
    one_early = [0] * 16
    one_early[1] = 4  # four redemptions between 1 and 5 minutes after the claim
    # rank 2 of 4 lies halfway into [60, 300): 180; rank 3.6 at 90 %: 60 + 240 · 0.9 = 276.
    assert quantiles(one_early) == [180.0, 276.0]
    spread = [0] * 16
    spread[0], spread[4], spread[15] = 5, 4, 1  # 5 under a minute, 4 in [1,800, 3,600), 1 after 90 days
    # the median (rank 5) is the top of the first bucket; p90 (rank 9) the top of [1,800, 3,600).
    assert quantiles(spread) == [60.0, 3600.0]
    last = [0] * 16
    last[15] = 3  # only the open-ended bucket: its lower bound
    assert quantiles(last) == [7776000.0, 7776000.0]


async def test_csv_goes_out_in_batches_of_rows() -> None:
    async def numbers() -> Any:
        for i in range(1_200):
            yield [i, i * 0.5, None]

    for rows in (numbers(), [[i, i * 0.5, None] for i in range(1_200)]):
        chunks = [chunk async for chunk in csv_lines(["n", "half", "none"], rows)]
        assert len(chunks) == 3  # the header and 499 rows, 500 rows, 201 rows: not one message per row
        parsed = list(csv.reader(io.StringIO("".join(chunks))))
        assert parsed[0] == ["n", "half", "none"]
        assert parsed[1:] == [[str(i), repr(i * 0.5), ""] for i in range(1_200)]


async def test_boards_come_in_pages_in_name_order(brand: BrandContext) -> None:
    shop = await open_shop(brand, eligible=False)
    names = ["Cedar", "alder", "Birch", "Ash"]  # sorted by the database's collation, then id
    stores = [await brand.store(2.30 + i / 100, 48.85, name=name) for i, name in enumerate(names)]
    idle = await brand.store(2.40, 48.80, name="Aardvark (nothing happened here)")
    for store in stores:
        await execute(
            brand,
            "INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, offer_id, member_id)"
            " VALUES (:b, 'claim', 1, now(), true, ARRAY[CAST(:s AS uuid)], CAST(:o AS uuid), CAST(:m AS uuid))",
            b=brand.id,
            s=store["id"],
            o=shop.offer["id"],
            m=shop.scene.member["id"],
        )
    everything = (await stats(brand, "stores"))["items"]
    order = [r["store_name"] for r in everything]
    assert sorted(order) == sorted(names)
    assert idle["name"] not in order
    walked, cursor, pages = [], None, 0
    while True:
        page = await stats(brand, "stores", limit=3, **({"cursor": cursor} if cursor else {}))
        walked += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (pages, walked) == (2, everything)  # 3 then 1, no repeats, no gaps, the same order
    assert (await stats(brand, "stores", limit=4))["next_cursor"] is None  # exactly a page: no empty next one
    # CSV without a limit has every row; with one, the page.
    answer = await brand.client.get("/v1/stats/stores", params=_window(), headers=brand.admin | {"Accept": "text/csv"})
    assert [line[1] for line in csv.reader(io.StringIO(answer.text))][1:] == order
    answer = await brand.client.get(
        "/v1/stats/stores", params=_window() | {"limit": 1}, headers=brand.admin | {"Accept": "text/csv"}
    )
    assert [line[1] for line in csv.reader(io.StringIO(answer.text))][1:] == order[:1]
    offers = await stats(brand, "offers", limit=1)
    assert [r["offer_id"] for r in offers["items"]] == [shop.offer["id"]]
    assert offers["next_cursor"] is None
    campaigns = await stats(brand, "campaigns", limit=1)
    assert [r["campaign_id"] for r in campaigns["items"]] == [shop.campaign["id"]]
    assert campaigns["items"][0]["claims"] == len(names)

    forged = base64.urlsafe_b64encode(b'["a\\u0000b", "%s"]' % str(uuid.uuid4()).encode()).decode()
    for bad in ("nonsense", forged):
        refused = await brand.client.get("/v1/stats/stores", params={"cursor": bad}, headers=brand.admin)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["errors"][0]["field"] == "cursor", (bad, refused.text)
    too_many = await brand.client.get("/v1/stats/offers", params={"limit": 501}, headers=brand.admin)
    assert (too_many.status_code, too_many.json()["errors"][0]["field"]) == (422, "limit")


async def test_rebuild_stats_from_the_command_line(brand: BrandContext, database_url: str) -> None:
    await make_history(brand)
    # The brand's time zone changes: the figures move to its new days only once the rollups are rebuilt.
    before = await stats(brand, "daily")
    assert (
        await brand.client.patch("/v1/brand", json={"timezone": "Pacific/Kiritimati"}, headers=brand.admin)
    ).is_success
    started = await scalar(brand, "SELECT now()")
    done = await run_solomo_async(database_url, "maintenance", "rebuild-stats", "--brand", str(brand.id))
    assert done.returncode == 0, done.stderr
    assert f"brand {brand.id}: rebuilt from " in done.stdout
    # The rollups were vacuumed and analyzed after the rebuild, not left to autovacuum.
    vacuumed = await scalar(
        brand,
        "SELECT count(*) FROM pg_stat_user_tables WHERE last_vacuum >= :t AND last_analyze >= :t"
        " AND relname IN ('stats_rollup', 'stats_hourly', 'stats_referrers')",
        t=started,
    )
    assert vacuumed == 3
    after = await stats(
        brand, "daily", **{"from": str(date.today() - timedelta(days=2)), "to": str(date.today() + timedelta(days=2))}
    )
    assert total(after["items"], "claims") == total(before["items"], "claims")
    # The history's events lie within the last three hours (scene clocks start two hours back): their days at UTC+14.
    kiritimati = ZoneInfo("Pacific/Kiritimati")
    now = datetime.now(UTC)
    expected = {str((now - timedelta(hours=3)).astimezone(kiritimati).date()), str(now.astimezone(kiritimati).date())}
    assert {item["day"] for item in after["items"]} <= expected
    refused = await run_solomo_async(database_url, "maintenance", "rebuild-stats", "--brand", "not-a-uuid")
    assert refused.returncode != 0
    assert "--brand" in refused.stderr
