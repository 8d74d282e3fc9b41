"""solomo.field_errors: every bad field of a body, in linear time, with msgspec's own paths and messages."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from solomo.field_errors import MAX_FIELD_ERRORS, bad_fields
from solomo.geo.geojson import FeatureCollection


def _collection(features: int, bad_every: int) -> dict[str, Any]:
    def feature(index: int) -> dict[str, Any]:
        corner: list[Any] = [2.0, "north"] if index % bad_every == 0 else [2.0, 48.0]
        ring = [[2.0, 48.0], [2.1, 48.0], corner, [2.0, 48.0]]
        return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}}

    return {"type": "FeatureCollection", "features": [feature(i) for i in range(features)]}


def test_each_bad_part_of_a_geojson_body_is_named() -> None:
    body = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": ["a", 1]}},
            {"type": "Feature", "geometry": {"type": "Circle"}},
            {"type": "Feature", "geometry": None, "properties": 5},
        ],
    }
    assert bad_fields(body, FeatureCollection) == [
        ("features[0].geometry.coordinates[0]", "Expected `float`, got `str`"),
        ("features[1].geometry.type", "Invalid value 'Circle'"),
        ("features[2].properties", "Expected `object`, got `int`"),
    ]


def test_the_first_error_is_the_one_msgspec_gives() -> None:
    body = _collection(30, bad_every=7)
    with pytest.raises(msgspec.ValidationError) as first:
        msgspec.convert(body, FeatureCollection, strict=True)
    path, message = bad_fields(body, FeatureCollection)[0]
    assert str(first.value) == f"{message} - at `$.{path}`"


def test_the_work_is_linear_in_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """Conversions counted, not time: a body ten times longer costs at most about ten times as many."""
    real = msgspec.convert
    calls = 0

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(msgspec, "convert", counted)
    costs = []
    for size in (200, 2_000):
        calls = 0
        found = bad_fields(_collection(size, bad_every=50), FeatureCollection)
        assert len(found) == size // 50
        costs.append(calls)
    assert costs[1] <= 11 * costs[0]


def test_the_list_stops_at_the_cap() -> None:
    found = bad_fields(_collection(MAX_FIELD_ERRORS * 3, bad_every=1), FeatureCollection)
    assert len(found) == MAX_FIELD_ERRORS
    assert found[-1][0] == f"features[{MAX_FIELD_ERRORS - 1}].geometry.coordinates[0][2][1]"
