"""Checks on client geometry before it reaches SQL, so a refusal can name the ring and vertex at fault.

Invalid geometry is refused, never repaired: a "fixed" fence would silently match other places than the ones
the brand drew.

Positions may come in GCJ-02 or BD-09 (``crs``, :mod:`solomo.geo.crs`). Each position is checked as sent (a
number, in range, rings closed), then converted to WGS-84, and every rule about the shape (edge lengths,
validity, area, winding) is checked on the WGS-84 geometry that is stored and matched: the offset bends shapes a
little, and what must be valid is what the database holds. Paths name rings and vertices as sent (conversion
keeps their order), and a place named in a message is given back in the caller's ``crs``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

from solomo.geo._format import exceeding, number
from solomo.geo.crs import WGS84_CRS, Crs, from_wgs84, to_wgs84, to_wgs84_arrays
from solomo.geo.errors import GeometryError
from solomo.geo.geodesic import WGS84
from solomo.geo.geojson import MultiPolygon, Point, Polygon

MAX_VERTICES = 10_000
MAX_EDGE_M = 10_000.0

_FloatArray = npt.NDArray[np.float64]
#: GEOS reports e.g. ``Self-intersection[2.35 48.85]``: a reason, then the location as ``[x y]``.
_VALIDITY_REASON = re.compile(r"(?P<reason>.*?)\s*\[(?P<x>\S+) (?P<y>[^\s\]]+)\]")
#: How close (in degrees) a ring must pass to the reported location to be named as the one at fault.
_LOCATION_EPSILON_DEG = 1e-9


def check_position(pos: Sequence[float], path: str) -> tuple[float, float]:
    """A valid ``(lon, lat)`` from a GeoJSON position, dropping the altitude RFC 7946 allows as a third number."""
    if len(pos) not in (2, 3):
        raise GeometryError(
            path, f"a position is [longitude, latitude] with an optional altitude, not {len(pos)} numbers"
        )
    for name, value in zip(("longitude", "latitude", "altitude"), pos, strict=False):
        if not math.isfinite(value):
            raise GeometryError(path, f"{name} must be a finite number, not {number(value)}")
    lon, lat = float(pos[0]), float(pos[1])
    if not -180.0 <= lon <= 180.0:
        raise GeometryError(path, f"longitude {number(lon)} is out of range [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise GeometryError(path, f"latitude {number(lat)} is out of range [-90, 90]")
    return lon, lat


def validate_point(point: Point, path: str = "coordinates", crs: Crs = WGS84_CRS) -> shapely.Point:
    """The WGS-84 shapely point of a GeoJSON Point given in ``crs``."""
    lon, lat = check_position(point.coordinates, path)
    return shapely.Point(*to_wgs84(crs, lon, lat))


@dataclass(frozen=True, slots=True)
class _Ring:
    path: str
    lons: _FloatArray
    lats: _FloatArray

    @property
    def coords(self) -> _FloatArray:
        return np.column_stack((self.lons, self.lats))

    def to_wgs84(self, crs: Crs) -> _Ring:
        lons, lats = to_wgs84_arrays(crs, self.lons, self.lats)
        # Closed as sent, closed after: equal inputs give equal outputs, but say so rather than trust every SIMD lane.
        lons[-1], lats[-1] = lons[0], lats[0]
        return _Ring(self.path, lons, lats)


def validate_polygonal(
    geom: Polygon | MultiPolygon,
    *,
    crs: Crs = WGS84_CRS,
    max_vertices: int = MAX_VERTICES,
    max_edge_m: float = MAX_EDGE_M,
) -> shapely.Polygon | shapely.MultiPolygon:
    """The WGS-84 shapely geometry of a valid client (Multi)Polygon given in ``crs``, wound as RFC 7946 asks, or a
    :class:`GeometryError`.

    The cheap structural checks come first and the vertex count is checked before any per-vertex work, so an
    oversized body is refused without paying for it.
    """
    polygons = _polygon_rings(geom)
    total = sum(len(ring) for _, rings in polygons for ring in rings)
    if total > max_vertices:
        raise GeometryError("", f"{total:,} positions is more than the limit of {max_vertices:,}")
    parsed = [[_parse_ring(ring, f"{path}[{j}]") for j, ring in enumerate(rings)] for path, rings in polygons]
    if crs != WGS84_CRS:
        parsed = [[ring.to_wgs84(crs) for ring in rings] for rings in parsed]
    _check_edges([ring for rings in parsed for ring in rings], max_edge_m)

    shapes = []
    for (path, _), rings in zip(polygons, parsed, strict=True):
        shape = shapely.Polygon(rings[0].coords, [ring.coords for ring in rings[1:]])
        if not shape.is_valid:
            raise _polygon_invalid(shape, path, rings, crs)
        shapes.append(orient(shape, sign=1.0))
    if isinstance(geom, Polygon):
        return shapes[0]
    multi = shapely.MultiPolygon(shapes)
    if not multi.is_valid:
        raise _parts_invalid(multi, shapes, crs)
    return multi


def _polygon_rings(geom: Polygon | MultiPolygon) -> list[tuple[str, list[list[list[float]]]]]:
    """Each polygon's rings with its path, after checking there is something to build."""
    if isinstance(geom, Polygon):
        polygons = [("coordinates", geom.coordinates)]
    elif not geom.coordinates:
        raise GeometryError("coordinates", "a MultiPolygon needs at least one polygon")
    else:
        polygons = [(f"coordinates[{i}]", rings) for i, rings in enumerate(geom.coordinates)]
    for path, rings in polygons:
        if not rings:
            raise GeometryError(path, "a polygon needs at least one ring, its exterior")
        for j, ring in enumerate(rings):
            if len(ring) < 4:
                raise GeometryError(
                    f"{path}[{j}]", f"a ring needs at least 4 positions (the last repeating the first), not {len(ring)}"
                )
    return polygons


def _parse_ring(ring: list[list[float]], path: str) -> _Ring:
    # Positions are checked before closure so a NaN first position is reported as NaN, not as an open ring.
    lonlats = _valid_positions(ring)
    if lonlats is None:
        lonlats = np.array([check_position(pos, f"{path}[{k}]") for k, pos in enumerate(ring)], dtype=np.float64)
    if not np.array_equal(lonlats[0], lonlats[-1]):
        raise GeometryError(path, "ring is not closed: first and last positions differ")
    return _Ring(path, np.ascontiguousarray(lonlats[:, 0]), np.ascontiguousarray(lonlats[:, 1]))


def _valid_positions(ring: list[list[float]]) -> _FloatArray | None:
    """The ring's (lon, lat) array when every position is fine, checked in bulk; None to look one by one.

    A Python call per position costs more than the rest of the validation together at 10,000 vertices, so the
    slow path only runs to find and name the position at fault.
    """
    try:
        positions = np.array(ring, dtype=np.float64)
    except ValueError:  # ragged: some position has a different length
        return None
    if positions.ndim != 2 or positions.shape[1] not in (2, 3) or not np.isfinite(positions).all():
        return None
    lonlats = positions[:, :2]
    if (np.abs(lonlats[:, 0]) > 180.0).any() or (np.abs(lonlats[:, 1]) > 90.0).any():
        return None
    return lonlats


def _check_edges(rings: list[_Ring], max_edge_m: float) -> None:
    """Refuse edges the database would draw differently from the client (see DESIGN §3, geodesic edges).

    All rings go to pyproj in one vectorised call: 10,000 vertices take about a millisecond.
    """
    lon1 = np.concatenate([ring.lons[:-1] for ring in rings])
    lat1 = np.concatenate([ring.lats[:-1] for ring in rings])
    lon2 = np.concatenate([ring.lons[1:] for ring in rings])
    lat2 = np.concatenate([ring.lats[1:] for ring in rings])
    starts = np.cumsum([0] + [len(ring.lons) - 1 for ring in rings])

    def at(edge: int) -> tuple[_Ring, int]:
        index = int(np.searchsorted(starts, edge, side="right")) - 1
        return rings[index], edge - int(starts[index])

    dlon = np.abs(lon2 - lon1)
    if (jumps := np.flatnonzero(dlon > 180.0)).size:
        ring, k = at(int(jumps[0]))
        raise GeometryError(
            f"{ring.path}[{k + 1}]",
            f"positions {k} and {k + 1} are {dlon[jumps[0]]:.4f}° of longitude apart, more than 180°: "
            "split a fence that crosses the antimeridian into a MultiPolygon at longitude ±180",
        )
    _, _, lengths = WGS84.inv(lon1, lat1, lon2, lat2)
    if (long_edges := np.flatnonzero(lengths > max_edge_m)).size:
        ring, k = at(int(long_edges[0]))
        length = float(lengths[long_edges[0]])
        raise GeometryError(
            f"{ring.path}[{k + 1}]",
            f"edge of {exceeding(length / 1000, max_edge_m / 1000)} km between positions {k} and {k + 1} is "
            f"longer than {number(max_edge_m / 1000)} km",
        )


def _validity(shape: shapely.Geometry, crs: Crs) -> tuple[str, shapely.Point | None]:
    """GEOS's reason for invalidity, lower-cased, and where it found it if it says (in WGS-84, and in the message
    in the caller's ``crs``)."""
    explanation = str(explain_validity(shape))
    match = _VALIDITY_REASON.fullmatch(explanation)
    if match is None:
        return explanation.lower(), None
    location = shapely.Point(float(match["x"]), float(match["y"]))
    lon, lat = from_wgs84(crs, location.x, location.y)
    return f"{match['reason'].lower()} at lon {lon:.6f}, lat {lat:.6f}", location


def _polygon_invalid(shape: shapely.Polygon, path: str, rings: list[_Ring], crs: Crs) -> GeometryError:
    reason, location = _validity(shape, crs)
    if location is not None:
        # The last ring through the location: when a hole and the shell meet there, the hole is usually the
        # one drawn wrong.
        for ring in reversed(rings):
            if shapely.LinearRing(ring.coords).distance(location) <= _LOCATION_EPSILON_DEG:
                return GeometryError(ring.path, reason)
    return GeometryError(path, reason)


def _parts_invalid(multi: shapely.MultiPolygon, parts: list[shapely.Polygon], crs: Crs) -> GeometryError:
    """Each part was valid alone, so the parts overlap (or nest): name two of them."""
    reason, location = _validity(multi, crs)
    if location is not None:
        near = np.flatnonzero(shapely.distance(np.array(parts, dtype=object), location) <= _LOCATION_EPSILON_DEG)
        if near.size >= 2:
            first, second = int(near[0]), int(near[1])
            return GeometryError(f"coordinates[{second}]", f"polygons {first} and {second} overlap: {reason}")
    return GeometryError("coordinates", f"polygons overlap: {reason}")


def geodesic_area_m2(geom: shapely.Polygon | shapely.MultiPolygon) -> float:
    """Area in m² on the WGS84 ellipsoid, holes subtracted; never square degrees, which shrink with latitude.

    Each ring's area is taken unsigned, so the answer does not depend on the winding the caller passed.
    """
    polygons = geom.geoms if isinstance(geom, shapely.MultiPolygon) else [geom]
    return sum(
        _ring_area_m2(polygon.exterior) - sum(_ring_area_m2(hole) for hole in polygon.interiors) for polygon in polygons
    )


def _ring_area_m2(ring: shapely.LinearRing) -> float:
    coords = np.asarray(ring.coords, dtype=np.float64)
    area, _ = WGS84.polygon_area_perimeter(coords[:, 0], coords[:, 1])
    return abs(area)


def check_area(geom: shapely.Polygon | shapely.MultiPolygon, max_km2: float) -> float:
    """The geodesic area in m², refused when above the brand's cap in km²."""
    area_m2 = geodesic_area_m2(geom)
    if area_m2 > max_km2 * 1e6:
        raise GeometryError(
            "", f"area {exceeding(area_m2 / 1e6, max_km2)} km² is larger than the brand's cap of {number(max_km2)} km²"
        )
    return area_m2
