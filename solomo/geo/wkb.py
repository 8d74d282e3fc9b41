"""Geometry across the database boundary (EWKB, as PostGIS speaks it) and back out as GeoJSON."""

from __future__ import annotations

import numpy as np
import shapely

from solomo.geo.geojson import MultiPolygon, Point, Polygon

WGS84_SRID = 4326
#: 7 decimals of a degree is about 1 cm: more digits only add bytes and false precision.
_DECIMALS = 7


def to_ewkb_hex(geom: shapely.Geometry, srid: int = WGS84_SRID) -> str:
    """Hex EWKB carrying the SRID, so PostGIS never sees a bare geometry it would have to guess about."""
    return str(shapely.to_wkb(shapely.set_srid(geom, srid), hex=True, include_srid=True))


def from_wkb(data: bytes | str) -> shapely.Geometry:
    """A shapely geometry from WKB or EWKB, binary or hex (the SRID, if any, stays readable with get_srid)."""
    return shapely.from_wkb(data)


def to_geojson(geom: shapely.Point | shapely.Polygon | shapely.MultiPolygon) -> Point | Polygon | MultiPolygon:
    """The GeoJSON Struct of a 2D shapely geometry, coordinates rounded to about a centimetre."""
    if isinstance(geom, shapely.Point):
        return Point(coordinates=[round(geom.x, _DECIMALS), round(geom.y, _DECIMALS)])
    if isinstance(geom, shapely.Polygon):
        return Polygon(coordinates=_polygon(geom))
    if isinstance(geom, shapely.MultiPolygon):
        return MultiPolygon(coordinates=[_polygon(part) for part in geom.geoms])
    raise TypeError(f"cannot write a {geom.geom_type} as a fence geometry")


def _polygon(polygon: shapely.Polygon) -> list[list[list[float]]]:
    return [_ring(polygon.exterior), *(_ring(hole) for hole in polygon.interiors)]


def _ring(ring: shapely.LinearRing) -> list[list[float]]:
    coords: list[list[float]] = np.round(shapely.get_coordinates(ring), _DECIMALS).tolist()
    return coords
