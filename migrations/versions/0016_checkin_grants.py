"""Back-dated check-ins and repeated grants: a late fix is measured against the fixes on both sides of it, and
an offer is granted once per member and brand-local day (or on every visit, when the offer says so), each grant
claimable once.

- ``offers.grants``: ``daily`` (the default, and what every existing offer becomes) or ``every_visit``.
- ``offer_eligibility.grant_day``: the brand-local day a daily grant counts for (null for every-visit grants);
  ``offer_eligibility.claimed_at``: when the grant was spent on a coupon. Existing grants get the day of their
  check-in, and are marked spent when a coupon was claimed from that check-in.
- ``solomo_record_check_in`` (``0016_record_check_in.sql``) and ``solomo_claim_offer``
  (``0016_claim_offer.sql``) carry the rules; their headers say what exactly they are.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HERE = Path(__file__).parent

# One statement per op.execute: asyncpg prepares each, and a prepared statement holds one command.
_UPGRADE = [
    "ALTER TABLE offers ADD COLUMN grants text NOT NULL DEFAULT 'daily'",
    "ALTER TABLE offers ADD CONSTRAINT ck_offers_grants CHECK (grants IN ('daily', 'every_visit'))",
    "ALTER TABLE offer_eligibility ADD COLUMN grant_day date",
    "ALTER TABLE offer_eligibility ADD COLUMN claimed_at timestamptz",
    """
    UPDATE offer_eligibility e
       SET grant_day = (e.granted_at AT TIME ZONE b.timezone)::date
      FROM brands b
     WHERE b.id = e.brand_id
    """,
    # A claim copies the grant's check-in onto the coupon: that is how a spent grant is recognised.
    """
    UPDATE offer_eligibility e
       SET claimed_at = c.claimed_at
      FROM coupons c
     WHERE c.brand_id = e.brand_id AND c.member_id = e.member_id AND c.offer_id = e.offer_id
       AND c.checkin_id = e.checkin_id
    """,
]


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)
    op.execute((HERE / "0016_record_check_in.sql").read_text())
    op.execute((HERE / "0016_claim_offer.sql").read_text())


def downgrade() -> None:
    op.execute((HERE / "0012_claim_offer.sql").read_text())
    op.execute((HERE / "0012_record_check_in.sql").read_text())
    op.execute("ALTER TABLE offer_eligibility DROP COLUMN claimed_at")
    op.execute("ALTER TABLE offer_eligibility DROP COLUMN grant_day")
    op.execute("ALTER TABLE offers DROP CONSTRAINT ck_offers_grants")
    op.execute("ALTER TABLE offers DROP COLUMN grants")
