from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from solomo.db.base import Base, created_at, updated_at, uuid_pk


class Brand(Base):
    """A tenant. Its settings are columns (typed, constrained) rather than a JSON blob."""

    __tablename__ = "brands"
    __table_args__ = (
        CheckConstraint("tolerance_cap_m >= 0 AND tolerance_cap_m <= 1000", name="tolerance_cap_m"),
        CheckConstraint("accuracy_limit_m > 0 AND accuracy_limit_m <= 10000", name="accuracy_limit_m"),
        CheckConstraint("speed_limit_kmh > 0 AND speed_limit_kmh <= 5000", name="speed_limit_kmh"),
        CheckConstraint("checkin_min_interval_s >= 0 AND checkin_min_interval_s <= 3600", name="checkin_interval"),
        CheckConstraint("fence_area_cap_km2 > 0 AND fence_area_cap_km2 <= 10000", name="fence_area_cap_km2"),
        CheckConstraint("eligibility_window_min BETWEEN 1 AND 10080", name="eligibility_window_min"),
        CheckConstraint("retention_days BETWEEN 1 AND 3650", name="retention_days"),
        CheckConstraint("heatmap_min_members BETWEEN 2 AND 1000", name="heatmap_min_members"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str]
    timezone: Mapped[str] = mapped_column(server_default=text("'UTC'"))
    tolerance_cap_m: Mapped[float] = mapped_column(server_default=text("50"))
    accuracy_limit_m: Mapped[float] = mapped_column(server_default=text("200"))
    speed_limit_kmh: Mapped[float] = mapped_column(server_default=text("300"))
    checkin_min_interval_s: Mapped[int] = mapped_column(server_default=text("10"))
    fence_area_cap_km2: Mapped[float] = mapped_column(server_default=text("25"))
    eligibility_window_min: Mapped[int] = mapped_column(server_default=text("60"))
    retention_days: Mapped[int] = mapped_column(server_default=text("90"))
    #: k of the check-in heatmap's k-anonymity: cells with fewer distinct members are left out.
    heatmap_min_members: Mapped[int] = mapped_column(server_default=text("5"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
