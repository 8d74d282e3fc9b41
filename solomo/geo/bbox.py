"""``bbox`` query filters: ``minlon,minlat,maxlon,maxlat`` (RFC 7946 §5), possibly across the antimeridian."""

from __future__ import annotations

import math
import re
from typing import Final

import numpy as np

from solomo.geo._format import number
from solomo.geo.crs import WGS84_CRS, Crs, to_wgs84_arrays
from solomo.geo.errors import GeometryError

BBox = tuple[float, float, float, float]

_PATH = "bbox"
#: A plain decimal number: Python's float() would also take "nan", "infinity" and "1_000".
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


#: Spacing (degrees) of the points of a box's outline converted by :func:`box_to_wgs84`, and how many a side
#: gets at most (a larger box is sampled more coarsely, and widened more).
_OUTLINE_STEP_DEG: Final = 0.002
_OUTLINE_POINTS: Final = 500
#: Bounds (degree per degree²) on how sharply each conversion to WGS-84 bends a meridian or a parallel of a box: the
#: GCJ-02 offset's sines (periods down to 1/3°, measured up to 0.08) and BD-09's rotation term on top (period
#: 0.12°, measured up to 1.2); the widening below takes the bound, so no sampling can lose an edge.
_BEND: Final[dict[Crs, float]] = {"wgs84": 0.0, "gcj02": 0.1, "bd09": 2.0}
#: A further 0.1 m for the cusp of the GCJ-02 offset's √|lon - 105| terms, which no second derivative bounds.
_CUSP_DEG: Final = 1e-6


def parse_bbox(
    raw: str, *, max_area_deg2: float | None = None, max_span_deg: float = 90.0, crs: Crs = WGS84_CRS
) -> list[BBox]:
    """One box, or two when it crosses the antimeridian (``minlon > maxlon``), split at ±180, in WGS-84.

    Sizes are measured in degrees, which is what the ``&&`` filter and its index work in; a box crossing the
    antimeridian spans ``(180 - minlon) + (maxlon + 180)`` degrees of longitude. Numbers and sizes are checked as
    sent, in ``crs``; the boxes returned are the WGS-84 boxes that hold them (:func:`box_to_wgs84`).
    """
    parts = raw.split(",")
    if len(parts) != 4:
        raise GeometryError(_PATH, f"expected 4 comma-separated numbers minlon,minlat,maxlon,maxlat, got {len(parts)}")
    values = []
    for name, part in zip(("minlon", "minlat", "maxlon", "maxlat"), parts, strict=True):
        text = part.strip()
        if not _NUMBER.fullmatch(text):
            raise GeometryError(_PATH, f"{name} {text!r} is not a number")
        value = float(text)
        if not math.isfinite(value):
            raise GeometryError(_PATH, f"{name} {text} is not a finite number")
        values.append(value)
    minlon, minlat, maxlon, maxlat = values
    for name, value, limit in (
        ("minlon", minlon, 180),
        ("minlat", minlat, 90),
        ("maxlon", maxlon, 180),
        ("maxlat", maxlat, 90),
    ):
        if not -limit <= value <= limit:
            raise GeometryError(_PATH, f"{name} {number(value)} is out of range [-{limit}, {limit}]")
    if minlat > maxlat:
        raise GeometryError(_PATH, f"minlat {number(minlat)} is greater than maxlat {number(maxlat)}")

    crosses = minlon > maxlon
    lon_span = (180.0 - minlon) + (maxlon + 180.0) if crosses else maxlon - minlon
    lat_span = maxlat - minlat
    if lon_span > max_span_deg or lat_span > max_span_deg:
        raise GeometryError(
            _PATH,
            f"box spans {number(lon_span)}° of longitude and {number(lat_span)}° of latitude, "
            f"more than {number(max_span_deg)}°",
        )
    if max_area_deg2 is not None and lon_span * lat_span > max_area_deg2:
        raise GeometryError(
            _PATH, f"box covers {lon_span * lat_span:.4g} square degrees, more than {number(max_area_deg2)}"
        )
    boxes: list[BBox] = (
        [(minlon, minlat, 180.0, maxlat), (-180.0, minlat, maxlon, maxlat)]
        if crosses
        else [(minlon, minlat, maxlon, maxlat)]
    )
    return boxes if crs == WGS84_CRS else [box_to_wgs84(box, crs) for box in boxes]


def box_to_wgs84(box: BBox, crs: Crs) -> BBox:
    """The WGS-84 box holding a box drawn in ``crs`` (a map's view in GCJ-02, say).

    The offset differs across a box, so converting its corners alone would miss up to a hundred metres: the
    outline is sampled every :data:`_OUTLINE_STEP_DEG` or so, converted in one pass, bounded, and widened by the
    most the outline can bend between two samples (``bend · step² / 8``, a few centimetres at city scale). Points
    outside China are not moved, so a box outside it comes back as it was.
    """
    minlon, minlat, maxlon, maxlat = box
    step = max(_OUTLINE_STEP_DEG, (maxlon - minlon) / _OUTLINE_POINTS, (maxlat - minlat) / _OUTLINE_POINTS)
    xs = np.linspace(minlon, maxlon, max(2, math.ceil((maxlon - minlon) / step) + 1))
    ys = np.linspace(minlat, maxlat, max(2, math.ceil((maxlat - minlat) / step) + 1))
    outline_lons = np.concatenate([xs, xs, np.full(ys.size, minlon), np.full(ys.size, maxlon)])
    outline_lats = np.concatenate([np.full(xs.size, minlat), np.full(xs.size, maxlat), ys, ys])
    lons, lats = to_wgs84_arrays(crs, outline_lons, outline_lats)
    if np.array_equal(lons, outline_lons) and np.array_equal(lats, outline_lats):
        return box  # nowhere near China: nothing moved
    margin = _BEND[crs] * step * step / 8 + _CUSP_DEG
    return (
        max(-180.0, float(lons.min()) - margin),
        max(-90.0, float(lats.min()) - margin),
        min(180.0, float(lons.max()) + margin),
        min(90.0, float(lats.max()) + margin),
    )
