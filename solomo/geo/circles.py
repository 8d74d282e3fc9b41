"""Circle fences: radius rules and the polygon that stands in for a circle in the spatial index.

A circle is stored as its centre and radius and matched exactly in SQL (``ST_DWithin(center, P, radius + tol)``),
which no index can serve because the distance differs per row. So each circle also keeps a polygon that
contains it, whose bounding box feeds the indexed ``&&`` prefilter.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.affinity import translate
from shapely.geometry.polygon import orient

from solomo.geo._format import number
from solomo.geo.errors import GeometryError
from solomo.geo.geodesic import WGS84
from solomo.geo.validate import check_position

MIN_RADIUS_M = 10.0
MAX_RADIUS_M = 50_000.0

#: Covers the ellipsoid's small departure from the spherical argument in :func:`circle_bounds_polygon`.
_SAFETY_M = 1.0
#: Circles coming this close to a pole are covered by a polar cap: near a pole, straight lon/lat edges stray
#: far from the geodesic ones and a ring around the pole has no sensible lon/lat polygon.
_POLE_CLEARANCE_M = 111_000.0
_MIN_SEGMENTS = 8
#: Vertex spacing along a polar cap's edge; see :func:`_polar_cap`.
_CAP_STEP_DEG = 1.0


def check_radius(radius_m: float, path: str = "radius_m") -> float:
    if not math.isfinite(radius_m):
        raise GeometryError(path, f"radius must be a finite number, not {number(radius_m)}")
    if not MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M:
        raise GeometryError(
            path,
            f"radius {number(radius_m)} m is out of range [{number(MIN_RADIUS_M)}, {number(MAX_RADIUS_M)}] m",
        )
    return float(radius_m)


def circle_area_m2(radius_m: float) -> float:
    """π r²: the geodesic circle's area differs by a factor of about 1 - r²/(12 R²), under 10⁻⁵ at 50 km."""
    return math.pi * radius_m * radius_m


def circle_bounds_polygon(
    lon: float, lat: float, radius_m: float, segments: int = 64
) -> shapely.Polygon | shapely.MultiPolygon:
    """A lon/lat polygon containing the geodesic circle of ``radius_m`` around ``(lon, lat)``.

    Only a prefilter shape: it may be a little larger than the circle, never smaller. Pass the largest
    distance the exact test will use (radius plus the matching tolerance).

    - Usually a regular polygon of ``segments`` vertices placed with ``Geod.fwd``. Its vertices sit at
      ``r / cos(π/segments)`` so that its edges circumscribe the circle (on a sphere, the midpoint of such an
      edge is at least ``r`` from the centre), plus a metre for the ellipsoid, plus twice the amount a straight
      lon/lat edge sags towards the equator from the geodesic one (``chord² · tan φ / 8R``, bounded with
      ``tan φ <= R / d`` where ``d`` is the distance from the circle to the pole), so that it contains the
      circle both as geography and as planar lon/lat.
    - Across the antimeridian the vertices are unwrapped around the centre's longitude and the polygon is cut
      at ±180 into a MultiPolygon, the part beyond shifted by 360°.
    - Within about 1° of latitude (111 km) of a pole, or around it, the answer is the polar cap from the
      circle's farthest latitude from the pole (reached along the centre's meridian) to the pole, over all
      longitudes, with a vertex every degree along its edge so that it also holds as geography: loose, but
      valid and covering, for a case that is rare in marketing.
    """
    if segments < _MIN_SEGMENTS:
        raise ValueError(f"segments must be at least {_MIN_SEGMENTS}, not {segments}")
    if not (math.isfinite(radius_m) and radius_m > 0):
        raise GeometryError("radius_m", f"radius must be a positive finite number, not {number(radius_m)}")
    lon, lat = check_position((lon, lat), "coordinates")

    circumscribed_m = radius_m / math.cos(math.pi / segments)
    pole_lat = 90.0 if lat >= 0 else -90.0
    _, _, pole_m = WGS84.inv(lon, lat, lon, pole_lat)
    if pole_m <= circumscribed_m + _POLE_CLEARANCE_M:
        return _polar_cap(lon, lat, circumscribed_m + _SAFETY_M, pole_lat)

    chord_m = 2 * circumscribed_m * math.sin(math.pi / segments)
    sag_m = chord_m * chord_m / (8 * (pole_m - circumscribed_m))
    vertex_m = circumscribed_m + 2 * sag_m + _SAFETY_M

    azimuths = np.linspace(0.0, 360.0, segments, endpoint=False)
    lons, lats, _ = WGS84.fwd(np.full(segments, lon), np.full(segments, lat), azimuths, np.full(segments, vertex_m))
    # Relative to the centre, so a circle across the antimeridian stays in one piece (e.g. 179.9 to 180.2).
    lons = lon + (np.asarray(lons) - lon + 180.0) % 360.0 - 180.0
    polygon = orient(shapely.Polygon(np.column_stack((lons, lats))), sign=1.0)
    if lons.min() >= -180.0 and lons.max() <= 180.0:
        return polygon
    parts = [shapely.clip_by_rect(polygon, -180.0, -90.0, 180.0, 90.0)]
    if lons.max() > 180.0:
        parts.append(translate(shapely.clip_by_rect(polygon, 180.0, -90.0, 540.0, 90.0), -360.0))
    else:
        parts.append(translate(shapely.clip_by_rect(polygon, -540.0, -90.0, -180.0, 90.0), 360.0))
    return shapely.MultiPolygon([orient(part, sign=1.0) for part in parts])


def _polar_cap(lon: float, lat: float, radius_m: float, pole_lat: float) -> shapely.Polygon:
    """The band from the circle's farthest latitude to the pole, readable as planar lon/lat and as geography.

    As geography a box's ±180 corners coincide and its edges collapse, so the edge away from the pole gets a
    vertex every degree of longitude, lowered by the poleward bulge of the great circle between two of them
    (``tan φ' = tan φ · cos(step / 2)`` on the sphere), so that the band still reaches the circle's latitude.
    """
    away_from_pole = 180.0 if pole_lat > 0 else 0.0
    _, circle_lat, _ = WGS84.fwd(lon, lat, away_from_pole, radius_m)
    edge_lat = math.degrees(math.atan(math.tan(math.radians(circle_lat)) * math.cos(math.radians(_CAP_STEP_DEG / 2))))
    edge = [(edge_lon, edge_lat) for edge_lon in np.linspace(-180.0, 180.0, round(360 / _CAP_STEP_DEG) + 1).tolist()]
    return orient(shapely.Polygon([*edge, (180.0, pole_lat), (-180.0, pole_lat)]), sign=1.0)
