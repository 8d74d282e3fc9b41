"""Stores: CRUD, scopes per role, nearest-first search checked against geopy, and the KNN plan."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from geopy.distance import geodesic
from sqlalchemy import text

from solomo.geo.crs import bd09_to_wgs84, gcj02_to_bd09, gcj02_to_wgs84
from tests.conftest import BrandContext

PARIS = (2.3522, 48.8566)


async def test_crud_round_trip(brand: BrandContext) -> None:
    client = brand.client
    created = await client.post(
        "/v1/stores",
        json={
            "name": "Louvre",
            "address": "Rue de Rivoli, Paris",
            "location": {"type": "Point", "coordinates": list(PARIS)},
            "timezone": "Europe/Paris",
            "tags": ["flagship", "paris"],
            "external_ref": "FR-001",
        },
        headers=brand.admin,
    )
    assert created.status_code == 201, created.text
    store = created.json()
    assert store["location"] == {"type": "Point", "coordinates": list(PARIS)}
    assert store["tags"] == ["flagship", "paris"]
    assert store["archived_at"] is None

    got = await client.get(f"/v1/stores/{store['id']}", headers=brand.admin)
    assert got.json() == store

    patched = await client.patch(
        f"/v1/stores/{store['id']}",
        json={"name": "Louvre Rivoli", "location": {"type": "Point", "coordinates": [2.34, 48.86]}, "address": None},
        headers=brand.admin,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["name"], body["address"], body["location"]["coordinates"]) == ("Louvre Rivoli", None, [2.34, 48.86])
    assert body["external_ref"] == "FR-001"  # untouched

    listed = (await client.get("/v1/stores", headers=brand.admin)).json()
    assert [s["id"] for s in listed["items"]] == [store["id"]]
    tagged = (await client.get("/v1/stores", params={"tag": "nope"}, headers=brand.admin)).json()
    assert tagged["items"] == []

    assert (await client.delete(f"/v1/stores/{store['id']}", headers=brand.admin)).status_code == 204
    assert (await client.get(f"/v1/stores/{store['id']}", headers=brand.admin)).status_code == 404


async def test_external_ref_is_unique_within_a_brand(brand: BrandContext, other_brand: BrandContext) -> None:
    await brand.store(external_ref="S-1")
    taken = await brand.client.post(
        "/v1/stores",
        json={
            "name": "x",
            "timezone": "UTC",
            "location": {"type": "Point", "coordinates": [0, 0]},
            "external_ref": "S-1",
        },
        headers=brand.admin,
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "external_ref_taken"
    assert taken.json()["errors"][0]["field"] == "external_ref"
    # Another brand may use the same code.
    await other_brand.store(external_ref="S-1")
    second = await brand.store(external_ref="S-2")
    clash = await brand.client.patch(f"/v1/stores/{second['id']}", json={"external_ref": "S-1"}, headers=brand.admin)
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "external_ref"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"location": {"type": "Point", "coordinates": [200, 10]}}, "location.coordinates"),
        ({"location": {"type": "Point", "coordinates": [10, -91]}}, "location.coordinates"),
        ({"location": {"type": "Point", "coordinates": [10]}}, "location.coordinates"),
        ({"location": {"type": "Point", "coordinates": ["1", 10]}}, "location.coordinates[0]"),
        ({"location": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}, "location"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"name": ""}, "name"),
        ({"tags": ["has space"]}, "tags[0]"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_input_is_422_naming_the_field(brand: BrandContext, body: dict[str, Any], field: str) -> None:
    base = {"name": "x", "timezone": "UTC", "location": {"type": "Point", "coordinates": [0, 0]}}
    answer = await brand.client.post("/v1/stores", json=base | body, headers=brand.admin)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert errors[0]["field"].startswith(field), errors


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            b'{"name": "x", "timezone": "UTC", "location": {"type": "Point", "coordinates": [NaN, 10]}}',
            "location.coordinates[0]",
        ),
        (
            b'{"name": "x", "timezone": "UTC", "location": {"type": "Point", "coordinates": [1, Infinity]}}',
            "location.coordinates[1]",
        ),
        (
            b'{"name": "x", "timezone": "UTC", "location": {"type": "Point", "coordinates": [1e400, 10]}}',
            "location.coordinates[0]",
        ),
    ],
)
async def test_non_finite_numbers_are_422_naming_the_field(brand: BrandContext, raw: bytes, field: str) -> None:
    answer = await brand.client.post(
        "/v1/stores", content=raw, headers=brand.admin | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field


async def test_scopes(brand: BrandContext, other_brand: BrandContext) -> None:
    client = brand.client
    mine, theirs_in_brand = await brand.store(name="Mine"), await brand.store(name="Not mine")
    foreign = await other_brand.store(name="Other brand")
    manager = brand.bearer(await brand.key("manager", store_ids=[uuid.UUID(mine["id"])]))
    marketer = brand.bearer(await brand.key("marketer"))

    assert [s["id"] for s in (await client.get("/v1/stores", headers=manager)).json()["items"]] == [mine["id"]]
    assert (await client.get(f"/v1/stores/{mine['id']}", headers=manager)).status_code == 200
    out = await client.get(f"/v1/stores/{theirs_in_brand['id']}", headers=manager)
    assert out.status_code == 403
    assert out.json()["code"] == "store_out_of_scope"
    assert (await client.get(f"/v1/stores/{foreign['id']}", headers=manager)).status_code == 404
    assert (await client.patch(f"/v1/stores/{mine['id']}", json={"name": "M"}, headers=manager)).status_code == 200
    assert (
        await client.patch(f"/v1/stores/{theirs_in_brand['id']}", json={"name": "M"}, headers=manager)
    ).status_code == 403
    assert (await client.delete(f"/v1/stores/{mine['id']}", headers=manager)).status_code == 403
    create = {"name": "n", "timezone": "UTC", "location": {"type": "Point", "coordinates": [0, 0]}}
    assert (await client.post("/v1/stores", json=create, headers=manager)).status_code == 403
    near = (await client.get("/v1/stores/nearby", params={"lon": PARIS[0], "lat": PARIS[1]}, headers=manager)).json()
    assert [i["store"]["id"] for i in near["items"]] == [mine["id"]]

    assert len((await client.get("/v1/stores", headers=marketer)).json()["items"]) == 2
    assert (await client.patch(f"/v1/stores/{mine['id']}", json={"name": "M"}, headers=marketer)).status_code == 403
    assert (await client.post("/v1/stores", json=create, headers=marketer)).status_code == 403
    assert (await client.delete(f"/v1/stores/{mine['id']}", headers=marketer)).status_code == 403

    # An admin of one brand gets 404 for the other's store, as for a store that does not exist.
    for method in ("get", "patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "patch" else {}
        answer = await getattr(client, method)(f"/v1/stores/{foreign['id']}", headers=brand.admin, **kwargs)
        assert answer.status_code == 404


async def _nearby(brand: BrandContext, lon: float, lat: float, **params: Any) -> list[dict[str, Any]]:
    answer = await brand.client.get("/v1/stores/nearby", params={"lon": lon, "lat": lat} | params, headers=brand.admin)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_nearby_orders_by_geodesic_distance(brand: BrandContext) -> None:
    points = [(2.36, 48.86), (2.30, 48.87), (2.3522, 48.8566), (2.40, 48.80), (2.5, 49.5)]
    for n, (lon, lat) in enumerate(points):
        await brand.store(lon, lat, name=f"s{n}")
    items = await _nearby(brand, *PARIS, radius_m=20_000)
    assert len(items) == 4  # the fifth is ~75 km away
    distances = [i["distance_m"] for i in items]
    assert distances == sorted(distances)
    for item in items:
        lon, lat = item["store"]["location"]["coordinates"]
        expected = geodesic((PARIS[1], PARIS[0]), (lat, lon)).meters
        assert item["distance_m"] == pytest.approx(expected, rel=0.005, abs=0.01)
    assert len(await _nearby(brand, *PARIS, radius_m=20_000, limit=2)) == 2


async def test_nearby_across_the_antimeridian_and_near_the_pole(brand: BrandContext) -> None:
    east = await brand.store(179.95, 10.0, name="east")  # ~5.5 km from the query point
    west = await brand.store(-179.99, 10.0, name="west")  # ~1.1 km, across the line
    items = await _nearby(brand, 180.0, 10.0, radius_m=10_000)
    assert [i["store"]["id"] for i in items] == [west["id"], east["id"]]
    assert items[0]["distance_m"] == pytest.approx(geodesic((10, 180), (10, -179.99)).meters, rel=0.005)

    # Near the North Pole, longitudes converge: 0.01° of latitude beats 170° of longitude.
    polar_far = await brand.store(10.0, 89.9, name="far")
    polar_near = await brand.store(-170.0, 89.99, name="near")
    items = await _nearby(brand, 0.0, 89.995, radius_m=50_000)
    assert [i["store"]["id"] for i in items] == [polar_near["id"], polar_far["id"]]
    for item in items:
        lon, lat = item["store"]["location"]["coordinates"]
        assert item["distance_m"] == pytest.approx(geodesic((89.995, 0.0), (lat, lon)).meters, rel=0.005)


async def test_nearby_rejects_bad_parameters(brand: BrandContext) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lon": 181, "lat": 0}, "lon"),
        ({"lon": 0, "lat": -90.5}, "lat"),
        ({"lon": 0, "lat": 0, "radius_m": 0}, "radius_m"),
        ({"lon": 0, "lat": 0, "radius_m": 1e9}, "radius_m"),
        ({"lon": "nan", "lat": 0}, "lon"),
        ({"lat": 0}, "lon"),
    ]
    for params, field in cases:
        answer = await brand.client.get("/v1/stores/nearby", params=params, headers=brand.admin)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.json()["errors"][0]["field"] == field


async def test_nearby_uses_the_knn_index(brand: BrandContext) -> None:
    """At 20,000 stores the plan is an index scan ordered by `<->` on (brand_id, location)."""
    async with brand.sessions() as session:
        await session.execute(
            text(
                """
                INSERT INTO stores (brand_id, name, location, timezone)
                SELECT :brand_id, 'bulk ' || g,
                       ST_SetSRID(ST_MakePoint(-5 + random() * 13, 42 + random() * 9), 4326)::geography, 'Europe/Paris'
                FROM generate_series(1, 20000) g
                """
            ),
            {"brand_id": brand.id},
        )
        await session.execute(text("ANALYZE stores"))
        await session.commit()
        from solomo.stores.service import _NEARBY

        plan = "\n".join(
            r[0]
            for r in await session.execute(
                text("EXPLAIN " + str(_NEARBY.text)),
                {"brand_id": brand.id, "lon": 2.35, "lat": 48.85, "radius_m": 5000, "limit": 20, "scope": None},
            )
        )
    assert "ix_stores_brand_location" in plan, plan
    assert "Order By: (location <-> " in plan, plan
    items = await _nearby(brand, 2.35, 48.85, radius_m=50_000, limit=50)
    assert [i["distance_m"] for i in items] == sorted(i["distance_m"] for i in items)


async def test_a_store_with_history_is_archived_not_deleted(scene: Any) -> None:
    brand = scene.brand
    fence = await scene.fence({"geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 200})
    assert (await scene.ok(*PARIS))["matches"] != []
    url = f"/v1/stores/{scene.store['id']}"
    assert (await brand.client.delete(url, headers=brand.admin)).status_code == 204
    archived = await brand.client.get(url, headers=brand.admin)
    assert archived.status_code == 200  # history still points at it
    assert archived.json()["archived_at"] is not None
    assert (await brand.client.get("/v1/stores", headers=brand.admin)).json()["items"] == []
    listed = (await brand.client.get("/v1/stores", params={"include_archived": True}, headers=brand.admin)).json()
    assert [s["id"] for s in listed["items"]] == [scene.store["id"]]
    assert (await _nearby(brand, *PARIS))[:1] == []
    assert (await brand.client.get(f"/v1/geofences/{fence['id']}", headers=brand.admin)).json()["properties"][
        "active"
    ] is False
    assert (await scene.ok(*PARIS, after_s=600))["matches"] == []  # its fences no longer match
    refused = await brand.client.patch(url, json={"name": "again"}, headers=brand.admin)
    assert (refused.status_code, refused.json()["code"]) == (409, "store_archived")
    new_fence = await brand.client.post(
        f"{url}/geofences", json={"name": "x", "geometry": {"type": "Point", "coordinates": list(PARIS)}, "radius_m": 50},
        headers=brand.admin,
    )  # fmt: skip
    assert new_fence.status_code == 409
    assert (await brand.client.delete(url, headers=brand.admin)).status_code == 204  # already archived: no-op

    unvisited = await brand.store(name="never visited")
    assert (await brand.client.delete(f"/v1/stores/{unvisited['id']}", headers=brand.admin)).status_code == 204
    assert (await brand.client.get(f"/v1/stores/{unvisited['id']}", headers=brand.admin)).status_code == 404


async def test_store_lists_page_newest_first(brand: BrandContext) -> None:
    made = [(await brand.store(name=f"Store {n}"))["id"] for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await brand.client.get("/v1/stores", params=params, headers=brand.admin)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]


# Coordinates in GCJ-02 or BD-09 (crs)


def metres(a: Sequence[float], b: Sequence[float]) -> float:
    return float(geodesic((a[1], a[0]), (b[1], b[0])).meters)


async def _stored_location(brand: BrandContext, store_id: str) -> tuple[float, float]:
    async with brand.sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT ST_X(location::geometry) AS lon, ST_Y(location::geometry) AS lat FROM stores WHERE id = :id"
                ),
                {"id": store_id},
            )
        ).one()
    return row.lon, row.lat


async def test_store_in_gcj02_is_stored_in_wgs84_and_read_back_in_gcj02(brand: BrandContext) -> None:
    client, admin = brand.client, brand.admin
    bund = (121.4948, 31.2381)  # as AMap shows the Bund: GCJ-02
    created = await client.post(
        "/v1/stores",
        params={"crs": "gcj02"},
        json={"name": "Bund", "timezone": "Asia/Shanghai", "location": {"type": "Point", "coordinates": list(bund)}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    store = created.json()
    assert metres(store["location"]["coordinates"], bund) < 0.5  # answered in the crs asked for

    stored = await _stored_location(brand, store["id"])
    assert metres(stored, gcj02_to_wgs84(*bund)) < 0.5
    assert metres(stored, bund) > 300  # not the GCJ-02 numbers
    url = f"/v1/stores/{store['id']}"
    assert metres((await client.get(url, headers=admin)).json()["location"]["coordinates"], stored) < 0.01
    read = await client.get(url, params={"crs": "gcj02"}, headers=admin)
    assert metres(read.json()["location"]["coordinates"], bund) < 0.5
    in_baidu = await client.get(url, params={"crs": "bd09"}, headers=admin)
    assert metres(in_baidu.json()["location"]["coordinates"], gcj02_to_bd09(*bund)) < 0.5
    listed = await client.get("/v1/stores", params={"crs": "gcj02"}, headers=admin)
    assert metres(listed.json()["items"][0]["location"]["coordinates"], bund) < 0.5

    nearby = await _nearby(brand, *bund, crs="gcj02", radius_m=100)  # the point in GCJ-02 too
    assert [item["store"]["id"] for item in nearby] == [store["id"]]
    assert nearby[0]["distance_m"] < 0.5
    assert metres(nearby[0]["store"]["location"]["coordinates"], bund) < 0.5
    assert await _nearby(brand, *bund, radius_m=100) == []  # the same numbers as WGS-84 are 500 m away

    moved = (121.5010, 31.2450)  # Baidu's numbers for a place nearby
    patched = await client.patch(
        url, params={"crs": "bd09"}, json={"location": {"type": "Point", "coordinates": list(moved)}}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert metres(patched.json()["location"]["coordinates"], moved) < 0.5
    assert metres(await _stored_location(brand, store["id"]), bd09_to_wgs84(*moved)) < 0.5


async def test_crs_changes_nothing_outside_china(brand: BrandContext) -> None:
    store = await brand.client.post(
        "/v1/stores",
        params={"crs": "gcj02"},
        json={"name": "Louvre", "timezone": "Europe/Paris", "location": {"type": "Point", "coordinates": list(PARIS)}},
        headers=brand.admin,
    )
    assert store.json()["location"]["coordinates"] == list(PARIS)
    assert await _stored_location(brand, store.json()["id"]) == pytest.approx(PARIS, abs=1e-12)


async def test_unknown_crs_is_422_naming_it(brand: BrandContext) -> None:
    store = await brand.store()
    for method, url in (
        ("GET", f"/v1/stores/{store['id']}"),
        ("GET", "/v1/stores"),
        ("PATCH", f"/v1/stores/{store['id']}"),
    ):
        answer = await brand.client.request(method, url, params={"crs": "bogus"}, json={}, headers=brand.admin)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["errors"] == [{"field": "crs", "message": "Invalid enum value 'bogus'", "source": "query"}]
