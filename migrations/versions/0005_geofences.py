"""Geofences: circles (center + radius, with a containing polygon) and polygons, indexed for matching and bbox.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "geofences",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("brand_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("store_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("geom", Geography("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("center", Geography("POINT", srid=4326, spatial_index=False), nullable=True),
        sa.Column("radius_m", sa.Float(), nullable=True),
        sa.Column("dwell_seconds", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("vertex_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('circle', 'polygon')", name="kind"),
        sa.CheckConstraint(
            "(kind = 'circle' AND center IS NOT NULL AND radius_m BETWEEN 10 AND 50000)"
            " OR (kind = 'polygon' AND center IS NULL AND radius_m IS NULL)",
            name="circle_fields",
        ),
        sa.CheckConstraint("dwell_seconds BETWEEN 0 AND 86400", name="dwell_seconds"),
        sa.ForeignKeyConstraint(
            ["brand_id", "store_id"],
            ["stores.brand_id", "stores.id"],
            name=op.f("fk_geofences_brand_id_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_geofences")),
    )
    op.create_index("ix_geofences_brand_geom", "geofences", ["brand_id", "geom"], postgresql_using="gist")
    op.create_index(
        "ix_geofences_brand_geom_planar",
        "geofences",
        ["brand_id", sa.text("(geom::geometry)")],
        postgresql_using="gist",
    )
    op.create_index("ix_geofences_brand_store", "geofences", ["brand_id", "store_id"])


def downgrade() -> None:
    op.drop_table("geofences")
