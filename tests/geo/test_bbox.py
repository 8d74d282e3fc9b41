"""``bbox`` query filters."""

from __future__ import annotations

import numpy as np
import pytest

from solomo.geo import GeometryError, parse_bbox
from solomo.geo.crs import Crs, gcj02_to_wgs84, to_wgs84_arrays


def test_plain_box() -> None:
    assert parse_bbox("2.2,48.8,2.5,48.9") == [(2.2, 48.8, 2.5, 48.9)]


def test_spaces_and_exponents_are_accepted() -> None:
    assert parse_bbox(" 2.2, 48.8 ,25e-1,+48.9") == [(2.2, 48.8, 2.5, 48.9)]


def test_box_across_the_antimeridian_is_split() -> None:
    assert parse_bbox("179,-17,-179,-16") == [(179.0, -17.0, 180.0, -16.0), (-180.0, -17.0, -179.0, -16.0)]


def test_span_across_the_antimeridian_is_measured_the_short_way() -> None:
    assert len(parse_bbox("170,0,-170,10", max_span_deg=20)) == 2
    with pytest.raises(GeometryError, match="20°"):
        parse_bbox("170,0,-169,10", max_span_deg=20)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,2,3", "expected 4 comma-separated numbers"),
        ("1,2,3,4,5", "got 5"),
        ("", "got 1"),
        ("NaN,0,1,1", "minlon 'NaN' is not a number"),
        ("0,0,inf,1", "maxlon 'inf' is not a number"),
        ("0,0,1,1e400", "maxlat 1e400 is not a finite number"),
        ("0,0,1_0,1", "is not a number"),
        ("0,,1,1", "minlat '' is not a number"),
        ("-181,0,1,1", "minlon -181 is out of range [-180, 180]"),
        ("0,0,1,90.5", "maxlat 90.5 is out of range [-90, 90]"),
        ("0,10,1,5", "minlat 10 is greater than maxlat 5"),
        ("-100,0,100,10", "box spans 200° of longitude"),
        ("0,-60,10,60", "120° of latitude"),
        ("-180,-90,180,90", "more than 90°"),
    ],
)
def test_refusals(raw: str, expected: str) -> None:
    with pytest.raises(GeometryError) as info:
        parse_bbox(raw)
    assert info.value.path == "bbox"
    assert expected in info.value.message


def test_area_cap() -> None:
    assert parse_bbox("0,0,2,2", max_area_deg2=4)
    with pytest.raises(GeometryError, match="square degrees"):
        parse_bbox("0,0,2,2.5", max_area_deg2=4)


# A box in GCJ-02 or BD-09 (a map's view in AMap or Baidu)


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("121.40,31.18,121.55,31.28", id="shanghai-city"),
        pytest.param("116.2,39.7,117.0,40.2", id="beijing"),
        pytest.param("104.9,30.5,105.1,30.7", id="across-105E-the-offset-cusp"),
    ],
)
def test_box_in_a_chinese_crs_holds_every_point_of_it(raw: str, crs: Crs) -> None:
    [box] = parse_bbox(raw, crs=crs)
    minlon, minlat, maxlon, maxlat = (float(v) for v in raw.split(","))
    # every point of the box as sent, converted: a fine grid, its outline finer still
    grid_lons, grid_lats = np.meshgrid(np.linspace(minlon, maxlon, 301), np.linspace(minlat, maxlat, 301))
    edge = np.linspace(0, 1, 20_001)
    lons = np.concatenate([grid_lons.ravel(), minlon + edge * (maxlon - minlon), np.full(edge.size, maxlon)])
    lats = np.concatenate([grid_lats.ravel(), np.full(edge.size, maxlat), minlat + edge * (maxlat - minlat)])
    wgs_lons, wgs_lats = to_wgs84_arrays(crs, lons, lats)
    assert box[0] <= wgs_lons.min()
    assert box[1] <= wgs_lats.min()
    assert wgs_lons.max() <= box[2]
    assert wgs_lats.max() <= box[3]
    # and not much more: the widening is centimetres at this size
    slack = max(wgs_lons.min() - box[0], box[2] - wgs_lons.max(), wgs_lats.min() - box[1], box[3] - wgs_lats.max())
    assert slack < 1e-5


def test_box_in_a_chinese_crs_is_moved_like_its_points() -> None:
    [box] = parse_bbox("121.40,31.18,121.55,31.28", crs="gcj02")
    corner = gcj02_to_wgs84(121.40, 31.18)
    assert box[:2] == pytest.approx(corner, abs=5e-4)  # the south-west corner moved about 500 m, like its points
    assert abs(box[0] - 121.40) > 1e-3


def test_box_sizes_are_checked_as_sent() -> None:
    with pytest.raises(GeometryError, match="square degrees"):
        parse_bbox("116,39,118,41.5", max_area_deg2=4, crs="gcj02")


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_box_outside_china_is_unchanged(crs: Crs) -> None:
    assert parse_bbox("2.2,48.8,2.5,48.9", crs=crs) == [(2.2, 48.8, 2.5, 48.9)]
    assert parse_bbox("179,-17,-179,-16", crs=crs) == [(179.0, -17.0, 180.0, -16.0), (-180.0, -17.0, -179.0, -16.0)]
