from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import pytest
import shapely
from geopy.distance import geodesic
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from solomo import __version__
from solomo.demo import DEMO_KEYS, load_demo
from solomo.demo_checkins import DEMO_CHECKINS
from solomo.geo.crs import wgs84_to_gcj02
from solomo.stats.rollups import rebuild_brand
from tests.cli import run_solomo, run_solomo_async
from tests.conftest import BrandContext


async def test_brands_create_prints_a_working_admin_key(database_url: str, client: AsyncTestClient[Litestar]) -> None:
    done = await run_solomo_async(
        database_url, "brands", "create", "Cli Coffee", "--timezone", "Asia/Shanghai", "--json"
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    answer = await client.get("/v1/brand", headers={"Authorization": f"Bearer {printed['admin_key']}"})
    assert answer.status_code == 200
    assert answer.json()["id"] == printed["brand_id"]
    assert answer.json()["timezone"] == "Asia/Shanghai"

    plain = await run_solomo_async(database_url, "brands", "create", "Plain Tea", "--timezone", "Europe/Paris")
    assert plain.returncode == 0, plain.stderr
    assert "time zone: Europe/Paris" in plain.stdout
    assert "admin key: sk_" in plain.stdout


def test_brands_create_asks_for_a_timezone_instead_of_assuming_utc(database_url: str) -> None:
    done = run_solomo(database_url, "brands", "create", "Zoneless Tea")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--timezone" in done.stderr


def test_brands_create_refuses_a_bad_timezone(database_url: str) -> None:
    done = run_solomo(database_url, "brands", "create", "Bad", "--timezone", "Mars/Olympus")
    assert done.returncode != 0
    assert "Mars/Olympus" in done.stderr


def test_solomo_help_shows_solomos_own_commands(database_url: str) -> None:
    done = run_solomo(database_url, "--help")
    assert done.returncode == 0, done.stderr
    assert "SoLoMo" in done.stdout
    for command in ("run", "demo", "brands", "keys", "geofences", "maintenance", "openapi", "database"):
        assert f"│ {command} " in done.stdout, command
    for foreign in ("Litestar CLI", "sessions", "--app-dir", "canonical paths"):
        assert foreign not in done.stdout, foreign
    assert run_solomo(database_url, "--version").stdout.strip() == f"solomo, version {__version__}"
    migrations = run_solomo(database_url, "database", "show-current-revision")
    assert migrations.returncode == 0, migrations.stderr


async def test_command_line_work_is_not_bound_by_the_api_statement_timeout(
    database_url: str, brand: BrandContext
) -> None:
    """Rebuilding stats (or loading the demo) runs longer than an API request may: not on the app's engine."""
    tight = {"SOLOMO_DB_STATEMENT_TIMEOUT_MS": "1", "SOLOMO_DB_LOCK_TIMEOUT_MS": "1"}
    done = await asyncio.to_thread(
        run_solomo, database_url, "maintenance", "rebuild-stats", "--brand", str(brand.id), env=tight
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"brand {brand.id}: rebuilt" in done.stdout


def test_openapi_check_passes_on_the_committed_file(database_url: str) -> None:
    done = run_solomo(database_url, "openapi", "--check")
    assert done.returncode == 0, done.stderr


async def test_demo_is_idempotent_and_its_keys_work(
    sessions: async_sessionmaker[AsyncSession], client: AsyncTestClient[Litestar], engine: AsyncEngine
) -> None:
    async with sessions() as session:
        first = await load_demo(session)
        await session.commit()
    async with sessions() as session:
        second = await load_demo(session)
        await session.commit()
    assert first.brand_id == second.brand_id
    assert first.member_ids == second.member_ids
    assert first.store_ids == second.store_ids
    assert len(first.store_ids) == 200
    for role, secret in DEMO_KEYS.items():
        answer = await client.get("/v1/brand", headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200, role
        assert answer.json()["id"] == str(first.brand_id)
    admin = {"Authorization": f"Bearer {DEMO_KEYS['admin']}"}
    fences = (await client.get("/v1/geofences", params={"limit": 500}, headers=admin)).json()["features"]
    assert len(fences) == 200
    assert {f["properties"]["kind"] for f in fences} == {"circle", "polygon"}
    assert all(f["properties"]["area_m2"] < 1e6 for f in fences)  # shop- and mall-sized, well under the cap
    members = (await client.get("/v1/members", params={"limit": 500, "provider": "douyin"}, headers=admin)).json()
    assert len(members["items"]) == 500  # thousands of demo members, hundreds on douyin alone
    assert members["next_cursor"] is not None
    assert any(m["referred_by"] for m in members["items"])
    assert all(m["social_accounts"] for m in members["items"])
    for member_id in first.member_ids:  # printed by `solomo demo` to try the app with
        consent = (await client.get(f"/v1/members/{member_id}", headers=admin)).json()["consent"]
        assert (consent["location"]["granted"], consent["marketing"]["granted"]) == (True, True)
    campaigns = (await client.get("/v1/campaigns", headers=admin)).json()["items"]
    assert [(c["name"], c["serving"]) for c in campaigns] == [("Autumn Coffee Week", True)]
    assert len((await client.get("/v1/offers", headers=admin)).json()["items"]) == 4
    manager = {"Authorization": f"Bearer {DEMO_KEYS['manager']}"}
    managed = (await client.get("/v1/stores", headers=manager)).json()["items"]
    assert len(managed) == 3
    # What the README says the manager key runs: Shanghai's two demo stores and one in Beijing.
    assert sorted(s["name"].split()[2] for s in managed) == ["Beijing", "Shanghai", "Shanghai"]
    # Shanghai's stores: the nearest store to the city centre is one of the manager's.
    near = (
        await client.get("/v1/stores/nearby", params={"lon": 121.47, "lat": 31.23, "radius_m": 20000}, headers=admin)
    ).json()
    assert near["items"][0]["store"]["id"] in {s["id"] for s in managed}
    await _readme_gcj02_twin_is_inside_the_fence(client, admin)
    await _demo_coupons_are_consistent(sessions, first.brand_id, client, admin)
    await rebuild_brand(engine, first.brand_id)  # as `solomo demo` does: its stats folded from the raw rows
    # The KOL board over its default range (the last 30 days) counts the KOLs' shares, not only their claims.
    board = (await client.get("/v1/stats/referrers", headers=admin)).json()["items"]
    assert board, "the demo's KOLs are on the board"
    assert all(row["shares"] > 0 for row in board), board
    await _demo_checkins_are_consistent(sessions, first.brand_id, client, admin)


#: The README tour's GCJ-02 check-in: the demo store nearest People's Square, where AMap shows it.
README_STORE_WGS84 = [121.473351, 31.246069]
README_TWIN_GCJ02 = (121.477877, 31.244135)


async def _readme_gcj02_twin_is_inside_the_fence(client: AsyncTestClient[Litestar], admin: dict[str, str]) -> None:
    """The numbers the README's tour sends with crs=gcj02 fall in the fence of the store its first check-in is at
    (and, read as WGS-84, nowhere near it); checked on the fence rather than by checking in, which would add to
    the demo's check-ins."""
    people_square = {"lon": 121.4737, "lat": 31.2304, "limit": 1}
    [nearest] = (await client.get("/v1/stores/nearby", params=people_square, headers=admin)).json()["items"]
    assert nearest["store"]["location"]["coordinates"] == README_STORE_WGS84
    assert wgs84_to_gcj02(*README_STORE_WGS84) == pytest.approx(README_TWIN_GCJ02, abs=5e-7)
    [fence] = (
        await client.get("/v1/geofences", params={"store_id": nearest["store"]["id"], "crs": "gcj02"}, headers=admin)
    ).json()["features"]
    assert shapely.geometry.shape(fence["geometry"]).contains(shapely.Point(README_TWIN_GCJ02))
    in_wgs84 = (await client.get(f"/v1/geofences/{fence['id']}", headers=admin)).json()
    assert shapely.geometry.shape(in_wgs84["geometry"]).distance(shapely.Point(README_TWIN_GCJ02)) > 0.002  # ~200 m


async def _demo_checkins_are_consistent(
    sessions: async_sessionmaker[AsyncSession],
    brand_id: object,
    client: AsyncTestClient[Litestar],
    admin: dict[str, str],
) -> None:
    """A month of check-ins (loaded once) by consenting members, matched as the hot path matches them."""
    async with sessions() as session:
        figures = (
            await session.execute(
                text(
                    """
                    SELECT count(*) AS checkins,
                           count(*) FILTER (WHERE flags = '{mocked}' AND mocked) AS mocked,
                           count(*) FILTER (WHERE flags <> '{}' AND cardinality(flagged_store_ids) > 0) AS flagged_at,
                           count(*) FILTER (WHERE NOT m.consent_location) AS without_consent,
                           (SELECT count(*) FROM checkin_matches WHERE brand_id = :b) AS matches,
                           (SELECT count(DISTINCT store_id) FROM checkin_matches WHERE brand_id = :b) AS stores,
                           (SELECT count(*) FROM member_firsts f WHERE f.brand_id = :b
                              AND f.store_key = '00000000-0000-0000-0000-000000000000' AND f.first_at
                              <> (SELECT min(c.recorded_at) FROM checkins c
                                  WHERE c.member_id = f.member_id AND c.flags = '{}')) AS wrong_firsts
                    FROM checkins c JOIN members m ON m.id = c.member_id
                    WHERE c.brand_id = :b
                    """
                ),
                {"b": brand_id},
            )
        ).one()
        circles = (
            await session.execute(
                text(
                    """
                    SELECT ST_Y(c.location::geometry) AS lat, ST_X(c.location::geometry) AS lon, c.accuracy_m,
                           ST_Y(g.center::geometry) AS clat, ST_X(g.center::geometry) AS clon, g.radius_m,
                           m.fence_id IS NOT NULL AS matched
                    FROM checkins c
                    JOIN geofences g ON g.brand_id = c.brand_id AND g.kind = 'circle'
                    LEFT JOIN checkin_matches m ON m.checkin_id = c.id AND m.fence_id = g.id
                    WHERE c.brand_id = :b AND c.flags = '{}'
                      AND ST_DWithin(g.center, c.location, g.radius_m + 100)
                    """
                ),
                {"b": brand_id},
            )
        ).all()
    assert figures.checkins == DEMO_CHECKINS
    assert 0 < figures.mocked < figures.checkins * 0.1
    assert figures.flagged_at > 0
    assert figures.without_consent == 0
    assert figures.matches > figures.checkins * 0.5
    assert figures.stores > 150
    assert figures.wrong_firsts == 0
    # The geodesic oracle: a circle matches when the point is within radius + min(accuracy, 50 m) of its centre.
    assert len(circles) > 1000
    for c in circles:
        reach = geodesic((c.clat, c.clon), (c.lat, c.lon)).meters - c.radius_m - min(c.accuracy_m, 50)
        assert c.matched == (reach <= 0) or abs(reach) < 0.01, c
    stats = (await client.get("/v1/stats/daily", params={"from": str(date.today() - timedelta(days=40))},
                              headers=admin)).json()  # fmt: skip
    assert sum(d["checkins"] for d in stats["items"]) > 0
    heat = await client.get(
        "/v1/stats/checkins/heatmap", params={"bbox": "121.40,31.18,121.55,31.28", "cell_m": 500}, headers=admin
    )
    assert heat.status_code == 200, heat.text
    assert heat.json()["features"], "Shanghai's demo stores show on the heatmap"


async def _demo_coupons_are_consistent(
    sessions: async_sessionmaker[AsyncSession],
    brand_id: object,
    client: AsyncTestClient[Litestar],
    admin: dict[str, str],
) -> None:
    """A month of coupons (loaded once), within every limit, with the counters a real history would leave."""
    async with sessions() as session:
        figures = (
            await session.execute(
                text(
                    """
                    SELECT (SELECT count(*) FROM coupons WHERE brand_id = :b) AS coupons,
                           (SELECT count(*) FROM redemptions WHERE brand_id = :b AND voided_at IS NULL) AS redeemed,
                           (SELECT count(*) FROM redemptions WHERE brand_id = :b AND voided_at IS NOT NULL) AS voided,
                           (SELECT count(DISTINCT store_id) FROM redemptions WHERE brand_id = :b) AS stores,
                           (SELECT count(*) FROM coupons WHERE brand_id = :b AND referrer_id IS NOT NULL) AS referred,
                           (SELECT count(*) FROM coupon_audit WHERE brand_id = :b) AS audit,
                           (SELECT count(*) FROM offers o WHERE o.brand_id = :b AND (SELECT sum(used)
                              FROM offer_capacity c WHERE c.offer_id = o.id)
                              <> (SELECT count(*) FROM coupons c WHERE c.offer_id = o.id)) AS bad_capacity,
                           (SELECT count(*) FROM offers o WHERE o.brand_id = :b AND o.total_limit
                              < (SELECT count(*) FROM coupons c WHERE c.offer_id = o.id)) AS over_total,
                           (SELECT count(*) FROM (SELECT 1 FROM coupons c JOIN offers o ON o.id = c.offer_id
                              WHERE c.brand_id = :b GROUP BY c.member_id, o.id, o.per_member_daily_limit, c.claim_day
                              HAVING count(*) > o.per_member_daily_limit) AS x) AS over_daily,
                           (SELECT sum(claimed) FROM member_offer_claims WHERE brand_id = :b) AS counted
                    """
                ),
                {"b": brand_id},
            )
        ).one()
    assert figures.coupons > 1000
    assert figures.coupons == figures.counted
    assert figures.redeemed > 300
    assert figures.voided > 0
    assert figures.stores > 50
    assert figures.referred > 0
    assert figures.audit == figures.redeemed + 2 * figures.voided
    assert (figures.bad_capacity, figures.over_total, figures.over_daily) == (0, 0, 0)
    async with sessions() as session:
        code = await session.scalar(
            text(
                "SELECT code FROM coupons WHERE brand_id = :b AND expires_at > now() AND cancelled_at IS NULL LIMIT 1"
            ),
            {"b": brand_id},
        )
    looked = await client.get(f"/v1/coupons/{code}", headers=admin)
    assert looked.status_code == 200, looked.text
