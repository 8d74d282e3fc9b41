from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, Numeric, PrimaryKeyConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import String, Text

from solomo.db.base import Base, brand_keyed_id, created_at, updated_at


class Campaign(Base):
    """A marketing campaign: a window and a channel; only active campaigns inside their window serve offers."""

    __tablename__ = "campaigns"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        CheckConstraint("status IN ('draft', 'active', 'paused', 'ended')", name="status"),
        CheckConstraint("ends_at > starts_at", name="window"),
        Index("ix_campaigns_brand_created", "brand_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str]
    channel: Mapped[str]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(server_default=text("'draft'"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Offer(Base):
    """What a campaign offers: where, to whom, when, on which trigger, the coupon it issues, and its limits."""

    __tablename__ = "offers"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        ForeignKeyConstraint(["brand_id", "campaign_id"], ["campaigns.brand_id", "campaigns.id"], ondelete="CASCADE"),
        CheckConstraint("target IN ('all_stores', 'stores', 'geofences')", name="target"),
        CheckConstraint("trigger IN ('enter', 'dwell')", name="trigger"),
        CheckConstraint("coupon_kind IN ('percent', 'amount', 'free_item')", name="coupon_kind"),
        CheckConstraint("redeemable_at IN ('any_store', 'targeted_stores')", name="redeemable_at"),
        CheckConstraint(
            "(coupon_kind = 'percent' AND percent_off > 0 AND percent_off <= 100)"
            " OR (coupon_kind = 'amount' AND amount_off > 0 AND currency IS NOT NULL)"
            " OR (coupon_kind = 'free_item' AND free_item IS NOT NULL)",
            name="coupon_terms",
        ),
        CheckConstraint("validity_minutes > 0", name="validity_minutes"),
        CheckConstraint("grants IN ('daily', 'every_visit')", name="grants"),
        CheckConstraint("weekly_hours IS NULL OR jsonb_typeof(weekly_hours) = 'array'", name="weekly_hours"),
        CheckConstraint(
            "coalesce(total_limit, 1) > 0 AND coalesce(per_member_limit, 1) > 0"
            " AND coalesce(per_member_daily_limit, 1) > 0",
            name="limits",
        ),
        Index("ix_offers_brand_campaign", "brand_id", "campaign_id"),
        Index("ix_offers_brand_created", "brand_id", "created_at", "id"),
        # How a check-in finds the offers of a fired event (``solomo/checkins/sql/record_check_in.sql``).
        Index("ix_offers_all_stores", "brand_id", "trigger", postgresql_where=text("active AND target = 'all_stores'")),
        Index(
            "ix_offers_store_ids",
            "store_ids",
            postgresql_using="gin",
            postgresql_where=text("active AND target = 'stores'"),
        ),
        Index(
            "ix_offers_geofence_ids",
            "geofence_ids",
            postgresql_using="gin",
            postgresql_where=text("active AND target = 'geofences'"),
        ),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID]
    title: Mapped[str]
    description: Mapped[str | None]
    image_url: Mapped[str | None]
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    # where
    target: Mapped[str]
    store_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(PG_UUID(as_uuid=True)), server_default=text("'{}'"))
    geofence_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(PG_UUID(as_uuid=True)), server_default=text("'{}'"))
    # who (marketing consent is always required and not stored as a choice)
    audience_tags: Mapped[list[str]] = mapped_column(ARRAY(String), server_default=text("'{}'"))
    audience_tiers: Mapped[list[str]] = mapped_column(ARRAY(String), server_default=text("'{}'"))
    audience_provider: Mapped[str | None]
    min_followers: Mapped[int | None]
    joined_within_days: Mapped[int | None]
    # when: weekly hours in each store's own time zone; null means whenever the campaign runs
    # none_as_null: "always" must be SQL NULL, not the JSON value null, for `weekly_hours IS NULL` to mean it.
    weekly_hours: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB(none_as_null=True))
    trigger: Mapped[str]
    # the coupon, copied onto each coupon at claim
    coupon_kind: Mapped[str]
    percent_off: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    amount_off: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str | None]
    free_item: Mapped[str | None]
    validity_minutes: Mapped[int]
    redeemable_at: Mapped[str]
    requires_visit: Mapped[bool] = mapped_column(server_default=text("false"))
    # limits
    total_limit: Mapped[int | None]
    per_member_limit: Mapped[int | None]
    per_member_daily_limit: Mapped[int | None]
    #: How often check-ins grant the offer to one member: once per brand-local day, or on every visit.
    grants: Mapped[str] = mapped_column(Text, server_default=text("'daily'"))
    shareable: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
