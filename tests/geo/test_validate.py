"""Polygon and position checks: each refusal names the place at fault."""

from __future__ import annotations

import math
import re
import time

import msgspec
import numpy as np
import pytest
import shapely

from solomo.geo import (
    WGS84,
    GeometryError,
    MultiPolygon,
    Point,
    Polygon,
    check_position,
    validate_point,
    validate_polygonal,
)
from solomo.geo.crs import Crs, gcj02_to_wgs84, to_wgs84

Ring = list[list[float]]


def square(lon: float, lat: float, size: float) -> Ring:
    """A counter-clockwise square ring with its south-west corner at (lon, lat)."""
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


def circle_ring(positions: int, radius_m: float = 1_000.0, lon: float = 2.35, lat: float = 48.85) -> Ring:
    """A closed ring of exactly ``positions`` positions (the last repeating the first) with short edges."""
    n = positions - 1
    lons, lats, _ = WGS84.fwd(
        np.full(n, lon), np.full(n, lat), np.linspace(0, -360, n, endpoint=False), np.full(n, radius_m)
    )
    ring = np.column_stack((lons, lats)).tolist()
    return [*ring, ring[0]]


def refusal(geom: Polygon | MultiPolygon) -> GeometryError:
    with pytest.raises(GeometryError) as info:
        validate_polygonal(geom)
    return info.value


# Positions


def test_position_drops_altitude() -> None:
    assert check_position([2.35, 48.85, 35.0], "p") == (2.35, 48.85)


@pytest.mark.parametrize("pos", [[2.35], [2.35, 48.85, 35.0, 1.0]])
def test_position_needs_two_or_three_numbers(pos: list[float]) -> None:
    with pytest.raises(GeometryError) as info:
        check_position(pos, "coordinates")
    assert info.value.path == "coordinates"
    assert f"not {len(pos)} numbers" in info.value.message


@pytest.mark.parametrize(
    ("pos", "expected"),
    [
        ([190.0, 0.0], "longitude 190 is out of range [-180, 180]"),
        ([-180.0000001, 0.0], "longitude -180.0000001 is out of range"),
        ([0.0, 95.0], "latitude 95 is out of range [-90, 90]"),
        ([math.nan, 0.0], "longitude must be a finite number, not nan"),
        ([0.0, math.inf], "latitude must be a finite number, not inf"),
        ([0.0, 0.0, -math.inf], "altitude must be a finite number"),
    ],
)
def test_position_refusals(pos: list[float], expected: str) -> None:
    with pytest.raises(GeometryError) as info:
        check_position(pos, "coordinates[0][2]")
    assert info.value.path == "coordinates[0][2]"
    assert expected in info.value.message


def test_position_bounds_are_inclusive() -> None:
    assert check_position([-180, -90], "p") == (-180.0, -90.0)
    assert check_position([180, 90], "p") == (180.0, 90.0)


def test_point() -> None:
    assert validate_point(Point(coordinates=[2.35, 48.85])).equals(shapely.Point(2.35, 48.85))
    with pytest.raises(GeometryError) as info:
        validate_point(Point(coordinates=[2.35, 95.0]))
    assert info.value.path == "coordinates"
    assert "latitude 95" in info.value.message


# Valid polygons and winding


def test_valid_polygon_comes_back_counter_clockwise() -> None:
    shape = validate_polygonal(Polygon(coordinates=[square(2.35, 48.85, 0.01)]))
    assert isinstance(shape, shapely.Polygon)
    assert shape.exterior.is_ccw
    assert shape.equals(shapely.box(2.35, 48.85, 2.36, 48.86))


def test_clockwise_input_is_reoriented_holes_clockwise() -> None:
    shell = square(2.35, 48.85, 0.01)[::-1]
    hole = square(2.352, 48.852, 0.002)
    shape = validate_polygonal(Polygon(coordinates=[shell, hole]))
    assert shape.exterior.is_ccw
    assert not shape.interiors[0].is_ccw


def test_altitude_is_dropped() -> None:
    ring = [[*pos, 35.0] for pos in square(2.35, 48.85, 0.01)]
    shape = validate_polygonal(Polygon(coordinates=[ring]))
    assert not shape.has_z


def test_multipolygon_parts_are_each_reoriented() -> None:
    geom = MultiPolygon(coordinates=[[square(0, 0, 0.01)[::-1]], [square(0.02, 0, 0.01)]])
    shape = validate_polygonal(geom)
    assert isinstance(shape, shapely.MultiPolygon)
    assert all(part.exterior.is_ccw for part in shape.geoms)


def test_antimeridian_multipolygon_split_at_180_is_accepted() -> None:
    east = [[179.99, 0.0], [180.0, 0.0], [180.0, 0.01], [179.99, 0.01], [179.99, 0.0]]
    west = [[-180.0, 0.0], [-179.99, 0.0], [-179.99, 0.01], [-180.0, 0.01], [-180.0, 0.0]]
    shape = validate_polygonal(MultiPolygon(coordinates=[[east], [west]]))
    assert len(shape.geoms) == 2


# Structure


def test_unclosed_ring_is_refused() -> None:
    error = refusal(Polygon(coordinates=[[*square(0, 0, 0.01)[:-1], [0.0, 0.001]]]))
    assert error.path == "coordinates[0]"
    assert "not closed" in error.message


def test_ring_of_three_positions_is_refused() -> None:
    error = refusal(Polygon(coordinates=[square(0, 0, 0.01), [[0, 0], [0.01, 0], [0, 0]]]))
    assert error.path == "coordinates[1]"
    assert "at least 4 positions" in error.message


def test_empty_polygon_and_multipolygon_are_refused() -> None:
    assert refusal(Polygon(coordinates=[])).path == "coordinates"
    assert refusal(MultiPolygon(coordinates=[])).path == "coordinates"
    assert refusal(MultiPolygon(coordinates=[[square(0, 0, 0.01)], []])).path == "coordinates[1]"


def test_out_of_range_vertex_is_named() -> None:
    ring = square(179.995, 0, 0.01)  # its east side is at lon 180.005
    error = refusal(Polygon(coordinates=[ring]))
    assert error.path == "coordinates[0][1]"
    assert "longitude 180.005 is out of range [-180, 180]" in error.message


def test_latitude_out_of_range_in_a_multipolygon_names_polygon_ring_and_vertex() -> None:
    error = refusal(MultiPolygon(coordinates=[[square(0, 0, 0.01)], [square(0, 0, 0.01), square(0, 89.999, 0.01)]]))
    assert error.path == "coordinates[1][1][2]"
    assert "latitude 90.009 is out of range" in error.message


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(bad: float) -> None:
    ring = square(0, 0, 0.01)
    ring[2] = [0.01, bad]
    error = refusal(Polygon(coordinates=[ring]))
    assert error.path == "coordinates[0][2]"
    assert "finite" in error.message


def test_overflowing_json_number_is_refused_by_msgspec_itself() -> None:
    # msgspec refuses 1e400 for a float field rather than decoding it to inf, naming the position.
    body = b'{"type":"Polygon","coordinates":[[[0,0],[1e400,0],[0.01,0.01],[0,0]]]}'
    with pytest.raises(msgspec.ValidationError, match=re.escape("$.coordinates[0][1][0]")):
        msgspec.json.decode(body, type=Polygon)


# Size and edges


def test_vertex_limit() -> None:
    ok = Polygon(coordinates=[circle_ring(10_000)])
    started = time.perf_counter()
    validate_polygonal(ok)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"validating 10,000 vertices took {elapsed:.3f} s"  # loose: catches a quadratic slip

    error = refusal(Polygon(coordinates=[circle_ring(10_001)]))
    assert error.path == ""
    assert "10,001 positions is more than the limit of 10,000" in error.message


def test_vertex_limit_counts_every_ring_and_part() -> None:
    geom = MultiPolygon(coordinates=[[circle_ring(5_000)], [circle_ring(5_001, lon=3.0)]])
    assert refusal(geom).path == ""


def test_edge_of_about_9_km_is_accepted_and_11_km_refused() -> None:
    validate_polygonal(Polygon(coordinates=[square(0, 0, 0.08)]))  # sides of about 8.9 km

    error = refusal(Polygon(coordinates=[[[0, 0], [0.1, 0], [0.1, 0.05], [0, 0.05], [0, 0]]]))
    assert error.path == "coordinates[0][1]"
    assert error.message == "edge of 11.1 km between positions 0 and 1 is longer than 10 km"


def test_edge_limit_is_a_parameter() -> None:
    with pytest.raises(GeometryError):
        validate_polygonal(Polygon(coordinates=[square(0, 0, 0.01)]), max_edge_m=1_000)


def test_longitude_jump_over_180_is_refused() -> None:
    ring = [[179.99, 0.0], [-179.99, 0.0], [-179.99, 0.01], [179.99, 0.01], [179.99, 0.0]]
    error = refusal(Polygon(coordinates=[ring]))
    assert error.path == "coordinates[0][1]"
    assert "more than 180°" in error.message
    assert "MultiPolygon" in error.message
    assert "±180" in error.message


# Validity: refused, never repaired


def _location(message: str) -> tuple[float, float]:
    match = re.search(r"at lon (\S+), lat (\S+)$", message)
    assert match, message
    return float(match[1]), float(match[2])


def test_bow_tie_is_refused_at_the_crossing() -> None:
    error = refusal(Polygon(coordinates=[[[0, 0], [0.01, 0.01], [0.01, 0], [0, 0.01], [0, 0]]]))
    assert error.path == "coordinates[0]"
    assert error.message.startswith("self-intersection at lon")
    assert _location(error.message) == pytest.approx((0.005, 0.005), abs=1e-6)


def test_hole_outside_shell_is_refused() -> None:
    error = refusal(Polygon(coordinates=[square(0, 0, 0.01), square(0.02, 0.02, 0.005)]))
    assert error.path == "coordinates[1]"
    assert "hole lies outside shell" in error.message


def test_overlapping_multipolygon_parts_are_refused() -> None:
    error = refusal(MultiPolygon(coordinates=[[square(0, 0, 0.01)], [square(0.005, 0.005, 0.01)]]))
    assert error.path == "coordinates[1]"
    assert "polygons 0 and 1 overlap" in error.message
    assert "at lon" in error.message


def test_invalid_part_of_a_multipolygon_is_named() -> None:
    bow_tie: Ring = [[1, 0], [1.01, 0.01], [1.01, 0], [1, 0.01], [1, 0]]
    error = refusal(MultiPolygon(coordinates=[[square(0, 0, 0.01)], [bow_tie]]))
    assert error.path == "coordinates[1][0]"
    assert "self-intersection" in error.message


# Geometry sent in GCJ-02 or BD-09: positions checked as sent, the shape checked (and returned) in WGS-84


def test_point_in_gcj02_comes_back_in_wgs84() -> None:
    shape = validate_point(Point(coordinates=[121.4737, 31.2304]), crs="gcj02")
    assert (shape.x, shape.y) == pytest.approx(gcj02_to_wgs84(121.4737, 31.2304), abs=1e-12)
    with pytest.raises(GeometryError, match="latitude 95"):
        validate_point(Point(coordinates=[121.4737, 95.0]), crs="gcj02")  # named as sent


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_polygon_in_a_chinese_crs_comes_back_converted_vertex_by_vertex(crs: Crs) -> None:
    shell = square(121.47, 31.23, 0.01)
    hole = square(121.472, 31.232, 0.002)[::-1]
    shape = validate_polygonal(Polygon(coordinates=[shell, hole]), crs=crs)
    assert isinstance(shape, shapely.Polygon)
    expected = [to_wgs84(crs, lon, lat) for lon, lat in shell]
    assert np.allclose(shape.exterior.coords, expected, rtol=0, atol=1e-12)
    assert shape.exterior.coords[0] == shape.exterior.coords[-1]  # still closed
    assert len(shape.interiors[0].coords) == 5  # the hole too: no vertex added to close it
    assert not shape.interiors[0].is_ccw


def test_bad_positions_in_a_chinese_crs_are_named_as_sent() -> None:
    ring = square(121.47, 31.23, 0.01)
    ring[2] = [121.48, math.nan]
    with pytest.raises(GeometryError) as info:
        validate_polygonal(Polygon(coordinates=[ring]), crs="gcj02")
    assert info.value.path == "coordinates[0][2]"
    assert "latitude must be a finite number, not nan" in info.value.message
    ring = square(121.47, 31.23, 0.01)
    ring[-1] = [121.471, 31.23]
    with pytest.raises(GeometryError, match="ring is not closed"):
        validate_polygonal(Polygon(coordinates=[ring]), crs="bd09")


def test_bow_tie_in_gcj02_names_its_ring_and_the_crossing_in_gcj02() -> None:
    bow_tie = [[121.47, 31.23], [121.48, 31.24], [121.48, 31.23], [121.47, 31.24], [121.47, 31.23]]
    with pytest.raises(GeometryError) as info:
        validate_polygonal(MultiPolygon(coordinates=[[square(121.40, 31.20, 0.01)], [bow_tie]]), crs="gcj02")
    assert info.value.path == "coordinates[1][0]"
    assert _location(info.value.message) == pytest.approx((121.475, 31.235), abs=2e-6)  # where it was drawn


def test_edge_length_is_measured_in_wgs84() -> None:
    """The 10 km rule holds on the ground: round Shanghai GCJ-02 stretches east-west lengths by about 0.2 %, so an
    edge of 9,990 m as drawn there is 10,011 m of WGS-84, and refused."""
    east, _, _ = WGS84.fwd(121.4, 31.2, 90, 9_990)
    ring = [[121.4, 31.2], [float(east), 31.2], [121.45, 31.21], [121.4, 31.2]]
    validate_polygonal(Polygon(coordinates=[ring]))  # read as WGS-84, the edge is short enough
    with pytest.raises(GeometryError) as info:
        validate_polygonal(Polygon(coordinates=[ring]), crs="gcj02")
    assert info.value.path == "coordinates[0][1]"
    assert "edge of 10.011 km between positions 0 and 1" in info.value.message
