"""``bbox`` query filters."""

from __future__ import annotations

import pytest

from solomo.geo import GeometryError, parse_bbox


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
