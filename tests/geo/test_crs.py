"""GCJ-02 and BD-09 to and from WGS-84: published reference points, the round trip, no offset outside China."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from solomo.geo.crs import (
    CRS_NAMES,
    Crs,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    from_wgs84_arrays,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    to_wgs84_arrays,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")
CHINA_CRS: tuple[Crs, ...] = ("gcj02", "bd09")


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


# Published pairs. Positions here are (lon, lat); the sources write some of them (lat, lon).

#: googollee/eviltransform, python/test.py (TESTS: WGS-84 and GCJ-02 of places in Shanghai, Shenzhen and Beijing),
#: checked there to 6 decimals forward and to 0.5 m by its exact (iterative) inverse.
EVILTRANSFORM = [
    pytest.param((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), id="shanghai"),
    pytest.param((113.912316, 22.543847), (113.9171764808363, 22.540796131694766), id="shenzhen"),
    pytest.param((116.377817, 39.911954), (116.38404722455657, 39.91334545536069), id="beijing"),
]


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM)
def test_eviltransform_reference_points(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=5e-7)  # 6 decimals, as the source checks
    assert metres(gcj02_to_wgs84(*gcj), wgs) < 0.5


#: wandergis/coordtransform, test/app.js: (116.404, 39.915), the point by Tiananmen that Baidu's map API examples
#: centre on, run through each conversion, results printed to 14 decimals. Its inverses are the one-step estimates
#: (not iterated), which are a few centimetres off here: ours, exact, are held to 0.1 m of them.
TIANANMEN = (116.404, 39.915)


def test_coordtransform_tiananmen() -> None:
    assert wgs84_to_gcj02(*TIANANMEN) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-12)
    assert gcj02_to_bd09(*TIANANMEN) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-12)
    assert metres(bd09_to_gcj02(*TIANANMEN), (116.39762729119315, 39.90865673957631)) < 0.1
    assert metres(gcj02_to_wgs84(*TIANANMEN), (116.39775550083061, 39.91359571849836)) < 0.1


#: cran/geoChina, R/conv.R: Beijing railway station in the three systems, to 5 decimals (the package notes that
#: Baidu's conversion API gives the same results). Each step's two sides are rounded to 5 decimals, so a step
#: agrees to 1e-5°, and WGS-84 ⇄ BD-09, two steps, to 1.5e-5°.
STATION = {"wgs84": (116.42079, 39.90105), "gcj02": (116.42703, 39.90245), "bd09": (116.43351, 39.90851)}


def test_geochina_beijing_railway_station() -> None:
    assert wgs84_to_gcj02(*STATION["wgs84"]) == pytest.approx(STATION["gcj02"], abs=1e-5)
    assert gcj02_to_wgs84(*STATION["gcj02"]) == pytest.approx(STATION["wgs84"], abs=1e-5)
    assert gcj02_to_bd09(*STATION["gcj02"]) == pytest.approx(STATION["bd09"], abs=1e-5)
    assert bd09_to_gcj02(*STATION["bd09"]) == pytest.approx(STATION["gcj02"], abs=1e-5)
    assert wgs84_to_bd09(*STATION["wgs84"]) == pytest.approx(STATION["bd09"], abs=1.5e-5)
    assert bd09_to_wgs84(*STATION["bd09"]) == pytest.approx(STATION["wgs84"], abs=1.5e-5)


# The round trip, over mainland China (its extent: 73.5°E to 134.8°E, 18.1°N to 53.6°N)

mainland_lons = st.floats(73.5, 134.8)
mainland_lats = st.floats(18.1, 53.6)


@settings(max_examples=500, deadline=None)
@given(lon=mainland_lons, lat=mainland_lats, crs=st.sampled_from(CHINA_CRS))
def test_round_trip_within_half_a_metre(lon: float, lat: float, crs: Crs) -> None:
    there = from_wgs84(crs, lon, lat)
    assert 1 < metres(there, (lon, lat)) < 2_000  # GCJ-02 moves 0.1 to 0.7 km, BD-09 up to 1.5 km more
    assert metres(to_wgs84(crs, *there), (lon, lat)) <= 0.5
    # and the other way: a position read in crs, converted to WGS-84 and back
    assert metres(from_wgs84(crs, *to_wgs84(crs, lon, lat)), (lon, lat)) <= 0.5


@settings(max_examples=50, deadline=None)
@given(
    positions=st.lists(st.tuples(mainland_lons, mainland_lats), min_size=1, max_size=50),
    crs=st.sampled_from(CHINA_CRS),
)
def test_arrays_agree_with_one_point_at_a_time(positions: list[tuple[float, float]], crs: Crs) -> None:
    lons, lats = (np.array(axis) for axis in zip(*positions, strict=True))
    out = from_wgs84_arrays(crs, lons, lats)
    back = to_wgs84_arrays(crs, *out)
    for i, position in enumerate(positions):
        assert (out[0][i], out[1][i]) == pytest.approx(from_wgs84(crs, *position), abs=1e-12)
        assert (back[0][i], back[1][i]) == pytest.approx(to_wgs84(crs, out[0][i], out[1][i]), abs=1e-9)
        assert metres((back[0][i], back[1][i]), position) <= 0.5
    assert lons.tolist() == [p[0] for p in positions]  # the inputs are left alone


def test_gcj02_to_bd09_and_back() -> None:
    for lon, lat in ((121.4737, 31.2304), (113.2644, 23.1291), (87.6168, 43.8256)):
        assert metres(bd09_to_gcj02(*gcj02_to_bd09(lon, lat)), (lon, lat)) <= 0.5
        assert metres(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), (lon, lat)) <= 0.5


# Outside the box nothing moves

outside = st.tuples(st.floats(-180, 180), st.floats(-90, 90)).filter(lambda p: out_of_china(*p))


@settings(max_examples=300, deadline=None)
@given(position=outside, crs=st.sampled_from(CRS_NAMES))
def test_no_offset_outside_china(position: tuple[float, float], crs: Crs) -> None:
    assert to_wgs84(crs, *position) == position
    assert from_wgs84(crs, *position) == position
    lons, lats = to_wgs84_arrays(crs, [position[0]], [position[1]])
    assert (lons[0], lats[0]) == position


@pytest.mark.parametrize(
    "place",
    [
        pytest.param((2.3522, 48.8566), id="paris"),
        pytest.param((139.6917, 35.6895), id="tokyo"),
        pytest.param((151.2093, -33.8688), id="sydney"),
        pytest.param((72.0, 30.0), id="just-west-of-the-box"),
        pytest.param((120.0, 55.83), id="just-north-of-the-box"),
    ],
)
def test_known_places_outside_the_box(place: tuple[float, float]) -> None:
    assert out_of_china(*place)
    for convert in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
        assert convert(*place) == place


def test_wgs84_is_the_identity_everywhere() -> None:
    assert to_wgs84("wgs84", 121.47, 31.23) == (121.47, 31.23)
    assert from_wgs84("wgs84", 121.47, 31.23) == (121.47, 31.23)


def test_arrays_convert_only_what_is_inside_and_leave_bad_numbers_alone() -> None:
    """Malformed positions pass through untouched, so the validators that follow name them as sent."""
    lons = [121.47, 2.35, math.nan, 500.0]
    lats = [31.23, 48.85, 31.0, 31.0]
    out_lons, out_lats = to_wgs84_arrays("gcj02", lons, lats)
    assert (out_lons[0], out_lats[0]) == pytest.approx(gcj02_to_wgs84(121.47, 31.23), abs=1e-12)
    assert (out_lons[1], out_lats[1]) == (2.35, 48.85)
    assert math.isnan(out_lons[2])
    assert out_lons[3] == 500.0
