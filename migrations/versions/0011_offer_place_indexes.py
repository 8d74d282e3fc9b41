"""Offers found by place through indexes, and the check-in function (version 3) that uses them.

With 1,000 active offers the check-in spent its database time testing every offer's store and fence
arrays against every fired event; these partial indexes let each event look up only its own offers.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HERE = Path(__file__).parent


def upgrade() -> None:
    op.execute("CREATE INDEX ix_offers_all_stores ON offers (brand_id, trigger) WHERE active AND target = 'all_stores'")
    op.execute("CREATE INDEX ix_offers_store_ids ON offers USING gin (store_ids) WHERE active AND target = 'stores'")
    op.execute(
        "CREATE INDEX ix_offers_geofence_ids ON offers USING gin (geofence_ids) WHERE active AND target = 'geofences'"
    )
    op.execute((HERE / "0011_record_check_in.sql").read_text())


def downgrade() -> None:
    op.execute((HERE / "0009_record_check_in.sql").read_text())
    op.execute("DROP INDEX ix_offers_geofence_ids")
    op.execute("DROP INDEX ix_offers_store_ids")
    op.execute("DROP INDEX ix_offers_all_stores")
