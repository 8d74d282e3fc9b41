"""``bbox`` query filters: ``minlon,minlat,maxlon,maxlat`` (RFC 7946 §5), possibly across the antimeridian."""

from __future__ import annotations

import math
import re

from solomo.geo._format import number
from solomo.geo.errors import GeometryError

BBox = tuple[float, float, float, float]

_PATH = "bbox"
#: A plain decimal number: Python's float() would also take "nan", "infinity" and "1_000".
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_bbox(raw: str, *, max_area_deg2: float | None = None, max_span_deg: float = 90.0) -> list[BBox]:
    """One box, or two when it crosses the antimeridian (``minlon > maxlon``), split at ±180.

    Sizes are measured in degrees, which is what the ``&&`` filter and its index work in; a box crossing the
    antimeridian spans ``(180 - minlon) + (maxlon + 180)`` degrees of longitude.
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
    if crosses:
        return [(minlon, minlat, 180.0, maxlat), (-180.0, minlat, maxlon, maxlat)]
    return [(minlon, minlat, maxlon, maxlat)]
