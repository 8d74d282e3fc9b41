from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from solomo.schemas import Patch

Timezone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="IANA time zone, e.g. Asia/Shanghai.")]
ToleranceCap = Annotated[float, msgspec.Meta(ge=0, le=1000, description="Largest GPS tolerance used for matching (m).")]
AccuracyLimit = Annotated[
    float, msgspec.Meta(gt=0, le=10_000, description="Check-ins less accurate than this (m) match nothing.")
]
SpeedLimit = Annotated[
    float, msgspec.Meta(gt=0, le=5000, description="Faster implied travel (km/h) flags impossible_speed.")
]
MinInterval = Annotated[int, msgspec.Meta(ge=0, le=3600, description="Fewest seconds between a member's check-ins.")]
AreaCap = Annotated[float, msgspec.Meta(gt=0, le=10_000, description="Largest geofence area (km², geodesic).")]
EligibilityWindow = Annotated[
    int, msgspec.Meta(ge=1, le=10_080, description="Minutes an offer stays claimable after a check-in fires it.")
]
RetentionDays = Annotated[int, msgspec.Meta(ge=1, le=3650, description="Days raw check-in coordinates are kept.")]
HeatmapMinMembers = Annotated[
    int,
    msgspec.Meta(
        ge=2, le=1000, description="k of the check-in heatmap: hexagons with fewer distinct members are left out."
    ),
]


class BrandOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    timezone: str
    tolerance_cap_m: float
    accuracy_limit_m: float
    speed_limit_kmh: float
    checkin_min_interval_s: int
    fence_area_cap_km2: float
    eligibility_window_min: int
    retention_days: int
    heatmap_min_members: int
    created_at: datetime
    updated_at: datetime


class BrandPatch(Patch):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    timezone: Timezone | msgspec.UnsetType = msgspec.UNSET
    tolerance_cap_m: ToleranceCap | msgspec.UnsetType = msgspec.UNSET
    accuracy_limit_m: AccuracyLimit | msgspec.UnsetType = msgspec.UNSET
    speed_limit_kmh: SpeedLimit | msgspec.UnsetType = msgspec.UNSET
    checkin_min_interval_s: MinInterval | msgspec.UnsetType = msgspec.UNSET
    fence_area_cap_km2: AreaCap | msgspec.UnsetType = msgspec.UNSET
    eligibility_window_min: EligibilityWindow | msgspec.UnsetType = msgspec.UNSET
    retention_days: RetentionDays | msgspec.UnsetType = msgspec.UNSET
    heatmap_min_members: HeatmapMinMembers | msgspec.UnsetType = msgspec.UNSET
