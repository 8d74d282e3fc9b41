"""Geodesic distance (checked against geopy) and the speed used by the fraud rule."""

from __future__ import annotations

import pytest
from geopy.distance import geodesic

from solomo.geo import distance_m, implied_speed_kmh


@pytest.mark.parametrize(
    ("lon1", "lat1", "lon2", "lat2"),
    [
        pytest.param(2.3522, 48.8566, -0.1276, 51.5072, id="paris-london"),
        pytest.param(2.3522, 48.8566, 2.3530, 48.8570, id="across-a-street"),
        pytest.param(179.99, 10, -179.99, 10, id="across-the-antimeridian"),
        pytest.param(151.2093, -33.8688, -70.6693, -33.4489, id="sydney-santiago"),
        pytest.param(0, 89.99, 180, 89.99, id="over-the-pole"),
        pytest.param(0, 0, 179.5, 0.5, id="nearly-antipodal"),
        pytest.param(5, 5, 5, 5, id="same-point"),
    ],
)
def test_distance_matches_geopy(lon1: float, lat1: float, lon2: float, lat2: float) -> None:
    expected = geodesic((lat1, lon1), (lat2, lon2), ellipsoid="WGS-84").meters  # geopy is (lat, lon)
    assert distance_m(lon1, lat1, lon2, lat2) == pytest.approx(expected, abs=0.001)


def test_speed_subtracts_both_accuracies() -> None:
    # 10 km in an hour, 500 m of it explainable by the two fixes' accuracy.
    assert implied_speed_kmh(10_000, 200, 300, 3_600) == pytest.approx(9.5)


def test_speed_uses_the_30_second_floor() -> None:
    assert implied_speed_kmh(1_000, 0, 0, 1) == pytest.approx(1_000 / 30 * 3.6)
    assert implied_speed_kmh(1_000, 0, 0, 0) == implied_speed_kmh(1_000, 0, 0, 30)
    assert implied_speed_kmh(1_000, 0, 0, 1, floor_s=10) == pytest.approx(360)


def test_speed_is_zero_when_accuracy_explains_the_distance() -> None:
    assert implied_speed_kmh(300, 200, 150, 60) == 0.0
