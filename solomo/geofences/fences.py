"""From a request's geometry to what is stored: validated, normalised, measured, with its index shape."""

from __future__ import annotations

from dataclasses import dataclass

import shapely

from solomo.errors import invalid, invalid_geometry
from solomo.geo.circles import check_radius, circle_area_m2, circle_bounds_polygon
from solomo.geo.crs import WGS84_CRS, Crs
from solomo.geo.errors import GeometryError
from solomo.geo.geojson import Geometry, Point
from solomo.geo.validate import check_area, validate_point, validate_polygonal
from solomo.geo.wkb import to_ewkb_hex


@dataclass(frozen=True, slots=True)
class PreparedFence:
    kind: str
    #: EWKB (hex, SRID 4326) of the indexed polygonal shape: the fence, or a polygon containing the circle.
    geom: str
    center: str | None
    radius_m: float | None
    area_m2: float
    vertex_count: int


def prepare_fence(
    geometry: Geometry,
    radius_m: float | None,
    *,
    area_cap_km2: float,
    crs: Crs = WGS84_CRS,
    geometry_field: str = "geometry",
    radius_field: str = "radius_m",
) -> PreparedFence:
    """Validate a fence's geometry given in ``crs`` (raising a 422 that names the field) and compute what is stored,
    in WGS-84: a circle's centre is converted and its radius kept (metres on the ground in any crs)."""
    if isinstance(geometry, Point):
        if radius_m is None:
            raise invalid(radius_field, "a circle (Point geometry) needs radius_m")
        try:
            center = validate_point(geometry, crs=crs)
        except GeometryError as exc:
            raise invalid_geometry(geometry_field, exc) from exc
        try:
            radius = check_radius(radius_m, path="")
        except GeometryError as exc:
            raise invalid_geometry(radius_field, exc) from exc
        area = circle_area_m2(radius)
        if area > area_cap_km2 * 1e6:
            raise invalid(
                radius_field,
                f"circle area {area / 1e6:.2f} km² is larger than the brand's cap of {area_cap_km2:g} km²",
                code="invalid_geometry",
            )
        bounds = circle_bounds_polygon(center.x, center.y, radius)
        return PreparedFence("circle", to_ewkb_hex(bounds), to_ewkb_hex(center), radius, area, 1)
    if radius_m is not None:
        raise invalid(radius_field, "only a circle (Point geometry) takes radius_m")
    try:
        shape = validate_polygonal(geometry, crs=crs)
        area = check_area(shape, area_cap_km2)
    except GeometryError as exc:
        raise invalid_geometry(geometry_field, exc) from exc
    return PreparedFence("polygon", to_ewkb_hex(shape), None, None, area, int(shapely.get_num_coordinates(shape)))
