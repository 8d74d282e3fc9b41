"""The ``crs`` query parameter: which coordinate system a request's coordinates are in, and its answer's.

Every route that takes or returns coordinates declares ``crs: CrsQuery = "wgs84"``, one convention for the whole
API. Input becomes WGS-84 at the edge, before anything is stored or queried: GeoJSON bodies in their validators
(:mod:`solomo.geo.validate`, which check positions as sent and shapes in WGS-84), ``lon``/``lat`` and ``bbox``
query parameters in the handler (:func:`solomo.geo.crs.to_wgs84`, :func:`solomo.geo.bbox.parse_bbox`). Answers
are built in WGS-84 and converted last, by :func:`answer_in`, which finds every GeoJSON geometry in them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Final, TypeVar

import msgspec
import numpy as np
from litestar.params import Parameter

from solomo.geo.crs import WGS84_CRS, Crs, from_wgs84_arrays

CRS_DESCRIPTION: Final = (
    "The coordinate system of this request's coordinates and of its answer's: `wgs84` (GPS, the default), "
    "`gcj02` (China's GCJ-02: AMap/Gaode, Tencent Maps, WeChat's `wx.getLocation({type: 'gcj02'})`) or `bd09` "
    "(Baidu). Coordinates are stored in WGS-84; GCJ-02 and BD-09 are converted with the published formulas, "
    "which move nothing outside mainland China's rough bounding box (longitude 72.004 to 137.8347, latitude "
    "0.8293 to 55.8271), and back within 0.5 m. Radii and distances are metres on the ground in any crs."
)
CrsQuery = Annotated[Crs, Parameter(description=CRS_DESCRIPTION)]
Lon = Annotated[float, Parameter(ge=-180, le=180, description="Longitude, in the `crs` (WGS 84 by default).")]
Lat = Annotated[float, Parameter(ge=-90, le=90, description="Latitude, in the `crs` (WGS 84 by default).")]

#: GeoJSON geometries, found in an answer by their ``type`` tag.
_GEOMETRY_TAGS: Final = frozenset({"Point", "Polygon", "MultiPolygon"})
#: Converted answers keep 9 decimals (0.1 mm), as fences are written: thin slivers keep their shape.
DECIMALS: Final = 9

T = TypeVar("T")


def answer_in(crs: Crs, answer: T, *, decimals: int = DECIMALS) -> T:
    """``answer`` (built in WGS-84) with every GeoJSON geometry in it given in ``crs``: points, polygon vertices,
    circle centres (their ``radius_m`` stays metres). The answer itself is not changed: converted parts are new.

    Walks Structs and lists, not dicts: free-form properties are the client's, not coordinates of ours.
    """
    if crs == WGS84_CRS:
        return answer
    walked: T = _walk(answer, crs, decimals)
    return walked


def _walk(value: Any, crs: Crs, decimals: int) -> Any:
    if isinstance(value, list):
        items = [_walk(item, crs, decimals) for item in value]
        return items if any(new is not old for new, old in zip(items, value, strict=True)) else value
    if not isinstance(value, msgspec.Struct):
        return value
    if type(value).__struct_config__.tag in _GEOMETRY_TAGS and hasattr(value, "coordinates"):
        return msgspec.structs.replace(value, coordinates=coordinates_in(crs, value.coordinates, decimals=decimals))
    changes = {}
    for name in value.__struct_fields__:
        old = getattr(value, name)
        new = _walk(old, crs, decimals)
        if new is not old:
            changes[name] = new
    return msgspec.structs.replace(value, **changes) if changes else value


def coordinates_in(crs: Crs, coordinates: Any, *, decimals: int = DECIMALS) -> Any:
    """A GeoJSON ``coordinates`` value (a position, or nested lists of them) with its WGS-84 positions in ``crs``,
    converted in one vectorised pass. A ring stays closed: its last position is its first."""
    positions = list(_positions(coordinates))
    if not positions:
        return coordinates
    lons, lats = from_wgs84_arrays(crs, [p[0] for p in positions], [p[1] for p in positions])
    converted = iter(np.column_stack((np.round(lons, decimals), np.round(lats, decimals))).tolist())
    return _rebuild(coordinates, converted)


def _is_position(node: Any) -> bool:
    return bool(node) and not isinstance(node[0], list)


def _positions(node: Any) -> Iterator[list[float]]:
    if _is_position(node):
        yield node
    else:
        for child in node:
            yield from _positions(child)


def _rebuild(node: Any, converted: Iterator[list[float]]) -> Any:
    if _is_position(node):
        return next(converted) + list(node[2:])
    rebuilt = [_rebuild(child, converted) for child in node]
    if len(node) > 1 and _is_position(node[0]) and node[0] == node[-1]:
        rebuilt[-1] = list(rebuilt[0])  # a closed ring, closed exactly
    return rebuilt
