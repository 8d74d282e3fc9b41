"""EWKB to and from PostGIS, GeoJSON out."""

from __future__ import annotations

import msgspec
import shapely

from solomo.geo import MultiPolygon, Point, Polygon, from_wkb, to_ewkb_hex, to_geojson


def test_ewkb_round_trip_keeps_srid_4326() -> None:
    polygon = shapely.Polygon([(2.35, 48.85), (2.36, 48.85), (2.36, 48.86), (2.35, 48.85)])
    hex_ewkb = to_ewkb_hex(polygon)
    assert hex_ewkb.upper().startswith("0103000020E6100000")  # little-endian polygon, SRID flag, 4326
    for data in (hex_ewkb, bytes.fromhex(hex_ewkb)):
        back = from_wkb(data)
        assert shapely.get_srid(back) == 4326
        assert back.equals(polygon)


def test_other_srid() -> None:
    assert shapely.get_srid(from_wkb(to_ewkb_hex(shapely.Point(1, 2), srid=3857))) == 3857


def test_to_geojson_rounds_to_seven_decimals_and_drops_z() -> None:
    point = to_geojson(shapely.Point(2.352212345678, 48.8566, 35.0))
    assert point == Point(coordinates=[2.3522123, 48.8566])

    polygon = to_geojson(shapely.Polygon([(0, 0, 1), (0.123456789, 0, 1), (0, 1, 1)]))
    assert isinstance(polygon, Polygon)
    assert polygon.coordinates == [[[0.0, 0.0], [0.1234568, 0.0], [0.0, 1.0], [0.0, 0.0]]]


def test_to_geojson_keeps_holes_and_parts() -> None:
    shell = shapely.box(0, 0, 1, 1)
    with_hole = shapely.Polygon(shell.exterior.coords, [shapely.box(0.2, 0.2, 0.4, 0.4).exterior.coords[::-1]])
    multi = to_geojson(shapely.MultiPolygon([with_hole, shapely.box(2, 0, 3, 1)]))
    assert isinstance(multi, MultiPolygon)
    assert [len(rings) for rings in multi.coordinates] == [2, 1]
    assert msgspec.json.decode(msgspec.json.encode(multi), type=MultiPolygon) == multi
