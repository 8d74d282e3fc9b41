from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from solomo.geo.geojson import Point
from solomo.schemas import Input

Flag = Literal["low_accuracy", "mocked", "impossible_speed"]


class CheckinIn(Input):
    """A location report from the app. ``location`` is a GeoJSON Point; ``recorded_at`` carries a timezone."""

    location: Point
    accuracy_m: Annotated[
        float, msgspec.Meta(gt=0, le=100_000, description="Horizontal accuracy (m), as the OS reports.")
    ]
    recorded_at: Annotated[
        datetime, msgspec.Meta(tz=True, description="When the device took the fix: at most 5 min ahead, 24 h old.")
    ]
    mocked: Annotated[bool, msgspec.Meta(description="The OS says the location is simulated.")] = False
    source: (
        Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]{0,31}$", examples=["gps", "wifi", "beacon"])] | None
    ) = None


class FenceMatch(msgspec.Struct):
    fence_id: uuid.UUID
    store_id: uuid.UUID
    event: Annotated[
        Literal["enter", "dwell"] | None,
        msgspec.Meta(description="What this check-in fired; null while staying inside."),
    ]


class FenceExit(msgspec.Struct):
    fence_id: uuid.UUID
    store_id: uuid.UUID


class AvailableOffer(msgspec.Struct):
    """An offer this check-in made claimable, at the store whose fence fired it, until ``eligible_until``."""

    offer_id: uuid.UUID
    title: str
    store_id: uuid.UUID
    eligible_until: datetime


class CheckinResult(msgspec.Struct):
    id: uuid.UUID
    recorded_at: datetime
    received_at: datetime
    flags: list[Flag]
    matches: list[FenceMatch]
    exits: list[FenceExit]
    offers: list[AvailableOffer] = []


class CheckinOut(msgspec.Struct):
    id: uuid.UUID
    recorded_at: datetime
    received_at: datetime
    location: Annotated[Point | None, msgspec.Meta(description="Null once the brand's retention days have passed.")]
    coarse_location: Annotated[Point | None, msgspec.Meta(description="About 1 km precision, kept after retention.")]
    accuracy_m: float
    mocked: bool
    source: str | None
    flags: list[Flag]
    matches: list[FenceMatch]
    exits: list[FenceExit]


class CheckinPage(msgspec.Struct):
    items: list[CheckinOut]
    next_cursor: str | None
