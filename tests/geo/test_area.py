"""Areas are geodesic, never square degrees."""

from __future__ import annotations

import pytest
import shapely

from solomo.geo import WGS84, GeometryError, check_area, geodesic_area_m2


def test_one_square_kilometre_at_the_equator() -> None:
    east, _, _ = WGS84.fwd(0, 0, 90, 1_000)
    _, north, _ = WGS84.fwd(0, 0, 0, 1_000)
    assert geodesic_area_m2(shapely.box(0, 0, east, north)) == pytest.approx(1e6, rel=0.005)


def test_same_degrees_cover_half_the_ground_at_latitude_60() -> None:
    equator = shapely.box(10, 0, 10.01, 0.01)
    north = shapely.box(10, 60, 10.01, 60.01)
    assert equator.area == pytest.approx(north.area)  # the same in square degrees
    assert geodesic_area_m2(north) / geodesic_area_m2(equator) == pytest.approx(0.5, rel=0.01)


def test_holes_are_subtracted_whatever_the_winding() -> None:
    outer = shapely.box(0, 0, 0.02, 0.02)
    hole = shapely.box(0.005, 0.005, 0.015, 0.015)
    expected = geodesic_area_m2(outer) - geodesic_area_m2(hole)
    wound_ccw = shapely.Polygon(outer.exterior.coords, [hole.exterior.coords])
    wound_cw = shapely.Polygon(outer.exterior.coords[::-1], [hole.exterior.coords[::-1]])
    assert geodesic_area_m2(wound_ccw) == pytest.approx(expected)
    assert geodesic_area_m2(wound_cw) == pytest.approx(expected)


def test_multipolygon_area_is_the_sum_of_its_parts() -> None:
    a, b = shapely.box(0, 0, 0.01, 0.01), shapely.box(1, 0, 1.01, 0.01)
    assert geodesic_area_m2(shapely.MultiPolygon([a, b])) == pytest.approx(geodesic_area_m2(a) + geodesic_area_m2(b))


def test_check_area_returns_the_area_under_the_cap() -> None:
    box = shapely.box(0, 0, 0.01, 0.01)  # about 1.2 km²
    assert check_area(box, 25) == pytest.approx(geodesic_area_m2(box))


def test_check_area_refuses_a_fence_over_the_cap() -> None:
    with pytest.raises(GeometryError) as info:
        check_area(shapely.box(0, 0, 0.05, 0.05), 25)  # about 30.8 km²
    assert info.value.path == ""
    assert info.value.message == "area 30.8 km² is larger than the brand's cap of 25 km²"


def test_area_just_over_the_cap_does_not_read_as_equal() -> None:
    box = shapely.box(0, 0, 0.01, 0.01)
    cap_km2 = geodesic_area_m2(box) / 1e6 - 1e-5
    with pytest.raises(GeometryError) as info:
        check_area(box, cap_km2)
    shown = float(info.value.message.split()[1])
    assert shown > cap_km2
