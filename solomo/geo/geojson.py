"""GeoJSON (RFC 7946) request and response bodies.

Unlike the API's own envelopes these allow foreign members (``bbox``, ``crs``, extras): RFC 7946 permits them
and common tools emit them, so they are accepted and ignored. Shapes are only typed here; the rules (ranges,
closed rings, validity) live in :mod:`solomo.geo.validate` so errors can name the ring and vertex.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

Position = Annotated[
    list[float],
    msgspec.Meta(
        description=(
            "[longitude, latitude] in degrees, in the request's `crs` (WGS 84 by default); an altitude, if given, is "
            "ignored."
        ),
        examples=[[2.3522, 48.8566]],
    ),
]
LinearRing = Annotated[
    list[Position],
    msgspec.Meta(description="A closed ring: at least 4 positions, the last equal to the first."),
]


class _GeoJSONObject(msgspec.Struct, tag_field="type"):
    """Base of the tagged union: ``type`` is the tag, so a ``Circle`` or a typo fails to decode."""


class Point(_GeoJSONObject, tag="Point"):
    coordinates: Position


class Polygon(_GeoJSONObject, tag="Polygon"):
    coordinates: Annotated[
        list[LinearRing],
        msgspec.Meta(
            description=(
                "The exterior ring, then any holes. Edges are geodesic: at most 10 km each, never more than 180° "
                "of longitude apart."
            )
        ),
    ]


class MultiPolygon(_GeoJSONObject, tag="MultiPolygon"):
    coordinates: Annotated[
        list[list[LinearRing]],
        msgspec.Meta(
            description=(
                "Polygons that do not overlap. A fence across the antimeridian is sent as two polygons split "
                "at longitude ±180."
            )
        ),
    ]


Geometry = Point | Polygon | MultiPolygon
PolygonalGeometry = Polygon | MultiPolygon


class Feature(_GeoJSONObject, tag="Feature"):
    geometry: Geometry | None
    properties: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(description="Free-form; a circle is a Point geometry with `radius_m` here."),
    ] = None
    id: str | int | None = None


class FeatureCollection(_GeoJSONObject, tag="FeatureCollection"):
    features: list[Feature]
