"""Bulk import: all or nothing, every bad feature named by index; also from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from solomo.geo.crs import gcj02_to_wgs84
from tests.cli import run_solomo_async
from tests.conftest import BrandContext
from tests.test_geofences import circle, metres, square


def feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


async def _count(brand: BrandContext) -> int:
    answer = await brand.client.get("/v1/geofences", params={"limit": 500}, headers=brand.admin)
    return len(answer.json()["features"])


async def test_good_file_imports_everything(brand: BrandContext) -> None:
    by_id = await brand.store()
    await brand.store(external_ref="LYON-1")
    collection = {
        "type": "FeatureCollection",
        "bbox": [0, 0, 10, 50],
        "features": [
            feature(circle(2.35, 48.85), store_id=by_id["id"], radius_m=120, name="door", dwell_seconds=60),
            feature(square(4.83, 45.76, 0.002), store_external_ref="LYON-1", name="mall", colour="green"),
            {
                "type": "Feature",
                "id": "parking-7",
                "geometry": square(4.84, 45.76, 0.001),
                "properties": {"store_external_ref": "LYON-1"},
            },
        ],
    }
    answer = await brand.client.post("/v1/geofences/import", json=collection, headers=brand.admin)
    assert answer.status_code == 201, answer.text
    result = answer.json()
    assert result["imported"] == 3
    listed = {f["id"]: f for f in (await brand.client.get("/v1/geofences", headers=brand.admin)).json()["features"]}
    assert set(listed) == set(result["ids"])
    names = sorted(f["properties"]["name"] for f in listed.values())
    assert names == ["door", "mall", "parking-7"]
    door = next(f for f in listed.values() if f["properties"]["name"] == "door")
    assert (door["properties"]["radius_m"], door["properties"]["dwell_seconds"]) == (120.0, 60)


async def test_mixed_file_imports_nothing_and_names_every_bad_feature(brand: BrandContext) -> None:
    store = await brand.store()
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0.01], [0.01, 0], [0, 0.01], [0, 0]]]}
    collection = {
        "type": "FeatureCollection",
        "features": [
            feature(circle(2.35, 48.85), store_id=store["id"], radius_m=100),
            feature(bow_tie, store_id=store["id"]),
            feature(square(2.35, 48.85, 0.001), store_external_ref="NOPE"),
            feature(circle(2.35, 48.85), store_id=store["id"]),
            feature(None, store_id=store["id"]),
            feature(square(2.35, 48.85, 0.001), store_id=store["id"], dwell_seconds="long"),
            feature(square(2.35, 48.85, 0.001)),
        ],
    }
    answer = await brand.client.post("/v1/geofences/import", json=collection, headers=brand.admin)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    fields = [e["field"] for e in problem["errors"]]
    assert fields == [
        "features[1].geometry.coordinates[0]",
        "features[2].properties.store_external_ref",
        "features[3].properties.radius_m",
        "features[4].geometry",
        "features[5].properties.dwell_seconds",
        "features[6].properties",
    ]
    assert "6 of 7 features" in problem["detail"]
    assert await _count(brand) == 0


async def test_import_and_export_in_gcj02_round_trip(brand: BrandContext) -> None:
    """A file drawn on AMap (GCJ-02) goes in with crs=gcj02 and comes back out the same with crs=gcj02: stored, and
    exported by default, in WGS-84. A bad vertex is named as it was sent."""
    await brand.store(121.4737, 31.2304, external_ref="SH-1")
    door, mall = (121.4782, 31.2285), square(121.4800, 31.2300, 0.001)
    collection = {
        "type": "FeatureCollection",
        "features": [
            feature(circle(*door), store_external_ref="SH-1", radius_m=60, name="door"),
            feature(mall, store_external_ref="SH-1", name="mall"),
        ],
    }
    answer = await brand.client.post(
        "/v1/geofences/import", params={"crs": "gcj02"}, json=collection, headers=brand.admin
    )
    assert answer.status_code == 201, answer.text

    async def exported(**params: str) -> dict[str, Any]:
        listed = await brand.client.get("/v1/geofences", params=params, headers=brand.admin)
        return {f["properties"]["name"]: f for f in listed.json()["features"]}

    in_gcj = await exported(crs="gcj02")
    assert metres(in_gcj["door"]["geometry"]["coordinates"], door) < 0.5
    assert in_gcj["door"]["properties"]["radius_m"] == 60.0
    for got, sent in zip(in_gcj["mall"]["geometry"]["coordinates"][0], mall["coordinates"][0], strict=True):
        assert metres(got, sent) < 0.5
    in_wgs = await exported()
    assert metres(in_wgs["door"]["geometry"]["coordinates"], gcj02_to_wgs84(*door)) < 0.5

    hole = [[121.4795, 31.2295], [121.4805, 95.0], [121.4805, 31.2305], [121.4795, 31.2295]]
    holed = {"type": "Polygon", "coordinates": [*mall["coordinates"], hole]}
    refused = await brand.client.post(
        "/v1/geofences/import",
        params={"crs": "gcj02"},
        json={"type": "FeatureCollection", "features": [feature(holed, store_external_ref="SH-1")]},
        headers=brand.admin,
    )
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert (error["field"], error["message"]) == (
        "features[0].geometry.coordinates[1][1]",
        "latitude 95 is out of range [-90, 90]",
    )


async def test_manager_imports_only_into_its_stores(brand: BrandContext) -> None:
    import uuid

    mine, other = await brand.store(), await brand.store()
    manager = brand.bearer(await brand.key("manager", store_ids=[uuid.UUID(mine["id"])]))
    collection = {
        "type": "FeatureCollection",
        "features": [
            feature(circle(2.35, 48.85), store_id=mine["id"], radius_m=100),
            feature(circle(2.35, 48.85), store_id=other["id"], radius_m=100),
        ],
    }
    answer = await brand.client.post("/v1/geofences/import", json=collection, headers=manager)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["features[1].properties.store_id"]
    assert await _count(brand) == 0


async def test_empty_and_wrong_shapes_are_refused(brand: BrandContext) -> None:
    empty = await brand.client.post(
        "/v1/geofences/import", json={"type": "FeatureCollection", "features": []}, headers=brand.admin
    )
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "features"
    wrong = await brand.client.post(
        "/v1/geofences/import", json={"type": "Feature", "geometry": None}, headers=brand.admin
    )
    assert wrong.status_code == 422


async def test_command_line_import(brand: BrandContext, database_url: str, tmp_path: Path) -> None:
    store = await brand.store(external_ref="CLI-1")
    path = tmp_path / "fences.geojson"
    features = [feature(circle(2.35 + k / 1000, 48.85), store_external_ref="CLI-1", radius_m=50) for k in range(30)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    done = await run_solomo_async(database_url, "geofences", "import", str(path), "--brand", str(brand.id))
    assert done.returncode == 0, done.stderr
    assert "imported 30 geofences" in done.stdout
    assert await _count(brand) == 30

    features.append(feature(circle(2.35, 48.85), store_id=store["id"]))  # no radius
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    failed = await run_solomo_async(database_url, "geofences", "import", str(path), "--brand", str(brand.id))
    assert failed.returncode == 1
    assert "features[30].properties.radius_m" in failed.stderr
    assert await _count(brand) == 30
