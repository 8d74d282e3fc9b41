"""Pure geometry: GeoJSON ⇄ shapely ⇄ WKB, validation, circles, geodesic distance and speed.

No database here; PostGIS stays the source of truth for spatial queries, and these functions check input
before it gets there and serve as its test oracle.
"""

from solomo.geo.bbox import BBox, parse_bbox
from solomo.geo.circles import (
    MAX_RADIUS_M,
    MIN_RADIUS_M,
    check_radius,
    circle_area_m2,
    circle_bounds_polygon,
)
from solomo.geo.errors import GeometryError
from solomo.geo.geodesic import WGS84, distance_m, implied_speed_kmh
from solomo.geo.geojson import (
    Feature,
    FeatureCollection,
    Geometry,
    MultiPolygon,
    Point,
    Polygon,
    PolygonalGeometry,
)
from solomo.geo.validate import (
    MAX_EDGE_M,
    MAX_VERTICES,
    check_area,
    check_position,
    geodesic_area_m2,
    validate_point,
    validate_polygonal,
)
from solomo.geo.wkb import WGS84_SRID, from_wkb, to_ewkb_hex, to_geojson

__all__ = [
    "MAX_EDGE_M",
    "MAX_RADIUS_M",
    "MAX_VERTICES",
    "MIN_RADIUS_M",
    "WGS84",
    "WGS84_SRID",
    "BBox",
    "Feature",
    "FeatureCollection",
    "Geometry",
    "GeometryError",
    "MultiPolygon",
    "Point",
    "Polygon",
    "PolygonalGeometry",
    "check_area",
    "check_position",
    "check_radius",
    "circle_area_m2",
    "circle_bounds_polygon",
    "distance_m",
    "from_wkb",
    "geodesic_area_m2",
    "implied_speed_kmh",
    "parse_bbox",
    "to_ewkb_hex",
    "to_geojson",
    "validate_point",
    "validate_polygonal",
]
