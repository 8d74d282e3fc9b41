from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from solomo.geo.geojson import Geometry
from solomo.schemas import Input, Patch

FenceName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Radius = Annotated[float, msgspec.Meta(description="Circle radius in metres (10 m to 50 km); only with a Point.")]
DwellSeconds = Annotated[
    int, msgspec.Meta(ge=0, le=86_400, description="Seconds inside before `dwell` fires; 0 fires on entry only.")
]
# Descriptions live on the containing Structs: a Meta on a shared component makes its schema depend on
# which route registered it first.
GeometryIn = Geometry


class GeofenceCreate(Input):
    """A fence: ``geometry`` is a Polygon or MultiPolygon, or a Point (a circle's center) with ``radius_m``."""

    name: FenceName
    geometry: GeometryIn
    radius_m: Radius | None = None
    dwell_seconds: DwellSeconds = 0
    active: bool = True


class GeofencePatch(Patch):
    name: FenceName | msgspec.UnsetType = msgspec.UNSET
    geometry: GeometryIn | msgspec.UnsetType = msgspec.UNSET
    radius_m: Radius | msgspec.UnsetType = msgspec.UNSET
    dwell_seconds: DwellSeconds | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class GeofenceProperties(msgspec.Struct):
    store_id: uuid.UUID
    name: str
    kind: Literal["circle", "polygon"]
    radius_m: float | None
    dwell_seconds: int
    active: bool
    area_m2: Annotated[float, msgspec.Meta(description="Geodesic area (π r² for circles).")]
    vertex_count: int
    created_at: datetime
    updated_at: datetime


class GeofenceFeature(msgspec.Struct, tag_field="type", tag="Feature"):
    """A fence as a GeoJSON Feature: a circle is its center Point with `radius_m` in the properties."""

    id: uuid.UUID
    geometry: Geometry
    properties: GeofenceProperties


class GeofenceCollection(msgspec.Struct, tag_field="type", tag="FeatureCollection"):
    features: list[GeofenceFeature]
    next_cursor: Annotated[str | None, msgspec.Meta(description="Pass as `cursor` for the next page.")] = None


class ImportProperties(msgspec.Struct, kw_only=True):
    """What an imported feature's properties say (other properties are ignored, as GeoJSON allows)."""

    store_id: uuid.UUID | None = None
    store_external_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    name: FenceName | None = None
    radius_m: Radius | None = None
    dwell_seconds: DwellSeconds = 0
    active: bool = True


class ImportResult(msgspec.Struct):
    imported: int
    ids: list[uuid.UUID]
