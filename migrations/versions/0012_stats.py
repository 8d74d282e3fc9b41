"""Marketer stats: an event journal written by every hot path, folded into daily/weekly/monthly rollups.

Events (check-ins, impressions, claims, redemptions, voids, shares, first visits) are appended to
``stats_pending`` in the transaction that makes them; nothing on the hot path updates a shared counter row,
which would serialise every claim of a brand behind one row lock until COMMIT. ``solomo_stats_fold`` turns
the journal into rollups: per brand-local day, ISO week and calendar month ("grain"), per store (or the
whole brand) and per offer (or all offers), and the same again per local hour of the day. Unique members
are HyperLogLog sketches (the ``hll`` extension), so they union across rows; claim-to-redemption times are
kept as fixed histogram buckets, so medians and p90s can be read from sums.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HERE = Path(__file__).parent

#: Upper bounds (seconds) of the claim-to-redemption buckets w00..w14; w15 holds everything longer.
WAIT_BOUNDS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200, 604800, 1209600, 2592000, 7776000)

_COUNTERS = ",\n".join(
    [
        f"        {name} bigint NOT NULL DEFAULT 0"
        for name in (
            "checkins",
            "checkins_flagged",
            "new_members",
            "impressions",
            "claims",
            "referred_claims",
            "redemptions",
            "referred_redemptions",
            "voids",
        )
    ]
    + [
        "        order_amount numeric NOT NULL DEFAULT 0",
        "        members hll NOT NULL",
    ]
    + [f"        w{i:02d} bigint NOT NULL DEFAULT 0" for i in range(len(WAIT_BOUNDS) + 1)]
)

# One statement per op.execute: asyncpg prepares each, and a prepared statement holds one command.
_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS hll",
    # Which store an impression was shown for (the check-in's store, or the nearest store in a nearby
    # answer), so store rows can have a claim rate.
    "ALTER TABLE offer_impressions ADD COLUMN store_id uuid",
    # A flagged check-in records no matches (it is not a visit), but a store manager still wants to see the
    # flagged check-ins at the store: the stores whose fences it fell in are kept on the row.
    "ALTER TABLE checkins ADD COLUMN flagged_store_ids uuid[]",
    "ALTER TABLE brands ADD COLUMN heatmap_min_members integer NOT NULL DEFAULT 5",
    "ALTER TABLE brands ADD CONSTRAINT ck_brands_heatmap_min_members CHECK (heatmap_min_members BETWEEN 2 AND 1000)",
    # The earliest verified check-in of each member at the brand (store_key all zeros) and at each store:
    # what "new members" counts, kept exact when check-ins arrive out of order.
    """
    CREATE TABLE member_firsts (
        brand_id uuid NOT NULL,
        member_id uuid NOT NULL,
        store_key uuid NOT NULL,
        first_at timestamptz NOT NULL,
        CONSTRAINT pk_member_firsts PRIMARY KEY (member_id, store_key),
        CONSTRAINT fk_member_firsts_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
            REFERENCES members (brand_id, id) ON DELETE CASCADE
    )
    """,
    # The journal. No keys and no foreign keys: it is append-only on the hot path and emptied by the fold.
    """
    CREATE TABLE stats_pending (
        brand_id uuid NOT NULL,
        kind text NOT NULL,
        n integer NOT NULL,
        at timestamptz NOT NULL,
        in_brand boolean NOT NULL,
        store_ids uuid[] NOT NULL,
        offer_id uuid,
        member_id uuid NOT NULL,
        referrer_id uuid,
        amount numeric,
        wait_s integer,
        CONSTRAINT ck_stats_pending_kind
            CHECK (kind IN ('checkin', 'flagged', 'first', 'impression', 'claim', 'redeem', 'void', 'share'))
    )
    """,
    "CREATE INDEX ix_stats_pending_brand_id ON stats_pending (brand_id)",
    f"""
    CREATE TABLE stats_rollup (
        brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
        store_key uuid NOT NULL,
        offer_key uuid NOT NULL,
        grain char(1) NOT NULL,
        period date NOT NULL,
{_COUNTERS},
        CONSTRAINT pk_stats_rollup PRIMARY KEY (brand_id, store_key, offer_key, grain, period),
        CONSTRAINT ck_stats_rollup_grain CHECK (grain IN ('d', 'w', 'm'))
    )
    """,
    f"""
    CREATE TABLE stats_hourly (
        brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
        store_key uuid NOT NULL,
        offer_key uuid NOT NULL,
        grain char(1) NOT NULL,
        period date NOT NULL,
        hour smallint NOT NULL,
{_COUNTERS},
        CONSTRAINT pk_stats_hourly PRIMARY KEY (brand_id, store_key, offer_key, grain, period, hour),
        CONSTRAINT ck_stats_hourly_grain CHECK (grain IN ('d', 'w', 'm')),
        CONSTRAINT ck_stats_hourly_hour CHECK (hour BETWEEN 0 AND 23)
    )
    """,
    """
    CREATE TABLE stats_referrers (
        brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
        offer_key uuid NOT NULL,
        grain char(1) NOT NULL,
        period date NOT NULL,
        referrer_id uuid NOT NULL,
        shares bigint NOT NULL DEFAULT 0,
        claims bigint NOT NULL DEFAULT 0,
        redemptions bigint NOT NULL DEFAULT 0,
        order_amount numeric NOT NULL DEFAULT 0,
        CONSTRAINT pk_stats_referrers PRIMARY KEY (brand_id, offer_key, grain, period, referrer_id),
        CONSTRAINT ck_stats_referrers_grain CHECK (grain IN ('d', 'w', 'm'))
    )
    """,
    # The heatmap reads verified check-ins by box and time; purged rows keep only their coarse point.
    """
    CREATE INDEX ix_checkins_heatmap ON checkins
        USING gist (brand_id, (CAST(coalesce(location, coarse_location) AS geometry)), recorded_at)
        WHERE flags = '{}'
    """,
]

_FUNCTIONS = ("0012_stats_fold.sql", "0012_stats_raw_events.sql", "0012_record_check_in.sql")
_HOT_PATHS = ("0012_claim_offer.sql", "0012_redeem_coupon.sql")


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)
    for name in _FUNCTIONS + _HOT_PATHS:
        op.execute((HERE / name).read_text())


def downgrade() -> None:
    op.execute((HERE / "0011_record_check_in.sql").read_text())
    op.execute((HERE / "0010_claim_offer.sql").read_text())
    op.execute((HERE / "0010_redeem_coupon.sql").read_text())
    op.execute("DROP FUNCTION solomo_stats_raw_events(uuid)")
    op.execute("DROP FUNCTION solomo_stats_fold(uuid, boolean)")
    op.execute("DROP INDEX ix_checkins_heatmap")
    op.execute("DROP TABLE stats_referrers")
    op.execute("DROP TABLE stats_hourly")
    op.execute("DROP TABLE stats_rollup")
    op.execute("DROP TABLE stats_pending")
    op.execute("DROP TABLE member_firsts")
    op.execute("ALTER TABLE brands DROP COLUMN heatmap_min_members")
    op.execute("ALTER TABLE checkins DROP COLUMN flagged_store_ids")
    op.execute("ALTER TABLE offer_impressions DROP COLUMN store_id")
    op.execute("DROP EXTENSION hll")
