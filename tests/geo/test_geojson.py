"""GeoJSON bodies decode per RFC 7946: foreign members pass, unknown types fail."""

from __future__ import annotations

import msgspec
import pytest

from solomo.geo import Feature, FeatureCollection, Geometry, MultiPolygon, Point, Polygon, PolygonalGeometry

RING = "[[0,0],[0.01,0],[0.01,0.01],[0,0.01],[0,0]]"


def test_foreign_members_are_ignored() -> None:
    body = f'{{"type":"Polygon","coordinates":[{RING}],"bbox":[0,0,0.01,0.01],"crs":{{"type":"name"}}}}'
    geom = msgspec.json.decode(body, type=Geometry)
    assert isinstance(geom, Polygon)
    assert geom.coordinates[0][1] == [0.01, 0.0]


def test_each_geometry_type_decodes() -> None:
    assert msgspec.json.decode('{"type":"Point","coordinates":[2.35,48.85]}', type=Geometry) == Point(
        coordinates=[2.35, 48.85]
    )
    multi = msgspec.json.decode(f'{{"type":"MultiPolygon","coordinates":[[{RING}]]}}', type=PolygonalGeometry)
    assert isinstance(multi, MultiPolygon)


@pytest.mark.parametrize(
    "body",
    [
        '{"type":"Circle","coordinates":[2.35,48.85],"radius":100}',
        '{"type":"Point","coordinates":[2.35,48.85]}',
        f'{{"type":"Polygon","coordinates":{RING}}}',
        '{"type":"Polygon"}',
    ],
)
def test_what_is_not_a_polygonal_geometry_fails_to_decode(body: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=PolygonalGeometry)


def test_circle_type_is_not_a_geometry() -> None:
    with pytest.raises(msgspec.ValidationError, match="Circle"):
        msgspec.json.decode('{"type":"Circle","coordinates":[2.35,48.85],"radius":100}', type=Geometry)


def test_feature_collection_with_a_circle_as_point_and_radius() -> None:
    body = f"""{{
        "type": "FeatureCollection",
        "name": "fences",
        "features": [
            {{"type": "Feature", "id": "store-1", "geometry": {{"type": "Point", "coordinates": [2.35, 48.85]}},
              "properties": {{"radius_m": 150, "name": "Rivoli"}}}},
            {{"type": "Feature", "id": 2, "geometry": {{"type": "Polygon", "coordinates": [{RING}]}},
              "properties": null, "title": "foreign"}},
            {{"type": "Feature", "geometry": null}}
        ]
    }}"""
    collection = msgspec.json.decode(body, type=FeatureCollection)
    circle, polygon, empty = collection.features
    assert isinstance(circle.geometry, Point)
    assert circle.properties == {"radius_m": 150, "name": "Rivoli"}
    assert circle.id == "store-1"
    assert isinstance(polygon.geometry, Polygon)
    assert polygon.id == 2
    assert empty.geometry is None
    assert empty.properties is None


def test_encoding_writes_the_type_tag() -> None:
    feature = Feature(geometry=Point(coordinates=[2.35, 48.85]), properties={"radius_m": 100})
    encoded = msgspec.json.decode(msgspec.json.encode(feature))
    assert encoded["type"] == "Feature"
    assert encoded["geometry"] == {"type": "Point", "coordinates": [2.35, 48.85]}
