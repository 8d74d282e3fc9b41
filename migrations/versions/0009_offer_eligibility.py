"""Offer eligibility and impressions, the audience and weekly-hours predicates, and the check-in function
that now answers with the offers a check-in makes claimable.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HERE = Path(__file__).parent


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE offer_eligibility (
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            member_id uuid NOT NULL,
            offer_id uuid NOT NULL,
            store_id uuid NOT NULL,
            checkin_id uuid NOT NULL,
            granted_at timestamptz NOT NULL,
            eligible_until timestamptz NOT NULL,
            CONSTRAINT pk_offer_eligibility PRIMARY KEY (member_id, offer_id),
            CONSTRAINT fk_offer_eligibility_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
                REFERENCES members (brand_id, id) ON DELETE CASCADE,
            CONSTRAINT fk_offer_eligibility_brand_id_offer_id_offers FOREIGN KEY (brand_id, offer_id)
                REFERENCES offers (brand_id, id) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        """
        CREATE TABLE offer_impressions (
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            member_id uuid NOT NULL,
            offer_id uuid NOT NULL,
            day date NOT NULL,
            source text NOT NULL,
            shown_at timestamptz NOT NULL,
            CONSTRAINT pk_offer_impressions PRIMARY KEY (member_id, offer_id, day),
            CONSTRAINT fk_offer_impressions_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
                REFERENCES members (brand_id, id) ON DELETE CASCADE,
            CONSTRAINT fk_offer_impressions_brand_id_offer_id_offers FOREIGN KEY (brand_id, offer_id)
                REFERENCES offers (brand_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_offer_impressions_source CHECK (source IN ('checkin', 'nearby'))
        )
        """
    )
    op.execute("CREATE INDEX ix_offer_impressions_brand_day ON offer_impressions (brand_id, day, offer_id)")
    # One statement per file: asyncpg prepares each op.execute, and a prepared statement holds one command.
    op.execute((HERE / "0009_in_weekly_hours.sql").read_text())
    op.execute((HERE / "0009_offer_admits.sql").read_text())
    op.execute((HERE / "0009_record_check_in.sql").read_text())


def downgrade() -> None:
    op.execute((HERE / "0007_record_check_in.sql").read_text())
    op.execute(
        "DROP FUNCTION solomo_offer_admits(text[], text[], text, integer, integer, jsonb, uuid, uuid, text[], text,"
        " timestamptz, boolean, timestamptz, text)"
    )
    op.execute("DROP FUNCTION solomo_in_weekly_hours(jsonb, timestamp)")
    op.execute("DROP TABLE offer_impressions")
    op.execute("DROP TABLE offer_eligibility")
