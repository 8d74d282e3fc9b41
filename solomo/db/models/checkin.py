from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import Geography, WKBElement
from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, LargeBinary, PrimaryKeyConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Text

from solomo.db.base import Base


class Checkin(Base):
    """A check-in as received; partitioned by month of ``recorded_at`` (hence the composite key).

    Written only by the SQL function ``solomo_record_check_in`` (``solomo/checkins/sql/record_check_in.sql``);
    ``location`` is nulled (``coarse_location`` kept) once the brand's retention days have passed.
    """

    __tablename__ = "checkins"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id", "recorded_at"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
        CheckConstraint("accuracy_m > 0", name="accuracy_m"),
        Index("ix_checkins_member_recorded", "brand_id", "member_id", text("recorded_at DESC")),
        Index("ix_checkins_member_received", "brand_id", "member_id", text("received_at DESC")),
        Index("ix_checkins_unpurged", "brand_id", "recorded_at", postgresql_where=text("location IS NOT NULL")),
        Index(
            "ix_checkins_heatmap",
            "brand_id",
            text("CAST(coalesce(location, coarse_location) AS geometry)"),
            "recorded_at",
            postgresql_using="gist",
            postgresql_where=text("flags = '{}'"),
        ),
        {"postgresql_partition_by": "RANGE (recorded_at)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(server_default=text("gen_random_uuid()"))
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID]
    recorded_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    location: Mapped[WKBElement | None] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    coarse_location: Mapped[WKBElement | None] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    accuracy_m: Mapped[float]
    mocked: Mapped[bool] = mapped_column(server_default=text("false"))
    source: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    #: The stores whose fences a flagged check-in fell in (a flagged check-in records no matches).
    flagged_store_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))


class CheckinMatch(Base):
    """A fence a check-in matched (event enter/dwell, or none while staying inside), or left (exit)."""

    __tablename__ = "checkin_matches"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "checkin_id", "fence_id"),
        CheckConstraint("event IN ('enter', 'dwell', 'exit')", name="event"),
        Index("ix_checkin_matches_visits", "brand_id", "member_id", "store_id", text("recorded_at DESC")),
    )

    checkin_id: Mapped[uuid.UUID]
    recorded_at: Mapped[datetime]
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID]
    fence_id: Mapped[uuid.UUID]
    store_id: Mapped[uuid.UUID]
    event: Mapped[str | None] = mapped_column(Text)


class FenceState(Base):
    """Whether a member is inside a fence, since when, and whether dwell fired; moves forward in recorded_at."""

    __tablename__ = "fence_states"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "member_id", "fence_id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["brand_id", "fence_id"], ["geofences.brand_id", "geofences.id"], ondelete="CASCADE"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID]
    fence_id: Mapped[uuid.UUID]
    inside: Mapped[bool]
    entered_at: Mapped[datetime | None]
    dwell_fired: Mapped[bool] = mapped_column(server_default=text("false"))
    last_recorded_at: Mapped[datetime]


class IdempotencyKey(Base):
    """The first answer to a POST sent with an Idempotency-Key, replayed for 24 hours."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "caller", "method", "key"),
        Index("ix_idempotency_keys_created", "created_at"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    caller: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    body_hash: Mapped[bytes] = mapped_column(LargeBinary)
    status_code: Mapped[int]
    response: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
