"""Brands: the tenants, with their settings as constrained columns.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Needs a superuser the first time; a no-op where the DBA already created it.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "brands",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column("tolerance_cap_m", sa.Float(), server_default=sa.text("50"), nullable=False),
        sa.Column("accuracy_limit_m", sa.Float(), server_default=sa.text("200"), nullable=False),
        sa.Column("speed_limit_kmh", sa.Float(), server_default=sa.text("300"), nullable=False),
        sa.Column("checkin_min_interval_s", sa.Integer(), server_default=sa.text("10"), nullable=False),
        sa.Column("fence_area_cap_km2", sa.Float(), server_default=sa.text("25"), nullable=False),
        sa.Column("eligibility_window_min", sa.Integer(), server_default=sa.text("60"), nullable=False),
        sa.Column("retention_days", sa.Integer(), server_default=sa.text("90"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("tolerance_cap_m >= 0 AND tolerance_cap_m <= 1000", name="tolerance_cap_m"),
        sa.CheckConstraint("accuracy_limit_m > 0 AND accuracy_limit_m <= 10000", name="accuracy_limit_m"),
        sa.CheckConstraint("speed_limit_kmh > 0 AND speed_limit_kmh <= 5000", name="speed_limit_kmh"),
        sa.CheckConstraint("checkin_min_interval_s >= 0 AND checkin_min_interval_s <= 3600", name="checkin_interval"),
        sa.CheckConstraint("fence_area_cap_km2 > 0 AND fence_area_cap_km2 <= 10000", name="fence_area_cap_km2"),
        sa.CheckConstraint("eligibility_window_min BETWEEN 1 AND 10080", name="eligibility_window_min"),
        sa.CheckConstraint("retention_days BETWEEN 1 AND 3650", name="retention_days"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
    )


def downgrade() -> None:
    op.drop_table("brands")
