"""Geofences: circles and polygons through the API, every validation rule as a 422 naming the field, bbox, scopes."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from pyproj import Geod
from sqlalchemy import text

from solomo.geo.crs import bd09_to_gcj02, bd09_to_wgs84, wgs84_to_gcj02
from tests.conftest import BrandContext

GEOD = Geod(ellps="WGS84")


def square(lon: float, lat: float, half_deg: float, *, clockwise: bool = False) -> dict[str, Any]:
    ring = [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
        [lon - half_deg, lat + half_deg],
        [lon - half_deg, lat - half_deg],
    ]
    if clockwise:
        ring.reverse()
    return {"type": "Polygon", "coordinates": [ring]}


def circle(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def ring_area_m2(ring: list[list[float]]) -> float:
    lons, lats = zip(*ring, strict=True)
    return abs(GEOD.polygon_area_perimeter(lons, lats)[0])


async def _create(
    brand: BrandContext, store_id: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Any:
    return await brand.client.post(f"/v1/stores/{store_id}/geofences", json=body, headers=headers or brand.admin)


async def test_circle_round_trip(brand: BrandContext) -> None:
    store = await brand.store()
    answer = await _create(brand, store["id"], {"name": "door", "geometry": circle(2.35, 48.85), "radius_m": 150})
    assert answer.status_code == 201, answer.text
    fence = answer.json()
    assert fence["type"] == "Feature"
    assert fence["geometry"] == {"type": "Point", "coordinates": [2.35, 48.85]}
    props = fence["properties"]
    assert (props["kind"], props["radius_m"], props["dwell_seconds"], props["active"]) == ("circle", 150.0, 0, True)
    assert props["area_m2"] == pytest.approx(math.pi * 150**2)
    assert props["store_id"] == store["id"]
    got = await brand.client.get(f"/v1/geofences/{fence['id']}", headers=brand.admin)
    assert got.json() == fence


async def test_polygon_round_trip_normalises_winding_and_measures_geodesically(brand: BrandContext) -> None:
    store = await brand.store()
    body: dict[str, Any] = {
        "name": "mall",
        "geometry": square(2.35, 48.85, 0.002, clockwise=True),
        "dwell_seconds": 300,
    }
    answer = await _create(brand, store["id"], body)
    assert answer.status_code == 201, answer.text
    fence = answer.json()
    ring = fence["geometry"]["coordinates"][0]
    lons, lats = zip(*ring, strict=True)
    assert GEOD.polygon_area_perimeter(lons, lats)[0] > 0  # counter-clockwise exterior (RFC 7946)
    assert fence["properties"]["area_m2"] == pytest.approx(ring_area_m2(body["geometry"]["coordinates"][0]), rel=1e-3)
    assert fence["properties"]["vertex_count"] == 5
    assert fence["properties"]["dwell_seconds"] == 300


async def test_foreign_members_are_accepted_and_ignored(brand: BrandContext) -> None:
    store = await brand.store()
    geometry = square(2.35, 48.85, 0.001) | {"bbox": [2.349, 48.849, 2.351, 48.851], "crs": {"type": "name"}}
    answer = await _create(brand, store["id"], {"name": "x", "geometry": geometry})
    assert answer.status_code == 201, answer.text
    assert "bbox" not in answer.json()["geometry"]


def _bow_tie() -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0.01], [0.01, 0], [0, 0.01], [0, 0]]]}


def _many_vertices(n: int) -> dict[str, Any]:
    ring = [[10 + 0.02 * math.cos(2 * math.pi * k / n), 10 + 0.02 * math.sin(2 * math.pi * k / n)] for k in range(n)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


BAD_FENCES: list[tuple[str, dict[str, Any], str, str]] = [
    ("bow-tie", {"geometry": _bow_tie()}, "geometry.coordinates[0]", "self-intersection"),
    (
        "unclosed ring",
        {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01]]]}},
        "geometry.coordinates[0]",
        "closed",
    ),
    (
        "three positions",
        {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0], [0, 0]]]}},
        "geometry.coordinates[0]",
        "4",
    ),
    (
        "lon out of range",
        {"geometry": {"type": "Polygon", "coordinates": [[[179.99, 0], [190, 0], [190, 0.01], [179.99, 0]]]}},
        "geometry.coordinates[0][1]",
        "190",
    ),
    (
        "lat out of range",
        {"geometry": {"type": "Polygon", "coordinates": [[[0, 89.99], [0.01, 95], [0.02, 89.99], [0, 89.99]]]}},
        "geometry.coordinates[0][1]",
        "95",
    ),
    (
        "string coordinate",
        {"geometry": {"type": "Polygon", "coordinates": [[["0", 0], [0.01, 0], [0, 0.01], ["0", 0]]]}},
        "geometry.coordinates[0][0][0]",
        "",
    ),
    (
        "hole outside shell",
        {
            "geometry": {
                "type": "Polygon",
                "coordinates": [square(0, 0, 0.01)["coordinates"][0], square(1, 1, 0.001)["coordinates"][0]],
            }
        },
        "geometry.coordinates[1]",
        "",
    ),
    ("too many vertices", {"geometry": _many_vertices(10_000)}, "geometry", "10,000"),
    (
        "edge over 10 km",
        {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [0.1, 0], [0, 0.001], [0, 0]]]}},
        "geometry.coordinates[0][1]",
        "10 km",
    ),
    (
        "antimeridian jump",
        {
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[179.999, 0], [-179.999, 0], [-179.999, 0.001], [179.999, 0]]],
            }
        },
        "geometry.coordinates[0][1]",
        "antimeridian",
    ),
    ("area over the cap", {"geometry": square(10, 10, 0.03)}, "geometry", "km²"),
    ("unknown type", {"geometry": {"type": "Circle", "coordinates": [0, 0]}}, "geometry.type", "circle"),
    ("circle without radius", {"geometry": circle(0, 0)}, "radius_m", "radius"),
    ("radius too small", {"geometry": circle(0, 0), "radius_m": 5}, "radius_m", ""),
    ("radius too large", {"geometry": circle(0, 0), "radius_m": 60_000}, "radius_m", ""),
    ("circle over the cap", {"geometry": circle(0, 0), "radius_m": 3000}, "radius_m", "km²"),
    ("radius on a polygon", {"geometry": square(0, 0, 0.001), "radius_m": 50}, "radius_m", "circle"),
    ("center out of range", {"geometry": circle(0, 91), "radius_m": 50}, "geometry.coordinates", "91"),
    ("negative dwell", {"geometry": circle(0, 0), "radius_m": 50, "dwell_seconds": -1}, "dwell_seconds", ""),
    ("unknown field", {"geometry": circle(0, 0), "radius_m": 50, "shape": "round"}, "shape", ""),
]


@pytest.mark.parametrize(("case", "body", "field", "says"), BAD_FENCES, ids=[c[0] for c in BAD_FENCES])
async def test_bad_fences_are_422_naming_the_field(
    brand: BrandContext, case: str, body: dict[str, Any], field: str, says: str
) -> None:
    store = await brand.store()
    answer = await _create(brand, store["id"], {"name": case} | body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    error = problem["errors"][0]
    assert error["field"] == field, problem
    assert says.lower() in error["message"].lower(), problem
    listed = (await brand.client.get("/v1/geofences", params={"store_id": store["id"]}, headers=brand.admin)).json()
    assert listed["features"] == []  # nothing half-written


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
async def test_non_finite_coordinates_are_422_naming_the_vertex(brand: BrandContext, number: bytes) -> None:
    store = await brand.store()
    raw = (
        b'{"name": "x", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [%s, 0], [0, 0.01], [0, 0]]]}}'
        % number
    )
    answer = await brand.client.post(
        f"/v1/stores/{store['id']}/geofences", content=raw, headers=brand.admin | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "geometry.coordinates[0][1][0]"


async def test_bow_tie_error_says_where(brand: BrandContext) -> None:
    store = await brand.store()
    message = (await _create(brand, store["id"], {"name": "bt", "geometry": _bow_tie()})).json()["errors"][0]["message"]
    assert "0.005" in message  # the crossing is at (0.005, 0.005)


async def test_limits_that_are_just_inside_pass(brand: BrandContext) -> None:
    store = await brand.store()
    # 10,000 positions, the closing one included (as PostGIS ST_NPoints counts them).
    assert (await _create(brand, store["id"], {"name": "10k", "geometry": _many_vertices(9_999)})).status_code == 201
    nine_km = {"type": "Polygon", "coordinates": [[[0, 0], [0.08, 0], [0, 0.001], [0, 0]]]}
    assert (await _create(brand, store["id"], {"name": "9km", "geometry": nine_km})).status_code == 201
    # The cap is the brand's: raising it lets a larger fence in.
    assert (
        await brand.client.patch("/v1/brand", json={"fence_area_cap_km2": 50}, headers=brand.admin)
    ).status_code == 200
    big = await _create(brand, store["id"], {"name": "big", "geometry": square(10, 10, 0.03)})
    assert big.status_code == 201, big.text


async def test_antimeridian_multipolygon_works(brand: BrandContext) -> None:
    store = await brand.store(179.99, -17.0)
    east = [[179.98, -17.01], [180, -17.01], [180, -16.99], [179.98, -16.99], [179.98, -17.01]]
    west = [[-180, -17.01], [-179.98, -17.01], [-179.98, -16.99], [-180, -16.99], [-180, -17.01]]
    answer = await _create(
        brand, store["id"], {"name": "fiji", "geometry": {"type": "MultiPolygon", "coordinates": [[east], [west]]}}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["properties"]["area_m2"] == pytest.approx(ring_area_m2(east) + ring_area_m2(west), rel=1e-3)


async def test_patch_and_delete(brand: BrandContext) -> None:
    store = await brand.store()
    fence = (await _create(brand, store["id"], {"name": "c", "geometry": circle(2.35, 48.85), "radius_m": 100})).json()
    url = f"/v1/geofences/{fence['id']}"
    bigger = (await brand.client.patch(url, json={"radius_m": 200, "active": False}, headers=brand.admin)).json()
    assert (bigger["properties"]["radius_m"], bigger["properties"]["active"]) == (200.0, False)
    assert bigger["geometry"] == fence["geometry"]
    moved = (await brand.client.patch(url, json={"geometry": circle(2.36, 48.86)}, headers=brand.admin)).json()
    assert moved["properties"]["radius_m"] == 200.0
    polygon = (await brand.client.patch(url, json={"geometry": square(2.35, 48.85, 0.001)}, headers=brand.admin)).json()
    assert (polygon["properties"]["kind"], polygon["properties"]["radius_m"]) == ("polygon", None)
    refused = await brand.client.patch(url, json={"geometry": _bow_tie()}, headers=brand.admin)
    assert refused.status_code == 422
    assert (await brand.client.get(url, headers=brand.admin)).json() == polygon  # unchanged by the refusal
    assert (await brand.client.delete(url, headers=brand.admin)).status_code == 204
    assert (await brand.client.get(url, headers=brand.admin)).status_code == 404


async def test_scopes(brand: BrandContext, other_brand: BrandContext) -> None:
    mine, other = await brand.store(), await brand.store()
    manager = brand.bearer(await brand.key("manager", store_ids=[uuid.UUID(mine["id"])]))
    marketer = brand.bearer(await brand.key("marketer"))
    body = {"name": "f", "geometry": circle(2.35, 48.85), "radius_m": 100}
    own = await _create(brand, mine["id"], body, manager)
    assert own.status_code == 201
    assert (await _create(brand, other["id"], body, manager)).status_code == 403
    assert (await _create(brand, mine["id"], body, marketer)).status_code == 403
    not_mine = (await _create(brand, other["id"], body)).json()
    assert (await brand.client.get(f"/v1/geofences/{not_mine['id']}", headers=manager)).status_code == 403
    assert (
        await brand.client.patch(f"/v1/geofences/{not_mine['id']}", json={"name": "x"}, headers=manager)
    ).status_code == 403
    assert (await brand.client.delete(f"/v1/geofences/{not_mine['id']}", headers=manager)).status_code == 403
    listed = (await brand.client.get("/v1/geofences", headers=manager)).json()
    assert [f["id"] for f in listed["features"]] == [own.json()["id"]]
    assert len((await brand.client.get("/v1/geofences", headers=marketer)).json()["features"]) == 2
    assert (
        await brand.client.patch(f"/v1/geofences/{not_mine['id']}", json={"name": "x"}, headers=marketer)
    ).status_code == 403
    # Another brand: 404 for the store and for the fence.
    foreign_store = await other_brand.store()
    assert (await _create(brand, foreign_store["id"], body)).status_code == 404
    foreign = (await _create(other_brand, foreign_store["id"], body)).json()
    assert (await brand.client.get(f"/v1/geofences/{foreign['id']}", headers=brand.admin)).status_code == 404


async def test_bbox_listing(brand: BrandContext) -> None:
    paris_store, tokyo_store, fiji_store = (
        await brand.store(2.35, 48.85),
        await brand.store(139.7, 35.7),
        await brand.store(179.99, -17),
    )
    paris = (await _create(brand, paris_store["id"], {"name": "p", "geometry": square(2.35, 48.85, 0.001)})).json()
    tokyo = (
        await _create(brand, tokyo_store["id"], {"name": "t", "geometry": circle(139.7, 35.7), "radius_m": 300})
    ).json()
    fiji = (await _create(brand, fiji_store["id"], {"name": "f", "geometry": square(-179.995, -17, 0.002)})).json()

    async def ids(bbox: str, **params: Any) -> list[str]:
        answer = await brand.client.get("/v1/geofences", params={"bbox": bbox} | params, headers=brand.admin)
        assert answer.status_code == 200, answer.text
        assert answer.json()["type"] == "FeatureCollection"
        return sorted(f["id"] for f in answer.json()["features"])

    assert await ids("2,48,3,49") == [paris["id"]]
    assert await ids("139,35,140,36") == [tokyo["id"]]
    assert await ids("170,-20,-170,-10") == [fiji["id"]]  # across the antimeridian
    assert await ids("10,10,11,11") == []
    assert await ids("2,48,3,49", store_id=tokyo_store["id"]) == []
    for bad in ("1,2,3", "a,b,c,d", "0,0,1,91", "0,10,1,5", "-180,-80,180,80", "nan,0,1,1"):
        answer = await brand.client.get("/v1/geofences", params={"bbox": bad}, headers=brand.admin)
        assert answer.status_code == 422, bad
        assert answer.json()["errors"][0]["field"] == "bbox"


async def test_listing_is_paginated(brand: BrandContext) -> None:
    store = await brand.store()
    for n in range(5):
        await _create(brand, store["id"], {"name": f"f{n}", "geometry": circle(2.35 + n / 1000, 48.85), "radius_m": 50})
    seen: list[str] = []
    cursor = None
    while True:
        page = (
            await brand.client.get(
                "/v1/geofences", params={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=brand.admin
            )
        ).json()
        seen += [f["id"] for f in page["features"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5


# Fences in GCJ-02 or BD-09 (crs): converted before they are checked and stored, answered in the crs asked for

TIANANMEN_BD09 = (116.404, 39.915)  # where Baidu's map API examples centre on Tiananmen


def metres(a: Sequence[float], b: Sequence[float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


async def _stored_geometry(brand: BrandContext, fence_id: str) -> dict[str, Any]:
    async with brand.sessions() as session:
        stored = await session.scalar(
            text(
                "SELECT ST_AsGeoJSON(CASE WHEN kind = 'circle' THEN center ELSE geom END, 9) FROM geofences"
                " WHERE id = :id"
            ),
            {"id": fence_id},
        )
    geometry: dict[str, Any] = json.loads(stored)
    return geometry


async def test_fence_in_bd09_is_stored_in_wgs84_and_read_back_in_bd09(brand: BrandContext) -> None:
    store = await brand.store(*bd09_to_wgs84(*TIANANMEN_BD09))
    sent = square(*TIANANMEN_BD09, 0.002)
    ring = sent["coordinates"][0]
    answer = await brand.client.post(
        f"/v1/stores/{store['id']}/geofences", params={"crs": "bd09"}, json={"name": "square", "geometry": sent},
        headers=brand.admin,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    fence = answer.json()
    returned = fence["geometry"]["coordinates"][0]
    assert len(returned) == len(ring)
    assert returned[0] == returned[-1]
    assert all(metres(got, want) < 0.5 for got, want in zip(returned, ring, strict=True))

    stored = (await _stored_geometry(brand, fence["id"]))["coordinates"][0]
    wgs = [list(bd09_to_wgs84(*position)) for position in ring]
    assert all(metres(got, want) < 0.5 for got, want in zip(stored, wgs, strict=True))
    assert all(metres(got, want) > 500 for got, want in zip(stored, ring, strict=True))  # not the BD-09 numbers
    assert fence["properties"]["area_m2"] == pytest.approx(ring_area_m2(wgs), rel=1e-6)  # measured on the ground

    url = f"/v1/geofences/{fence['id']}"
    as_wgs = (await brand.client.get(url, headers=brand.admin)).json()["geometry"]["coordinates"][0]
    assert all(metres(got, want) < 0.01 for got, want in zip(as_wgs, stored, strict=True))
    as_gcj = (await brand.client.get(url, params={"crs": "gcj02"}, headers=brand.admin)).json()
    assert metres(as_gcj["geometry"]["coordinates"][0][0], bd09_to_gcj02(*ring[0])) < 0.5


async def test_circle_in_bd09_keeps_its_radius_and_its_centre_when_only_the_radius_changes(brand: BrandContext) -> None:
    store = await brand.store(*bd09_to_wgs84(*TIANANMEN_BD09))
    created = await brand.client.post(
        f"/v1/stores/{store['id']}/geofences", params={"crs": "bd09"},
        json={"name": "gate", "geometry": circle(*TIANANMEN_BD09), "radius_m": 120}, headers=brand.admin,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    fence = created.json()
    assert fence["properties"]["radius_m"] == 120.0
    assert metres(fence["geometry"]["coordinates"], TIANANMEN_BD09) < 0.5
    centre = (await _stored_geometry(brand, fence["id"]))["coordinates"]
    assert metres(centre, bd09_to_wgs84(*TIANANMEN_BD09)) < 0.5

    url = f"/v1/geofences/{fence['id']}"
    wider = await brand.client.patch(url, params={"crs": "bd09"}, json={"radius_m": 200}, headers=brand.admin)
    assert wider.status_code == 200, wider.text
    assert wider.json()["properties"]["radius_m"] == 200.0
    assert (await _stored_geometry(brand, fence["id"]))["coordinates"] == centre  # the stored centre, not re-converted
    assert metres(wider.json()["geometry"]["coordinates"], TIANANMEN_BD09) < 0.5

    east = (TIANANMEN_BD09[0] + 0.01, TIANANMEN_BD09[1])
    moved = await brand.client.patch(url, params={"crs": "bd09"}, json={"geometry": circle(*east)}, headers=brand.admin)
    assert moved.status_code == 200, moved.text
    assert metres((await _stored_geometry(brand, fence["id"]))["coordinates"], bd09_to_wgs84(*east)) < 0.5


async def test_bbox_in_gcj02(brand: BrandContext) -> None:
    """A map's view in AMap is a GCJ-02 box: the fences in it are found, and drawn in GCJ-02."""
    centre = (121.4737, 31.2304)
    store = await brand.store(*centre)
    fence = (await _create(brand, store["id"], {"name": "sq", "geometry": square(*centre, 0.001)})).json()
    lon, lat = wgs84_to_gcj02(*centre)
    view = f"{lon - 0.0015},{lat - 0.0015},{lon + 0.0015},{lat + 0.0015}"  # tight round the GCJ-02 square
    found = await brand.client.get("/v1/geofences", params={"bbox": view, "crs": "gcj02"}, headers=brand.admin)
    assert found.status_code == 200, found.text
    [feature] = found.json()["features"]
    assert feature["id"] == fence["id"]
    ring = fence["geometry"]["coordinates"][0]
    assert all(
        metres(got, wgs84_to_gcj02(*want)) < 0.5
        for got, want in zip(feature["geometry"]["coordinates"][0], ring, strict=True)
    )
    misread = await brand.client.get("/v1/geofences", params={"bbox": view}, headers=brand.admin)
    assert misread.json()["features"] == []  # the same numbers as WGS-84 are 500 m off


async def test_bow_tie_in_gcj02_is_422_naming_the_ring_and_the_crossing_as_drawn(brand: BrandContext) -> None:
    store = await brand.store(121.4737, 31.2304)
    bow_tie = [[121.47, 31.23], [121.48, 31.24], [121.48, 31.23], [121.47, 31.24], [121.47, 31.23]]
    answer = await brand.client.post(
        f"/v1/stores/{store['id']}/geofences", params={"crs": "gcj02"},
        json={"name": "bt", "geometry": {"type": "Polygon", "coordinates": [bow_tie]}}, headers=brand.admin,
    )  # fmt: skip
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "geometry.coordinates[0]"
    assert error["message"] == "self-intersection at lon 121.475000, lat 31.235000"


async def test_unknown_crs_is_422_on_fence_routes(brand: BrandContext) -> None:
    store = await brand.store()
    body = {"name": "c", "geometry": circle(2.35, 48.85), "radius_m": 100}
    fence = (await _create(brand, store["id"], body)).json()
    for method, url, json_body in (
        ("POST", f"/v1/stores/{store['id']}/geofences", body),
        ("GET", "/v1/geofences", None),
        ("GET", f"/v1/geofences/{fence['id']}", None),
        ("PATCH", f"/v1/geofences/{fence['id']}", {"name": "d"}),
        ("POST", "/v1/geofences/import", {"type": "FeatureCollection", "features": []}),
    ):
        answer = await brand.client.request(method, url, params={"crs": "WGS84"}, json=json_body, headers=brand.admin)
        assert answer.status_code == 422, (url, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == ["crs"]
