from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from solomo.geo.geojson import Point
from solomo.schemas import Input, Patch

StoreName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Address = Annotated[str, msgspec.Meta(max_length=500)]
StoreTimezone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="IANA time zone of the store.")]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[\w:.-]+$")]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=50)]
ExternalRef = Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="The brand's own store code.")]


class StoreCreate(Input):
    """A store; ``location`` is a GeoJSON Point, [lon, lat] in the `crs` (WGS 84 by default)."""

    name: StoreName
    location: Point
    timezone: StoreTimezone
    address: Address | None = None
    tags: Tags = []
    external_ref: ExternalRef | None = None


class StorePatch(Patch):
    name: StoreName | msgspec.UnsetType = msgspec.UNSET
    location: Point | msgspec.UnsetType = msgspec.UNSET
    timezone: StoreTimezone | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType | None = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    external_ref: ExternalRef | msgspec.UnsetType | None = msgspec.UNSET


class StoreOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    address: str | None
    location: Point
    timezone: str
    tags: list[str]
    external_ref: str | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class StorePage(msgspec.Struct):
    items: list[StoreOut]
    next_cursor: str | None


class NearbyStore(msgspec.Struct):
    store: StoreOut
    distance_m: Annotated[float, msgspec.Meta(description="Geodesic distance (WGS 84 spheroid) in metres.")]


class NearbyStores(msgspec.Struct):
    items: list[NearbyStore]
