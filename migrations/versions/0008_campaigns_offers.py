"""Campaigns and offers: where, who, when, trigger, the coupon's terms and the limits.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UUID = postgresql.UUID(as_uuid=True)
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", _UUID, server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("brand_id", _UUID, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("status", sa.String(), server_default=sa.text("'draft'"), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('draft', 'active', 'paused', 'ended')", name="status"),
        sa.CheckConstraint("ends_at > starts_at", name="window"),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_campaigns_brand_id_brands"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("brand_id", "id", name=op.f("uq_campaigns_brand_id_id")),
    )
    op.create_index("ix_campaigns_brand_created", "campaigns", ["brand_id", "created_at", "id"])
    op.create_table(
        "offers",
        sa.Column("id", _UUID, server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("brand_id", _UUID, nullable=False),
        sa.Column("campaign_id", _UUID, nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("image_url", sa.String(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("store_ids", postgresql.ARRAY(_UUID), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("geofence_ids", postgresql.ARRAY(_UUID), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("audience_tags", postgresql.ARRAY(sa.String()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("audience_tiers", postgresql.ARRAY(sa.String()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("audience_provider", sa.String(), nullable=True),
        sa.Column("min_followers", sa.Integer(), nullable=True),
        sa.Column("joined_within_days", sa.Integer(), nullable=True),
        sa.Column("weekly_hours", postgresql.JSONB(none_as_null=True), nullable=True),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("coupon_kind", sa.String(), nullable=False),
        sa.Column("percent_off", sa.Numeric(5, 2), nullable=True),
        sa.Column("amount_off", sa.Numeric(12, 2), nullable=True),
        sa.Column("currency", sa.String(), nullable=True),
        sa.Column("free_item", sa.String(), nullable=True),
        sa.Column("validity_minutes", sa.Integer(), nullable=False),
        sa.Column("redeemable_at", sa.String(), nullable=False),
        sa.Column("requires_visit", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("total_limit", sa.Integer(), nullable=True),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("per_member_daily_limit", sa.Integer(), nullable=True),
        sa.Column("shareable", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("target IN ('all_stores', 'stores', 'geofences')", name="target"),
        sa.CheckConstraint("trigger IN ('enter', 'dwell')", name="trigger"),
        sa.CheckConstraint("coupon_kind IN ('percent', 'amount', 'free_item')", name="coupon_kind"),
        sa.CheckConstraint("redeemable_at IN ('any_store', 'targeted_stores')", name="redeemable_at"),
        sa.CheckConstraint(
            "(coupon_kind = 'percent' AND percent_off > 0 AND percent_off <= 100)"
            " OR (coupon_kind = 'amount' AND amount_off > 0 AND currency IS NOT NULL)"
            " OR (coupon_kind = 'free_item' AND free_item IS NOT NULL)",
            name="coupon_terms",
        ),
        sa.CheckConstraint("validity_minutes > 0", name="validity_minutes"),
        sa.CheckConstraint("weekly_hours IS NULL OR jsonb_typeof(weekly_hours) = 'array'", name="weekly_hours"),
        sa.CheckConstraint(
            "coalesce(total_limit, 1) > 0 AND coalesce(per_member_limit, 1) > 0"
            " AND coalesce(per_member_daily_limit, 1) > 0",
            name="limits",
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_offers_brand_id_brands"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["brand_id", "campaign_id"],
            ["campaigns.brand_id", "campaigns.id"],
            name=op.f("fk_offers_brand_id_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("brand_id", "id", name=op.f("uq_offers_brand_id_id")),
    )
    op.create_index("ix_offers_brand_campaign", "offers", ["brand_id", "campaign_id"])
    op.create_index("ix_offers_brand_created", "offers", ["brand_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_table("offers")
    op.drop_table("campaigns")
