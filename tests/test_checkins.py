"""Check-ins: matching (checked with geopy/shapely), events and their order, fraud flags, consent, idempotency,
rate limit, tenancy, round trips, and the index plan at 10⁵ fences."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import shapely
from geopy.distance import geodesic
from litestar import Litestar
from sqlalchemy import text

from solomo.geo.crs import from_wgs84, wgs84_to_gcj02
from tests.conftest import BrandContext
from tests.scenes import PARIS, Scene, make_scene, offset, statements_sent

#: People's Square, Shanghai (WGS-84): GCJ-02 puts it about 500 m away, BD-09 another kilometre.
PEOPLES_SQUARE = (121.4737, 31.2304)


def square_ring(lon: float, lat: float, half_m: float) -> list[list[float]]:
    """A square whose sides are ~2·half_m long, centred on (lon, lat)."""
    west, _ = offset(lon, lat, 270, half_m)
    east, _ = offset(lon, lat, 90, half_m)
    _, south = offset(lon, lat, 180, half_m)
    _, north = offset(lon, lat, 0, half_m)
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


def events(result: dict[str, Any]) -> dict[str, str | None]:
    return {m["fence_id"]: m["event"] for m in result["matches"]}


async def test_polygon_inside_outside_edge_and_tolerance(scene: Scene) -> None:
    ring = square_ring(*PARIS, 100)
    fence = await scene.fence({"geometry": {"type": "Polygon", "coordinates": [ring]}})
    polygon = shapely.Polygon(ring)
    east_edge_mid = (ring[1][0], PARIS[1])

    inside = await scene.ok(*PARIS)
    assert shapely.Point(PARIS).within(polygon)
    assert events(inside) == {fence["id"]: "enter"}
    assert inside["matches"][0]["store_id"] == scene.store["id"]

    on_edge = await scene.ok(*east_edge_mid, accuracy=1)
    assert fence["id"] in events(on_edge)  # the boundary belongs to the fence

    for metres, accuracy, expected in ((20, 30, True), (40, 30, False), (40, 60, True), (70, 500, False)):
        point = offset(*east_edge_mid, 90, metres)
        assert geodesic(east_edge_mid[::-1], point[::-1]).meters == pytest.approx(metres, rel=1e-6)
        assert not shapely.Point(point).within(polygon)
        result = await scene.ok(*point, accuracy=accuracy)
        # tol = min(accuracy, cap 50); accuracy above the limit (200) matches nothing at all.
        assert (fence["id"] in events(result)) is expected, (metres, accuracy, result)


async def test_circle_is_an_exact_geodesic_circle(scene: Scene) -> None:
    center = offset(*PARIS, 45, 2000)
    fence = await scene.fence({"geometry": {"type": "Point", "coordinates": list(center)}, "radius_m": 100})
    for bearing, metres, accuracy, expected in (
        (0, 95, 1, True),
        (90, 99.5, 1, True),
        (180, 105, 3, False),
        (270, 105, 10, True),
        (45, 140, 45, True),
        (135, 160, 150, False),  # tolerance capped at 50 m: 160 > 100 + 50
    ):
        point = offset(*center, bearing, metres)
        assert geodesic(center[::-1], point[::-1]).meters == pytest.approx(metres, abs=1e-3)
        result = await scene.ok(*point, accuracy=accuracy, after_s=120)
        assert (fence["id"] in events(result)) is expected, (bearing, metres, accuracy)


async def test_multipolygon_across_the_antimeridian(brand: BrandContext) -> None:
    scene = await make_scene(brand)
    scene.store = await brand.store(179.99, -17.0)
    east = [[179.98, -17.01], [180, -17.01], [180, -16.99], [179.98, -16.99], [179.98, -17.01]]
    west = [[-180, -17.01], [-179.98, -17.01], [-179.98, -16.99], [-180, -16.99], [-180, -17.01]]
    fence = await scene.fence({"geometry": {"type": "MultiPolygon", "coordinates": [[east], [west]]}})
    assert events(await scene.ok(-179.99, -17.0)) == {fence["id"]: "enter"}
    assert events(await scene.ok(179.99, -17.0)) == {fence["id"]: None}  # still inside, other side of the line
    assert events(await scene.ok(-179.9, -17.0)) == {}


async def test_enter_dwell_exit_sequence(scene: Scene) -> None:
    dwell = await scene.fence(
        {"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200, "dwell_seconds": 60}
    )
    instant = await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 300})
    outside = offset(*PARIS, 0, 1000)

    assert events(await scene.ok(*PARIS, after_s=0)) == {dwell["id"]: "enter", instant["id"]: "enter"}
    assert events(await scene.ok(*PARIS, after_s=30)) == {dwell["id"]: None, instant["id"]: None}
    assert events(await scene.ok(*PARIS, after_s=31)) == {dwell["id"]: "dwell", instant["id"]: None}
    assert events(await scene.ok(*PARIS, after_s=300)) == {dwell["id"]: None, instant["id"]: None}  # dwell fires once
    left = await scene.ok(*outside, after_s=60)
    assert left["matches"] == []
    assert sorted(e["fence_id"] for e in left["exits"]) == sorted([dwell["id"], instant["id"]])
    assert (await scene.ok(*outside, after_s=60))["exits"] == []  # exit fires once
    assert events(await scene.ok(*PARIS, after_s=60)) == {dwell["id"]: "enter", instant["id"]: "enter"}


async def test_out_of_order_checkins_never_move_state_backwards(scene: Scene) -> None:
    fence = await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200})
    outside = offset(*PARIS, 90, 1000)
    assert events(await scene.ok(*PARIS, after_s=100)) == {fence["id"]: "enter"}
    # Recorded 50 s before the last one but arriving now: stored, fires nothing, changes nothing.
    late_outside = await scene.ok(*outside, after_s=-50)
    assert late_outside["exits"] == []
    late_inside = await scene.ok(*PARIS, after_s=-10)
    assert events(late_inside) == {fence["id"]: None}
    scene.clock += timedelta(seconds=200)
    assert events(await scene.ok(*PARIS, after_s=0)) == {fence["id"]: None}  # still inside: no second enter
    assert (await scene.ok(*outside))["exits"] == [{"fence_id": fence["id"], "store_id": scene.store["id"]}]


async def test_fraud_flags(scene: Scene) -> None:
    fence = await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200})
    mocked = await scene.ok(*PARIS, mocked=True)
    assert (mocked["flags"], mocked["matches"]) == (["mocked"], [])
    low = await scene.ok(*PARIS, accuracy=500)
    assert (low["flags"], low["matches"]) == (["low_accuracy"], [])
    assert events(await scene.ok(*PARIS)) == {fence["id"]: "enter"}  # flagged ones changed no state

    # 10 km in 60 s net of the accuracies (10 m and 5 m): about 600 km/h, above the 300 km/h default.
    far = offset(*PARIS, 90, 10_000)
    speed = (geodesic(PARIS[::-1], far[::-1]).meters - 10 - 5) / 60 * 3.6
    assert speed > 300
    jumped = await scene.ok(*far, accuracy=10, after_s=60)
    assert jumped["flags"] == ["impossible_speed"]
    assert jumped["exits"] == []  # a flagged check-in is no evidence the member left
    # The next one is measured against the last *unflagged* check-in (Paris), 2 km in 60 s: 120 km/h.
    near = offset(*PARIS, 90, 2000)
    assert (await scene.ok(*near, after_s=60))["flags"] == []
    # 30 s floor: 2 km in 1 s would be 7,200 km/h; over 30 s it is 240 km/h, under the limit.
    assert (await scene.ok(*offset(*near, 90, 2000), after_s=1))["flags"] == []
    assert (await scene.ok(*offset(*near, 90, 5000), after_s=1))["flags"] == ["impossible_speed"]


@pytest.mark.parametrize(
    ("shift", "naive", "message"),
    [(timedelta(minutes=6), False, "future"), (timedelta(hours=-25), False, "24 hours"), (timedelta(0), True, "")],
)
async def test_recorded_at_window_and_timezone(scene: Scene, shift: timedelta, naive: bool, message: str) -> None:
    when = datetime.now(UTC) + shift
    recorded_at = (when.replace(tzinfo=None) if naive else when).isoformat()
    body = {"location": {"type": "Point", "coordinates": list(PARIS)}, "accuracy_m": 5, "recorded_at": recorded_at}
    answer = await scene.brand.client.post("/v1/checkins", json=body, headers=scene.headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "recorded_at"
    assert message in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accuracy_m": 0}, "accuracy_m"),
        ({"accuracy_m": "5"}, "accuracy_m"),
        ({"location": {"type": "Point", "coordinates": [181, 0]}}, "location.coordinates"),
        ({"source": "Not A Source!"}, "source"),
        ({"speed": 3}, "speed"),
    ],
)
async def test_bad_checkins_are_422(scene: Scene, body: dict[str, Any], field: str) -> None:
    base = {
        "location": {"type": "Point", "coordinates": list(PARIS)},
        "accuracy_m": 5,
        "recorded_at": datetime.now(UTC).isoformat(),
    }
    answer = await scene.brand.client.post("/v1/checkins", json=base | body, headers=scene.headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"].startswith(field)


async def _stored(brand: BrandContext, member_id: str) -> int:
    async with brand.sessions() as session:
        count: int = await session.scalar(text("SELECT count(*) FROM checkins WHERE member_id = :m"), {"m": member_id})
    return count


async def test_no_location_consent_is_403_and_stores_nothing(brand: BrandContext) -> None:
    scene = await make_scene(brand, consent=False)
    answer = await scene.checkin(*PARIS)
    assert answer.status_code == 403
    assert answer.json()["code"] == "consent_required"
    assert await _stored(brand, scene.member["id"]) == 0
    # Withdrawn consent stops check-ins at once.
    await brand.client.patch(
        f"/v1/members/{scene.member['id']}", json={"consent": {"location": True}}, headers=brand.admin
    )
    assert (await scene.checkin(*PARIS)).status_code == 201
    await brand.client.patch("/v1/members/me", json={"consent": {"location": False}}, headers=scene.headers)
    assert (await scene.checkin(*PARIS)).status_code == 403
    assert await _stored(brand, scene.member["id"]) == 1


async def test_rate_limit(brand: BrandContext) -> None:
    scene = await make_scene(brand, interval_s=10)
    assert (await scene.checkin(*PARIS)).status_code == 201
    limited = await scene.checkin(*PARIS)
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    assert await _stored(brand, scene.member["id"]) == 1


async def test_idempotency_key(scene: Scene) -> None:
    body = {
        "location": {"type": "Point", "coordinates": list(PARIS)},
        "accuracy_m": 5,
        "recorded_at": datetime.now(UTC).isoformat(),
    }
    headers = scene.headers | {"Idempotency-Key": "ci-1"}
    first = await scene.brand.client.post("/v1/checkins", json=body, headers=headers)
    again = await scene.brand.client.post("/v1/checkins", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _stored(scene.brand, scene.member["id"]) == 1

    other = await scene.brand.client.post("/v1/checkins", json=body | {"accuracy_m": 6}, headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"

    # A request holding the key (its transaction open) makes a second one a 409, not a wait. The lock key is
    # built as solomo.idempotency builds it: brand | caller | method | key.
    route_lock = "|".join([str(scene.brand.id), str(scene.member["id"]), "POST", "ci-2"])
    async with scene.brand.sessions() as session:
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": route_lock})
        busy = await asyncio.wait_for(
            scene.brand.client.post("/v1/checkins", json=body, headers=scene.headers | {"Idempotency-Key": "ci-2"}), 10
        )
        assert busy.status_code == 409
        assert busy.json()["code"] == "idempotency_key_in_use"
        await session.rollback()


async def test_a_gcj02_checkin_matches_the_fence_of_its_wgs84_twin(brand: BrandContext) -> None:
    """An AMap or WeChat app sends GCJ-02: with crs=gcj02 it matches the fence its WGS-84 twin matches; read as
    WGS-84 the same numbers are half a kilometre off and match nothing."""
    scene = await make_scene(brand)
    scene.store = await brand.store(*PEOPLES_SQUARE)
    fence = await scene.fence({"geometry": {"type": "Point", "coordinates": list(PEOPLES_SQUARE)}, "radius_m": 80})
    gcj = wgs84_to_gcj02(*PEOPLES_SQUARE)

    assert events(await scene.ok(*PEOPLES_SQUARE)) == {fence["id"]: "enter"}  # the WGS-84 twin
    misread = await scene.ok(*gcj)  # GCJ-02 numbers taken as WGS-84: outside (an exit)
    assert misread["matches"] == []
    assert misread["exits"] == [{"fence_id": fence["id"], "store_id": scene.store["id"]}]
    assert events(await scene.ok(*gcj, crs="gcj02")) == {fence["id"]: "enter"}  # back inside
    bd = from_wgs84("bd09", *PEOPLES_SQUARE)
    assert events(await scene.ok(*bd, crs="bd09")) == {fence["id"]: None}  # Baidu's numbers: still inside

    listed = await brand.client.get("/v1/members/me/checkins", headers=scene.headers)
    assert [item["location"]["coordinates"] for item in listed.json()["items"]] == [
        pytest.approx(list(PEOPLES_SQUARE), abs=1e-7),  # the BD-09 one, stored in WGS-84
        pytest.approx(list(PEOPLES_SQUARE), abs=1e-7),
        pytest.approx(list(gcj), abs=1e-12),  # the misread one, stored as sent
        pytest.approx(list(PEOPLES_SQUARE), abs=1e-12),
    ]
    in_gcj = await brand.client.get("/v1/members/me/checkins", params={"crs": "gcj02"}, headers=scene.headers)
    newest = in_gcj.json()["items"][0]
    assert newest["location"]["coordinates"] == pytest.approx(list(gcj), abs=1e-8)
    assert newest["coarse_location"] is None


async def test_crs_is_part_of_what_an_idempotency_key_is_checked_against(scene: Scene) -> None:
    body = {
        "location": {"type": "Point", "coordinates": list(PEOPLES_SQUARE)},
        "accuracy_m": 5,
        "recorded_at": datetime.now(UTC).isoformat(),
    }
    headers = scene.headers | {"Idempotency-Key": "ci-crs"}
    first = await scene.brand.client.post("/v1/checkins", json=body, headers=headers, params={"crs": "gcj02"})
    assert first.status_code == 201, first.text
    again = await scene.brand.client.post("/v1/checkins", json=body, headers=headers, params={"crs": "gcj02"})
    assert again.headers["idempotent-replayed"] == "true"
    # the same numbers in another crs are another place: another request
    for other in ({}, {"crs": "bd09"}):
        refused = await scene.brand.client.post("/v1/checkins", json=body, headers=headers, params=other)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "idempotency_key_reused"


async def test_unknown_crs_is_422_and_stores_nothing(scene: Scene) -> None:
    answer = await scene.checkin(*PEOPLES_SQUARE, crs="wgs-84")
    assert answer.status_code == 422
    assert [(e["field"], e["source"]) for e in answer.json()["errors"]] == [("crs", "query")]
    assert await _stored(scene.brand, scene.member["id"]) == 0


async def test_member_of_brand_b_never_matches_brand_a(brand: BrandContext, other_brand: BrandContext) -> None:
    a = await make_scene(brand)
    await a.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 500})
    b = await make_scene(other_brand)
    result = await b.ok(*PARIS)
    assert result["matches"] == []


async def test_checkin_listings(scene: Scene, other_brand: BrandContext) -> None:
    fence = await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200})
    for _ in range(3):
        await scene.ok(*PARIS)
    mine = (await scene.brand.client.get("/v1/members/me/checkins", params={"limit": 2}, headers=scene.headers)).json()
    assert len(mine["items"]) == 2
    assert mine["items"][0]["recorded_at"] > mine["items"][1]["recorded_at"]
    rest = (
        await scene.brand.client.get(
            "/v1/members/me/checkins", params={"cursor": mine["next_cursor"]}, headers=scene.headers
        )
    ).json()
    assert len(rest["items"]) == 1
    assert rest["items"][0]["matches"] == [{"fence_id": fence["id"], "store_id": scene.store["id"], "event": "enter"}]
    url = f"/v1/members/{scene.member['id']}/checkins"
    assert len((await scene.brand.client.get(url, headers=scene.brand.admin)).json()["items"]) == 3
    assert (await scene.brand.client.get(url, headers=other_brand.admin)).status_code == 404


async def test_erasure_and_merge_cover_checkins(scene: Scene) -> None:
    await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200})
    await scene.ok(*PARIS)
    other = await scene.brand.member("second")
    await scene.brand.client.post(
        f"/v1/members/{scene.member['id']}/merge", json={"from": other["id"]}, headers=scene.brand.admin
    )
    assert (
        await scene.brand.client.delete(f"/v1/members/{scene.member['id']}", headers=scene.brand.admin)
    ).status_code == 204
    async with scene.brand.sessions() as session:
        row = (
            await session.execute(
                text("SELECT count(*) AS n, count(location) AS located FROM checkins WHERE member_id = :m"),
                {"m": scene.member["id"]},
            )
        ).one()
        states = await session.scalar(
            text("SELECT count(*) FROM fence_states WHERE member_id = :m"), {"m": scene.member["id"]}
        )
    assert (row.n, row.located, states) == (1, 0, 0)  # counted, but no coordinates and no state left


async def test_a_checkin_takes_one_statement(scene: Scene, app: Litestar) -> None:
    """The request function does it all (token version, budget, check-in): no BEGIN, no COMMIT, no auth query."""
    await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200})
    with statements_sent(app) as statements:
        await scene.ok(*PARIS)
    assert len(statements) == 1, statements
    assert "solomo_checkin_request(" in statements[0]


async def test_fence_lookup_uses_the_gist_index_at_100k_fences(brand: BrandContext) -> None:
    store = await brand.store(*PARIS)
    async with brand.sessions() as session:
        await session.execute(
            text(
                """
                INSERT INTO geofences (brand_id, store_id, name, kind, geom, area_m2, vertex_count)
                SELECT :brand_id, :store_id, 'bulk', 'polygon',
                       ST_MakeEnvelope(x, y, x + 0.002, y + 0.002, 4326)::geography, 40000, 5
                FROM (SELECT -5 + random() * 13 AS x, 42 + random() * 9 AS y FROM generate_series(1, 100000)) p
                """
            ),
            {"brand_id": brand.id, "store_id": store["id"]},
        )
        await session.execute(text("ANALYZE geofences"))
        await session.commit()
        plan = "\n".join(
            r[0]
            for r in await session.execute(
                text(
                    """
                    EXPLAIN SELECT fence_id
                    FROM solomo_fences_at(:brand_id, ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326)::geography, 30, 50)
                    """
                ),
                {"brand_id": brand.id},
            )
        )
        # Inside the check-in function the brand, point, accuracy and cap are variables, and the request
        # functions run every statement with a generic plan (SET plan_cache_mode): it must keep the index too.
        await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        await session.execute(
            text(
                "PREPARE fences_probe (uuid, geography, double precision, double precision) AS"
                " SELECT fence_id FROM solomo_fences_at($1, $2, $3, $4)"
            )
        )
        generic = "\n".join(
            r[0]
            for r in await session.execute(
                # EXECUTE takes no bind parameters: the brand's id (a UUID) goes in as a literal.
                text(
                    f"EXPLAIN EXECUTE fences_probe"
                    f" ('{brand.id}', ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326)::geography, 30, 50)"
                )
            )
        )
        await session.execute(text("DEALLOCATE fences_probe"))
        await session.rollback()
    for shown in (plan, generic):
        assert "ix_geofences_brand_geom" in shown, shown
        assert "Seq Scan" not in shown, shown
    assert "$1" in generic, generic  # a generic plan indeed
