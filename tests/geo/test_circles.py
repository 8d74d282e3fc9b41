"""Circle radius rules and the polygon that contains a circle for the index prefilter."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
import shapely

from solomo.geo import (
    MAX_RADIUS_M,
    MIN_RADIUS_M,
    WGS84,
    GeometryError,
    check_radius,
    circle_area_m2,
    circle_bounds_polygon,
    geodesic_area_m2,
)


def exact_circle(lon: float, lat: float, radius_m: float, samples: int = 360) -> npt.NDArray[np.object_]:
    """Points of the geodesic circle, longitudes in [-180, 180] as any client would send them."""
    lons, lats, _ = WGS84.fwd(
        np.full(samples, lon),
        np.full(samples, lat),
        np.linspace(0, 360, samples, endpoint=False),
        np.full(samples, radius_m),
    )
    points: npt.NDArray[np.object_] = shapely.points(lons, lats)
    return points


@pytest.mark.parametrize(
    ("lon", "lat", "radius_m"),
    [
        pytest.param(2.3522, 48.8566, 100, id="paris-100m"),
        pytest.param(0, 0, 50_000, id="equator-50km"),
        pytest.param(179.9, 0, 20_000, id="antimeridian-20km"),
        pytest.param(-179.95, -40, 20_000, id="antimeridian-west-side"),
        pytest.param(0, 89.9, 30_000, id="north-pole-30km"),
        pytest.param(45, -89.5, 50_000, id="south-pole-50km"),
        pytest.param(20, 88, 50_000, id="near-pole-50km"),
        pytest.param(20, 70, 50_000, id="high-latitude-50km"),
    ],
)
def test_bounds_polygon_contains_the_geodesic_circle(lon: float, lat: float, radius_m: float) -> None:
    bounds = circle_bounds_polygon(lon, lat, radius_m)
    assert bounds.is_valid
    assert shapely.covers(bounds, exact_circle(lon, lat, radius_m)).all()


def test_bounds_polygon_is_counter_clockwise_and_tight() -> None:
    bounds = circle_bounds_polygon(2.3522, 48.8566, 50_000)
    assert isinstance(bounds, shapely.Polygon)
    assert bounds.exterior.is_ccw
    assert circle_area_m2(50_000) < geodesic_area_m2(bounds) < 1.01 * circle_area_m2(50_000)


def test_bounds_polygon_across_the_antimeridian_is_split_at_180() -> None:
    bounds = circle_bounds_polygon(179.9, 0, 20_000)
    assert isinstance(bounds, shapely.MultiPolygon)
    east, west = bounds.geoms
    assert east.bounds[2] == 180.0
    assert west.bounds[0] == -180.0
    assert west.bounds[2] < -179.9


def test_bounds_polygon_around_a_pole_is_a_polar_cap() -> None:
    bounds = circle_bounds_polygon(0, 89.9, 30_000)
    assert bounds.bounds[0] == -180.0
    assert bounds.bounds[2] == 180.0
    assert bounds.bounds[3] == 90.0
    farthest_lat = 89.9 - 30_000 / 111_000
    assert bounds.bounds[1] == pytest.approx(farthest_lat, abs=0.01)


@pytest.mark.parametrize(("lat", "radius_m"), [(89.9, 30_000), (88.6, 50_000), (-89.5, 50_000)])
def test_polar_cap_still_covers_the_circle_when_its_edges_are_great_circles(lat: float, radius_m: float) -> None:
    """As PostGIS geography a cap's edges bulge towards the pole between vertices: they must stay beyond the circle."""
    circle_lats = shapely.get_coordinates(exact_circle(0, lat, radius_m))[:, 1]
    circle_edge = circle_lats.min() if lat > 0 else circle_lats.max()
    ring = shapely.get_coordinates(circle_bounds_polygon(0, lat, radius_m).exterior)
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(ring):
        if lat1 != lat2 or abs(lat1) == 90:
            continue  # a meridian up to the pole, or the pole itself
        assert abs(lon2 - lon1) <= 1.0
        middle = WGS84.inv_intermediate(
            lon1, lat1, lon2, lat2, npts=3, initial_idx=0, terminus_idx=0, return_back_azimuth=True
        )
        bulge_lat = max(middle.lats, key=abs)
        assert abs(bulge_lat) <= abs(circle_edge)


def test_bounds_polygon_refuses_bad_input() -> None:
    with pytest.raises(GeometryError):
        circle_bounds_polygon(190, 0, 100)
    with pytest.raises(GeometryError):
        circle_bounds_polygon(0, 0, math.nan)
    with pytest.raises(ValueError, match="segments"):
        circle_bounds_polygon(0, 0, 100, segments=4)


@pytest.mark.parametrize("radius_m", [MIN_RADIUS_M, 250, MAX_RADIUS_M])
def test_radius_in_range(radius_m: float) -> None:
    assert check_radius(radius_m) == radius_m


@pytest.mark.parametrize(
    ("radius_m", "expected"),
    [
        (9.99, "radius 9.99 m is out of range [10, 50000] m"),
        (50_000.5, "radius 50000.5 m is out of range"),
        (-5, "out of range"),
        (math.nan, "finite"),
        (math.inf, "finite"),
    ],
)
def test_radius_refusals(radius_m: float, expected: str) -> None:
    with pytest.raises(GeometryError) as info:
        check_radius(radius_m, "properties.radius_m")
    assert info.value.path == "properties.radius_m"
    assert expected in info.value.message


def test_circle_area() -> None:
    assert circle_area_m2(1_000) == pytest.approx(math.pi * 1e6)
