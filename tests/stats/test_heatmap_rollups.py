"""The heatmap's rollup (heatmap_cells, solomo/stats/heatmap_cells.py): it answers exactly as raw check-ins do on the
same grid, keeps k-anonymity over the union of its periods, snaps cell_m to the ladder, folds each check-in once
(late ones into their own day, flagged ones not at all), and the rebuild equals the journal."""

from __future__ import annotations

import itertools
import math
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text

from solomo.stats.heatmap import heatmap_grid
from solomo.stats.heatmap_cells import Grid, heatmap_cells, months_and_days, nearest_rung, rung_size
from solomo.stats.ranges import DateRange
from solomo.stats.rollups import rebuild_brand
from tests.conftest import BrandContext
from tests.test_stats_heatmap import PLACES, Row, box, counts, heatmap, insert, members, polygon, set_k

GEOD = Geod(ellps="WGS84")
# Kiritimati is UTC+14 and Pago Pago UTC-11: a brand-local day there is most of another UTC day.
FAR_ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago")


async def set_timezone(brand: BrandContext, zone: str) -> None:
    answer = await brand.client.patch("/v1/brand", json={"timezone": zone}, headers=brand.admin)
    assert answer.status_code == 200, answer.text


async def both_ways(brand: BrandContext, grid: Grid, span: DateRange) -> tuple[list[Any], list[Any]]:
    """The cells from the rollup and from raw check-ins, as comparable tuples (geometry included)."""
    async with brand.sessions() as session:
        k_rollup, rollup = await heatmap_cells(session, brand.id, grid, span)
        k_raw, raw = await heatmap_cells(session, brand.id, grid, span, raw=True)
    assert k_rollup == k_raw
    return [tuple(r) for r in rollup], [tuple(r) for r in raw]


def local(zone: str, stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize("zone", FAR_ZONES)
async def test_the_rollup_answers_as_raw_checkins_do(brand: BrandContext, zone: str) -> None:
    """Random check-ins over two and a half months around Paris, some flagged and some purged to their coarse point,
    plus some a minute either side of the brand-local midnights where the ranges begin and end; for boxes that cut
    through them and ranges of whole months, months with edge days and single days, on three rungs, the rollup's
    cells are the raw rows' cells: same hexagons, same counts, same members."""
    await set_timezone(brand, zone)
    rng = random.Random(19)
    people = await members(brand, 8)
    lon, lat = PLACES["paris"]
    start = local(zone, "2025-01-20T00:00:00")
    rows = [
        Row(
            rng.choice(people[:5]) if rng.random() < 0.7 else rng.choice(people),
            lon + rng.uniform(-0.03, 0.03),
            lat + rng.uniform(-0.02, 0.02),
            start + timedelta(seconds=rng.uniform(0, 80 * 86_400)),
            flags=("mocked",) if rng.random() < 0.1 else (),
            purged=rng.random() < 0.2,
        )
        for _ in range(600)
    ]
    # A minute either side of the local midnights that open and close the ranges below.
    for stamp in ("2025-01-25T00:00:00", "2025-02-01T00:00:00", "2025-03-01T00:00:00", "2025-03-06T00:00:00"):
        for minute in (-1, 1):
            at = local(zone, stamp) + timedelta(minutes=minute)
            rows += [Row(m, lon + 0.001 * n, lat, at) for n, m in enumerate(people[:3])]
    await insert(brand, rows)
    await set_k(brand, 2)

    boxes = {
        "all of it": box(lon, lat, 0.04),
        "cutting through": f"{lon - 0.011},{lat - 0.007},{lon + 0.013},{lat + 0.009}",
        "a corner": f"{lon + 0.02},{lat + 0.01},{lon + 0.05},{lat + 0.04}",
    }
    ranges = [
        (date(2025, 2, 1), date(2025, 2, 28)),  # one whole month: one month row per cell
        (date(2025, 1, 25), date(2025, 3, 5)),  # edge days, February, edge days
        (date(2025, 1, 31), date(2025, 4, 1)),  # a day, two months, a day
        (date(2025, 3, 6), date(2025, 3, 6)),  # one day
        (date(2025, 1, 1), date(2025, 12, 31)),  # the year: months only
    ]
    compared = 0
    for (name, bbox), (first, last), cell_m in itertools.product(boxes.items(), ranges, (200, 500, 2000)):
        grid = heatmap_grid(bbox, cell_m)
        assert grid.from_rollups
        rollup, raw = await both_ways(brand, grid, DateRange(first, last, zone))
        assert rollup == raw, (name, first, last, cell_m)
        compared += len(rollup)
    assert compared > 300, "the comparisons had cells to compare"

    # The midnights: a check-in a minute before a local midnight is in the day before it, a minute after in the day
    # after, on every rung.
    async with brand.sessions() as session:
        for day in (date(2025, 1, 24), date(2025, 1, 25), date(2025, 2, 28), date(2025, 3, 1), date(2025, 3, 5)):
            params = {"b": brand.id, "zone": zone, "day": day}
            expected = await session.scalar(
                text(
                    "SELECT count(*) FROM checkins WHERE brand_id = :b AND flags = '{}'"
                    " AND (recorded_at AT TIME ZONE :zone)::date = :day"
                ),
                params,
            )
            by_rung = await session.execute(
                text(
                    "SELECT rung, sum(checkins) FROM heatmap_cells"
                    " WHERE brand_id = :b AND grain = 'd' AND period = :day GROUP BY rung"
                ),
                params,
            )
            assert dict(tuple(r) for r in by_rung) == dict.fromkeys(range(21), expected), day
            assert expected > 0


async def test_k_anonymity_holds_on_the_union_of_days_and_months(brand: BrandContext) -> None:
    """k = 3. A cell with 3 check-ins by 2 members over two days (a and b, then a again), and a fourth by a in the
    next month, is left out of every range, though each day's or month's members add up to 3; a cell whose 3 members
    came in two different months is shown for a range holding both (months and days alike), not for either alone."""
    lon, lat = PLACES["paris"]
    a, b, c = await members(brand, 3)
    spread = (lon + 0.02, lat)

    def at(stamp: str) -> datetime:
        return local("Europe/Paris", stamp)

    await insert(
        brand,
        [
            Row(a, lon, lat, at("2025-01-10T12:00:00")),
            Row(b, lon, lat, at("2025-01-10T13:00:00")),
            Row(a, lon, lat, at("2025-01-11T12:00:00")),
            Row(a, lon, lat, at("2025-02-03T12:00:00")),
            Row(a, *spread, at("2025-01-05T12:00:00")),
            Row(b, *spread, at("2025-01-20T12:00:00")),
            Row(c, *spread, at("2025-02-14T12:00:00")),
        ],
    )
    await set_k(brand, 3)
    bbox = box(lon, lat, 0.05)

    for first, last in (("2025-01-10", "2025-01-11"), ("2025-01-01", "2025-01-31"), ("2025-01-01", "2025-02-28")):
        shown = (await heatmap(brand, {"bbox": bbox, "from": first, "to": last}))["features"]
        assert not any(polygon(f).contains(shapely.Point(lon, lat)) for f in shown), (first, last)

    # Two whole months (month rows), and days of January and February (day rows): a, b and c.
    for first, last in (("2025-01-01", "2025-02-28"), ("2025-01-05", "2025-02-14")):
        [cell] = (await heatmap(brand, {"bbox": bbox, "from": first, "to": last}))["features"]
        assert polygon(cell).contains(shapely.Point(*spread))
        assert counts(cell) == (3, 3)
    # January's days from the 15th (b) and February's month row (c); January alone (a, b); February alone (c).
    for first, last in (("2025-01-15", "2025-02-28"), ("2025-01-01", "2025-01-31"), ("2025-02-01", "2025-02-28")):
        assert (await heatmap(brand, {"bbox": bbox, "from": first, "to": last}))["features"] == [], (first, last)

    await set_k(brand, 2)
    [cell] = (await heatmap(brand, {"bbox": bbox, "from": "2025-01-15", "to": "2025-02-28"}))["features"]
    assert counts(cell) == (2, 2)


def test_cell_m_snaps_to_the_nearest_rung_in_log_scale() -> None:
    assert [round(rung_size(k), 1) for k in (0, 1, 2, 5, 20)] == [100.0, 141.4, 200.0, 565.7, 102_400.0]
    # At the equator a ground metre is a Mercator metre: 459.5 m is 4.4 half-octaves above 100 m, 492.5 m is 4.6.
    assert nearest_rung(100 * math.sqrt(2) ** 4.4) == 4
    assert nearest_rung(100 * math.sqrt(2) ** 4.6) == 5
    assert nearest_rung(100 * math.sqrt(2) ** -1.2) == -1  # off the ladder: raw rows
    grid = heatmap_grid("10,-0.1,10.2,0.1", 450)
    assert (grid.rung, grid.cell_m, grid.from_rollups) == (4, 400.0, True)
    grid = heatmap_grid("10,59.9,10.2,60.1", 230)  # cos 60° = 0.5: 460 Mercator metres, 4.4 half-octaves
    assert (grid.rung, grid.cell_m) == (4, 200.0)
    assert heatmap_grid("10,59.9,10.2,60.1", 250).rung == 5  # 500 Mercator metres, 4.64 half-octaves
    assert heatmap_grid("10,-0.01,10.02,0.01", 60).rung == -1
    assert not heatmap_grid("10,-0.01,10.02,0.01", 60).from_rollups
    assert heatmap_grid("10,80,11,80.5", 50_000).rung == 23  # 295 km Mercator: beyond the ladder's 102.4 km


def test_the_index_bounds_hold_every_hexagon_that_touches_the_box() -> None:
    rng = random.Random(3)
    for _ in range(40):
        minlon, minlat = rng.uniform(-179, 170), rng.uniform(-80, 75)
        bbox = (minlon, minlat, minlon + rng.uniform(0.001, 0.5), minlat + rng.uniform(0.001, 0.5))
        grid = Grid(bbox, rng.randrange(0, 21))
        i0, i1, j0, j1 = grid.index_bounds()
        xmin, ymin, xmax, ymax = grid.mercator_box
        rect = shapely.box(xmin, ymin, xmax, ymax)
        s, h = grid.size, grid.size * math.sqrt(3)
        # Every hexagon in a ring well beyond the bounds, and inside them, tested against the box.
        for i in range(i0 - 3, i1 + 4):
            for j in range(j0 - 3, j1 + 4):
                cx, cy = 1.5 * s * i, h * (j + (i % 2) / 2)
                hexagon = shapely.Polygon(
                    [(cx + s * math.cos(a), cy + s * math.sin(a)) for a in (math.radians(60 * n) for n in range(6))]
                )
                if hexagon.intersects(rect):
                    assert i0 < i < i1, (bbox, grid.rung, i, j)
                    assert j0 < j < j1, (bbox, grid.rung, i, j)


def test_a_range_reads_its_whole_months_and_the_days_around_them() -> None:
    months, days = months_and_days(date(2025, 1, 30), date(2025, 4, 2))
    assert months == [date(2025, 2, 1), date(2025, 3, 1)]
    assert days == [date(2025, 1, 30), date(2025, 1, 31), date(2025, 4, 1), date(2025, 4, 2)]
    assert months_and_days(date(2025, 2, 1), date(2025, 2, 27)) == ([], [date(2025, 2, d) for d in range(1, 28)])
    assert months_and_days(date(2024, 12, 1), date(2025, 1, 31)) == ([date(2024, 12, 1), date(2025, 1, 1)], [])


async def test_answers_give_the_rung_they_snapped_to(brand: BrandContext) -> None:
    """Asked for 430 m and for 470 m at the equator, the same 400 m hexagons come back (rung 4: 4.21 and 4.47
    half-octaves above 100 m), 500 m (4.64) gives rung 5's 565.7 m; each answer says its size, and its hexagons'
    edges are that long. A size off the ladder (60 m) is counted from raw rows, at rung -1's 70.7 m."""
    lon, lat = 10.1, 0.0
    a, b = await members(brand, 2)
    await insert(brand, [Row(m, lon, lat) for m in (a, b)])
    await set_k(brand, 2)
    bbox = box(lon, lat, 0.01)
    answers = {cell_m: await heatmap(brand, {"bbox": bbox, "cell_m": str(cell_m)}) for cell_m in (430, 470, 500, 60)}
    assert {cell_m: body["cell_m"] for cell_m, body in answers.items()} == {
        430: 400.0,
        470: 400.0,
        500: 565.7,
        60: 70.7,
    }
    assert answers[430]["features"] == answers[470]["features"]
    for body in answers.values():
        [cell] = body["features"]
        assert counts(cell) == (2, 2)
        ring = cell["geometry"]["coordinates"][0]
        for (lon1, lat1), (lon2, lat2) in itertools.pairwise(ring):
            # Mercator's sphere against the ellipsoid: edges along a meridian are 0.7 % shorter at the equator.
            assert GEOD.inv(lon1, lat1, lon2, lat2)[2] == pytest.approx(body["cell_m"], rel=0.01)


async def snapshot(brand: BrandContext) -> list[tuple[Any, ...]]:
    async with brand.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT rung, grain, period, i, j, checkins, hll_cardinality(members) FROM heatmap_cells"
                " WHERE brand_id = :b ORDER BY rung, grain, period, i, j"
            ),
            {"b": brand.id},
        )
        return [tuple(r) for r in rows]


async def test_the_fold_counts_each_verified_checkin_once_and_the_rebuild_agrees(
    brand: BrandContext, engine: Any
) -> None:
    """Check-ins posted through the API (two members, three places, one of them mocked, so flagged): once folded,
    every rung's day rows and month rows add up to the verified check-ins; folding again adds nothing; the mocked
    check-in's place has no cell; and rebuilding from the raw rows gives the same rows."""
    lon, lat = PLACES["paris"]
    far = (lon + 0.3, lat)  # only the mocked check-in is there
    answer = await brand.client.patch("/v1/brand", json={"checkin_min_interval_s": 0}, headers=brand.admin)
    assert answer.status_code == 200, answer.text
    when = datetime.now(UTC) - timedelta(minutes=30)
    posted = 0
    for n, external_id in enumerate(("fold-a", "fold-b")):
        member = await brand.client.post(
            "/v1/members",
            json={"external_id": external_id, "consent": {"location": True, "marketing": False}},
            headers=brand.admin,
        )
        assert member.status_code in (200, 201), member.text
        token = brand.bearer(await brand.member_token(member.json()["id"]))
        for m, (place, mocked) in enumerate((((lon, lat), False), ((lon + 0.01, lat), False), (far, True))):
            body = {
                "location": {"type": "Point", "coordinates": list(place)},
                "accuracy_m": 5,
                "recorded_at": (when + timedelta(minutes=5 * m + n)).isoformat(),
                "mocked": mocked,
            }
            answer = await brand.client.post("/v1/checkins", json=body, headers=token)
            assert answer.status_code == 201, answer.text
            posted += not mocked
    assert posted == 4
    async with brand.sessions() as session:
        journalled = await session.execute(
            text(
                "SELECT kind, lon IS NOT NULL FROM stats_pending WHERE brand_id = :b AND kind IN ('checkin', 'flagged')"
            ),
            {"b": brand.id},
        )
        assert sorted(tuple(r) for r in journalled) == [("checkin", True)] * 4 + [("flagged", False)] * 2

    await set_k(brand, 2)
    cells = (await heatmap(brand, {"bbox": box(lon + 0.005, lat, 0.02), "cell_m": "300"}))["features"]  # folds
    assert sorted(counts(c) for c in cells) == [(2, 2), (2, 2)]
    far_cells = (await heatmap(brand, {"bbox": box(*far, 0.02), "cell_m": "300"}))["features"]
    assert far_cells == []
    folded = await snapshot(brand)
    for rung, grain in itertools.product(range(21), "dm"):
        assert sum(r[5] for r in folded if r[0] == rung and r[1] == grain) == 4, (rung, grain)

    async with brand.sessions() as session:
        assert await session.scalar(text("SELECT solomo_stats_fold(:b, 0)"), {"b": brand.id}) == 0
        await session.commit()
    assert await snapshot(brand) == folded

    await rebuild_brand(engine, brand.id)
    assert await snapshot(brand) == folded


async def test_a_late_checkin_lands_in_its_own_brand_local_day(brand: BrandContext) -> None:
    """A check-in recorded days before it reaches the journal (an offline queue) is folded into the day and month it
    was recorded in, brand-local: 11:00 UTC on 10 March is 01:00 on 11 March in Kiritimati."""
    await set_timezone(brand, "Pacific/Kiritimati")
    lon, lat = PLACES["sydney"]
    people = await members(brand, 2)
    recorded = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
    async with brand.sessions() as session:
        await session.execute(
            text(
                "INSERT INTO stats_pending (brand_id, kind, n, at, in_brand, store_ids, member_id, lon, lat)"
                " VALUES (:b, 'checkin', 1, :at, true, '{}', :m, :lon, :lat)"
            ),
            [{"b": brand.id, "at": recorded, "m": uuid.UUID(m), "lon": lon, "lat": lat} for m in people],
        )
        await session.commit()
    await set_k(brand, 2)
    [cell] = (await heatmap(brand, {"bbox": box(lon, lat), "from": "2025-03-11", "to": "2025-03-11"}))["features"]
    assert counts(cell) == (2, 2)
    assert (await heatmap(brand, {"bbox": box(lon, lat), "from": "2025-03-10", "to": "2025-03-10"}))["features"] == []
    periods = {(r[1], r[2]) for r in await snapshot(brand)}
    assert periods == {("d", date(2025, 3, 11)), ("m", date(2025, 3, 1))}
