"""The ``crs`` query parameter: on every route with coordinates, documented once; answers converted whole."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from solomo.app import create_app
from solomo.config import Settings
from solomo.coordinates import CRS_DESCRIPTION, answer_in, coordinates_in
from solomo.geo.crs import CRS_NAMES, wgs84_to_bd09, wgs84_to_gcj02
from solomo.geo.geojson import Feature, MultiPolygon, Point, Polygon
from solomo.geofences.schemas import GeofenceCollection, GeofenceFeature, GeofenceProperties
from solomo.openapi_doc import render_openapi
from solomo.stores.schemas import NearbyStore, NearbyStores, StoreOut
from tests.test_openapi_contract import METHODS, NOWHERE

SHANGHAI = [121.4737, 31.2304]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _store(location: list[float]) -> StoreOut:
    return StoreOut(
        id=uuid.uuid4(),
        name="s",
        address=None,
        location=Point(coordinates=location),
        timezone="Asia/Shanghai",
        tags=[],
        external_ref=None,
        archived_at=None,
        created_at=NOW,
        updated_at=NOW,
    )


def _fence(geometry: Point | Polygon | MultiPolygon, radius_m: float | None = None) -> GeofenceFeature:
    properties = GeofenceProperties(
        store_id=uuid.uuid4(),
        name="f",
        kind="circle" if radius_m else "polygon",
        radius_m=radius_m,
        dwell_seconds=0,
        active=True,
        area_m2=1.0,
        vertex_count=1,
        created_at=NOW,
        updated_at=NOW,
    )
    return GeofenceFeature(id=uuid.uuid4(), geometry=geometry, properties=properties)


def test_wgs84_answers_are_the_very_same_object() -> None:
    answer = NearbyStores(items=[NearbyStore(store=_store(SHANGHAI), distance_m=3.0)])
    assert answer_in("wgs84", answer) is answer


def test_nested_points_are_converted_and_the_answer_left_alone() -> None:
    paris = _store([2.3522, 48.8566])
    answer = NearbyStores(items=[NearbyStore(store=_store(SHANGHAI), distance_m=3.0), NearbyStore(paris, 9.0)])
    converted = answer_in("gcj02", answer)
    assert converted.items[0].store.location.coordinates == pytest.approx(list(wgs84_to_gcj02(*SHANGHAI)), abs=1e-9)
    assert converted.items[0].distance_m == 3.0  # metres stay metres
    assert converted.items[1].store.location.coordinates == [2.3522, 48.8566]  # outside China: unmoved
    assert answer.items[0].store.location.coordinates == SHANGHAI  # the WGS-84 answer is untouched


def test_every_geometry_of_a_collection_is_converted_rings_stay_closed() -> None:
    ring = [[121.47, 31.23], [121.48, 31.23], [121.48, 31.24], [121.47, 31.24], [121.47, 31.23]]
    collection = GeofenceCollection(
        features=[
            _fence(Point(coordinates=SHANGHAI), radius_m=80),
            _fence(Polygon(coordinates=[ring])),
            _fence(MultiPolygon(coordinates=[[ring], [[[x + 0.1, y] for x, y in ring]]])),
        ]
    )
    converted = answer_in("bd09", collection)
    circle, polygon, multi = (feature.geometry for feature in converted.features)
    assert isinstance(circle, Point)
    assert circle.coordinates == pytest.approx(list(wgs84_to_bd09(*SHANGHAI)), abs=1e-9)
    assert converted.features[0].properties.radius_m == 80
    assert isinstance(polygon, Polygon)
    assert polygon.coordinates[0] == [pytest.approx(list(wgs84_to_bd09(*p)), abs=1e-9) for p in ring]
    assert polygon.coordinates[0][0] == polygon.coordinates[0][-1]
    assert isinstance(multi, MultiPolygon)
    assert multi.coordinates[1][0][0] == pytest.approx(list(wgs84_to_bd09(121.57, 31.23)), abs=1e-9)


def test_free_form_properties_are_not_coordinates() -> None:
    feature = Feature(geometry=Point(coordinates=SHANGHAI), properties={"entrance": {"coordinates": SHANGHAI}})
    converted = answer_in("gcj02", feature)
    assert converted.properties == {"entrance": {"coordinates": SHANGHAI}}
    assert converted.geometry is not None
    assert converted.geometry.coordinates != SHANGHAI


def test_coordinates_keep_altitude_nesting_and_emptiness() -> None:
    assert coordinates_in("gcj02", [*SHANGHAI, 12.0])[2] == 12.0
    assert coordinates_in("gcj02", []) == []
    assert coordinates_in("gcj02", [[], [SHANGHAI]])[0] == []
    assert coordinates_in("gcj02", SHANGHAI, decimals=3) == [121.478, 31.228]


# The OpenAPI document: one parameter, the same everywhere it belongs, and nowhere else

GEOMETRY_SCHEMAS = {"Point", "Polygon", "MultiPolygon", "HexagonPolygon"}
COORDINATE_PARAMETERS = {"lon", "lat", "bbox"}


@pytest.fixture(scope="module")
def document(settings: Settings) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render_openapi(create_app(settings, database_url=NOWHERE)))
    return loaded


def _schemas_used(node: Any, schemas: dict[str, Any], seen: set[str]) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                _schemas_used(schemas[name], schemas, seen)
        for value in node.values():
            _schemas_used(value, schemas, seen)
    elif isinstance(node, list):
        for value in node:
            _schemas_used(value, schemas, seen)
    return seen


def test_every_route_with_coordinates_takes_crs_and_no_other_does(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    with_crs = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            parameters = operation.get("parameters", [])
            carries = bool(_schemas_used(operation, schemas, set()) & GEOMETRY_SCHEMAS) or any(
                p["name"] in COORDINATE_PARAMETERS for p in parameters
            )
            crs = [p for p in parameters if p["name"] == "crs"]
            if not carries:
                assert crs == [], (method, path)
                continue
            with_crs.append(f"{method.upper()} {path}")
            [parameter] = crs
            assert (parameter["in"], parameter["required"]) == ("query", False), (method, path)
            assert parameter["description"] == CRS_DESCRIPTION, (method, path)
            assert parameter["schema"]["enum"] == list(CRS_NAMES), (method, path)
            assert parameter["schema"]["default"] == "wgs84", (method, path)
    # The routes of issue 18: check-ins, stores, geofences (import and export too), nearby offers, the heatmap
    # and a member's export.
    assert sorted(with_crs) == [
        "GET /v1/geofences",
        "GET /v1/geofences/{geofence_id}",
        "GET /v1/members/me/checkins",
        "GET /v1/members/{member_id}/checkins",
        "GET /v1/members/{member_id}/export",
        "GET /v1/offers/nearby",
        "GET /v1/stats/checkins/heatmap",
        "GET /v1/stores",
        "GET /v1/stores/nearby",
        "GET /v1/stores/{store_id}",
        "PATCH /v1/geofences/{geofence_id}",
        "PATCH /v1/stores/{store_id}",
        "POST /v1/checkins",
        "POST /v1/geofences/import",
        "POST /v1/stores",
        "POST /v1/stores/{store_id}/geofences",
    ]
