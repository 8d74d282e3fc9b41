from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from solomo.geo.geojson import Point
from solomo.schemas import Input

Flag = Literal["low_accuracy", "mocked", "impossible_speed"]


class CheckinIn(Input):
    """A location report from the app. ``location`` is a GeoJSON Point; ``recorded_at`` carries a timezone.

    Fixes may arrive late and out of order (an offline queue). One recorded before the member's newest unflagged
    fix is *late*: it is checked for speed against the fixes before and after it and against the newest one (a
    fix the member could not have reached from there is flagged `impossible_speed` and grants nothing); it never
    changes where the member is said to be now, fires no `dwell` and no exit, and fires an `enter` only at a
    fence where no visit already known could include it. Whatever it grants is claimable for the brand's
    eligibility window from its own `recorded_at`, not from its arrival.
    """

    location: Point
    accuracy_m: Annotated[
        float, msgspec.Meta(gt=0, le=100_000, description="Horizontal accuracy (m), as the OS reports.")
    ]
    recorded_at: Annotated[
        datetime,
        msgspec.Meta(
            tz=True,
            description=(
                "When the device took the fix: at most 5 min ahead, 24 h old. Order is by this time, not by arrival:"
                " a fix older than the member's newest one is late (see the body's description)."
            ),
        ),
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
        msgspec.Meta(
            description=(
                "What this check-in fired; null while staying inside. A late fix fires at most `enter`, for a"
                " visit that no newer fix had shown."
            )
        ),
    ]


class FenceExit(msgspec.Struct):
    fence_id: uuid.UUID
    store_id: uuid.UUID


class AvailableOffer(msgspec.Struct):
    """An offer this check-in granted, at the store whose fence fired it: one claim until ``eligible_until``.

    Only new grants are listed: an offer already granted today (see the offer's ``limits.grants``) is not
    granted again by a second visit, and is not listed.
    """

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
