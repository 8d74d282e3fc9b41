"""Baseline: the whole schema from empty (tables, indexes, partitions, extensions) and the SQL functions.

The history before it (revisions 0001-0016) was squashed into this one revision before the first release; a
local database still at one of those revisions is recreated by `./dev` (see ``solomo/db/cluster.py``).

The functions are installed from this revision's own folder, ``0001_baseline/``: frozen copies of the living
files (``solomo/<domain>/sql/*.sql``) as they were at the baseline, so that editing a living file never rewrites
this revision. A later change to a function is a new revision carrying a copy of that version's text
(``solomo.db.functions.write_copies``); ``tests/test_living_sql.py`` checks that what ``upgrade head`` installs
is what the living files say. Revisions never import each other.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The function texts this revision installs, in the order they install (file names sort in that order).
FUNCTIONS = sorted((Path(__file__).parent / "0001_baseline").glob("*.sql"))
#: What downgrade drops, in reverse order of creation (functions first: they name the tables).
TABLES = (
    "request_budgets", "stats_referrers", "stats_hourly", "stats_rollup", "stats_pending", "member_firsts",
    "code_failures", "coupon_audit", "redemptions", "coupons", "offer_shares", "member_offer_claims",
    "offer_capacity", "offer_impressions", "offer_eligibility", "offers", "campaigns", "idempotency_keys",
    "fence_states", "checkin_matches", "checkins", "member_consent_events", "member_social_accounts", "geofences",
    "stores", "members", "api_keys", "brands",
)  # fmt: skip

PROVIDERS = ("wechat", "weibo", "douyin", "qq", "xiaohongshu", "x", "instagram", "facebook", "tiktok")
#: The figures the KOL board walks sharers by, one partial index over the four-month windows each.
WINDOW_FIGURES = ("claims", "redemptions", "order_amount")
_UUID = postgresql.UUID(as_uuid=True)
_TS = sa.DateTime(timezone=True)

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

_STATS = [
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
        -- r: a sharer's four months ending with period, the bound the KOL board ranks sharers by.
        CONSTRAINT ck_stats_referrers_grain CHECK (grain IN ('d', 'w', 'm', 'r'))
    )
    """,
    # The heatmap reads verified check-ins by box and time; purged rows keep only their coarse point.
    """
    CREATE INDEX ix_checkins_heatmap ON checkins
        USING gist (brand_id, (CAST(coalesce(location, coarse_location) AS geometry)), recorded_at)
        WHERE flags = '{}'
    """,
]

# One statement per op.execute: asyncpg prepares each, and a prepared statement holds one command.
_COUPONS = [
    # An offer's total is split across 64 slot rows so concurrent claims lock different rows (one hot
    # counter row serialises every claim of a popular offer). Every claim takes one unit from one slot, so
    # sum(used) is the exact number of coupons issued; cap NULL means no total limit. The CHECK is the
    # database's own guard against over-issuance.
    """
    CREATE TABLE offer_capacity (
        brand_id uuid NOT NULL,
        offer_id uuid NOT NULL,
        slot smallint NOT NULL,
        cap integer,
        used integer NOT NULL DEFAULT 0,
        CONSTRAINT pk_offer_capacity PRIMARY KEY (offer_id, slot),
        CONSTRAINT fk_offer_capacity_brand_id_offer_id_offers FOREIGN KEY (brand_id, offer_id)
            REFERENCES offers (brand_id, id) ON DELETE CASCADE,
        CONSTRAINT ck_offer_capacity_within_cap CHECK (used >= 0 AND (cap IS NULL OR used <= cap))
    ) WITH (fillfactor = 50)
    """,
    # An offer's slots are made by the offers service when it creates the offer.
    # One row per member and offer: claims so far, and claims on the latest brand-local day. The conditional
    # upsert on this row is what makes the per-member and per-day limits exact.
    """
    CREATE TABLE member_offer_claims (
        brand_id uuid NOT NULL,
        member_id uuid NOT NULL,
        offer_id uuid NOT NULL,
        claimed integer NOT NULL,
        day date NOT NULL,
        day_claimed integer NOT NULL,
        CONSTRAINT pk_member_offer_claims PRIMARY KEY (member_id, offer_id),
        CONSTRAINT fk_member_offer_claims_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
            REFERENCES members (brand_id, id) ON DELETE CASCADE,
        CONSTRAINT fk_member_offer_claims_brand_id_offer_id_offers FOREIGN KEY (brand_id, offer_id)
            REFERENCES offers (brand_id, id) ON DELETE CASCADE
    )
    """,
    """
    CREATE TABLE offer_shares (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        brand_id uuid NOT NULL,
        offer_id uuid NOT NULL,
        member_id uuid NOT NULL,
        code text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        CONSTRAINT pk_offer_shares PRIMARY KEY (id),
        CONSTRAINT uq_offer_shares_code UNIQUE (code),
        CONSTRAINT uq_offer_shares_brand_id_id UNIQUE (brand_id, id),
        CONSTRAINT fk_offer_shares_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
            REFERENCES members (brand_id, id) ON DELETE CASCADE,
        CONSTRAINT fk_offer_shares_brand_id_offer_id_offers FOREIGN KEY (brand_id, offer_id)
            REFERENCES offers (brand_id, id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_offer_shares_member ON offer_shares (brand_id, member_id, offer_id)",
    # A coupon carries a copy of its offer's terms as they were at claim: later edits never reach it.
    """
    CREATE TABLE coupons (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        brand_id uuid NOT NULL,
        offer_id uuid NOT NULL,
        member_id uuid NOT NULL,
        code text NOT NULL,
        title text NOT NULL,
        coupon_kind text NOT NULL,
        percent_off numeric(5, 2),
        amount_off numeric(12, 2),
        currency text,
        free_item text,
        redeemable_at text NOT NULL,
        redeemable_store_ids uuid[],
        requires_visit boolean NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        claim_day date NOT NULL,
        expires_at timestamptz NOT NULL,
        store_id uuid,
        checkin_id uuid,
        share_id uuid,
        referrer_id uuid,
        cancelled_at timestamptz,
        CONSTRAINT pk_coupons PRIMARY KEY (id),
        CONSTRAINT uq_coupons_code UNIQUE (code),
        CONSTRAINT uq_coupons_brand_id_id UNIQUE (brand_id, id),
        CONSTRAINT fk_coupons_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
            REFERENCES members (brand_id, id) ON DELETE CASCADE,
        CONSTRAINT fk_coupons_brand_id_offer_id_offers FOREIGN KEY (brand_id, offer_id)
            REFERENCES offers (brand_id, id) ON DELETE CASCADE,
        CONSTRAINT fk_coupons_brand_id_share_id_offer_shares FOREIGN KEY (brand_id, share_id)
            REFERENCES offer_shares (brand_id, id),
        CONSTRAINT ck_coupons_coupon_kind CHECK (coupon_kind IN ('percent', 'amount', 'free_item')),
        CONSTRAINT ck_coupons_redeemable_at CHECK (redeemable_at IN ('any_store', 'targeted_stores')),
        CONSTRAINT ck_coupons_expiry CHECK (expires_at > claimed_at)
    )
    """,
    "CREATE INDEX ix_coupons_member ON coupons (brand_id, member_id, claimed_at DESC, id DESC)",
    "CREATE INDEX ix_coupons_offer ON coupons (brand_id, offer_id, claimed_at)",
    "CREATE INDEX ix_coupons_referrer ON coupons (brand_id, referrer_id) WHERE referrer_id IS NOT NULL",
    """
    CREATE TABLE redemptions (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        brand_id uuid NOT NULL,
        coupon_id uuid NOT NULL,
        store_id uuid NOT NULL,
        key_id uuid NOT NULL,
        redeemed_at timestamptz NOT NULL DEFAULT now(),
        order_amount numeric(14, 2),
        voided_at timestamptz,
        voided_by_key_id uuid,
        void_reason text,
        CONSTRAINT pk_redemptions PRIMARY KEY (id),
        CONSTRAINT uq_redemptions_brand_id_id UNIQUE (brand_id, id),
        CONSTRAINT fk_redemptions_brand_id_coupon_id_coupons FOREIGN KEY (brand_id, coupon_id)
            REFERENCES coupons (brand_id, id) ON DELETE CASCADE,
        -- No cascade: a store with redemptions is archived, never deleted.
        CONSTRAINT fk_redemptions_brand_id_store_id_stores FOREIGN KEY (brand_id, store_id)
            REFERENCES stores (brand_id, id),
        CONSTRAINT ck_redemptions_order_amount CHECK (order_amount IS NULL OR order_amount >= 0),
        CONSTRAINT ck_redemptions_void CHECK ((voided_at IS NULL) = (voided_by_key_id IS NULL))
    )
    """,
    # The database's guarantee that a coupon is redeemed once, however many tills scan it at once.
    "CREATE UNIQUE INDEX uq_redemptions_live ON redemptions (coupon_id) WHERE voided_at IS NULL",
    "CREATE INDEX ix_redemptions_store ON redemptions (brand_id, store_id, redeemed_at)",
    "CREATE INDEX ix_redemptions_coupon ON redemptions (coupon_id, redeemed_at)",
    # Append-only: who (which key, which role), what, when and where, for every redemption and void.
    """
    CREATE TABLE coupon_audit (
        id bigint GENERATED ALWAYS AS IDENTITY,
        brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
        coupon_id uuid NOT NULL,
        redemption_id uuid NOT NULL,
        action text NOT NULL,
        store_id uuid NOT NULL,
        key_id uuid NOT NULL,
        role text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        detail jsonb,
        CONSTRAINT pk_coupon_audit PRIMARY KEY (id),
        CONSTRAINT ck_coupon_audit_action CHECK (action IN ('redeem', 'void'))
    )
    """,
    "CREATE INDEX ix_coupon_audit_coupon ON coupon_audit (brand_id, coupon_id, at)",
    # Failed code look-ups per caller, as a level that drains with time (a leaky bucket).
    """
    CREATE TABLE code_failures (
        brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
        caller text NOT NULL,
        level double precision NOT NULL,
        at timestamptz NOT NULL,
        CONSTRAINT pk_code_failures PRIMARY KEY (brand_id, caller)
    )
    """,
]


def upgrade() -> None:
    # postgis needs a superuser the first time (a no-op where the DBA already created it); btree_gist lets a GiST
    # index lead with brand_id (equality) before the spatial column; hll keeps unique members as sketches.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("CREATE EXTENSION IF NOT EXISTS hll")
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
        sa.Column("heatmap_min_members", sa.Integer(), server_default=sa.text("5"), nullable=False),
        sa.CheckConstraint("tolerance_cap_m >= 0 AND tolerance_cap_m <= 1000", name="tolerance_cap_m"),
        sa.CheckConstraint("accuracy_limit_m > 0 AND accuracy_limit_m <= 10000", name="accuracy_limit_m"),
        sa.CheckConstraint("speed_limit_kmh > 0 AND speed_limit_kmh <= 5000", name="speed_limit_kmh"),
        sa.CheckConstraint("checkin_min_interval_s >= 0 AND checkin_min_interval_s <= 3600", name="checkin_interval"),
        sa.CheckConstraint("fence_area_cap_km2 > 0 AND fence_area_cap_km2 <= 10000", name="fence_area_cap_km2"),
        sa.CheckConstraint("eligibility_window_min BETWEEN 1 AND 10080", name="eligibility_window_min"),
        sa.CheckConstraint("retention_days BETWEEN 1 AND 3650", name="retention_days"),
        sa.CheckConstraint("heatmap_min_members BETWEEN 2 AND 1000", name="heatmap_min_members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("brand_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column(
            "store_ids", postgresql.ARRAY(postgresql.UUID(as_uuid=True)), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'manager', 'marketer')", name="role"),
        sa.CheckConstraint("role = 'manager' OR cardinality(store_ids) = 0", name="store_scope_only_for_managers"),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_api_keys_brand_id_brands"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_index("ix_api_keys_brand_created", "api_keys", ["brand_id", "created_at", "id"])
    op.create_table(
        "members",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("brand_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("external_id", sa.String(), nullable=True),
        sa.Column("display_name", sa.String(), nullable=True),
        sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("tier", sa.String(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("consent_location", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consent_location_at", _TS, nullable=True),
        sa.Column("consent_marketing", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consent_marketing_at", _TS, nullable=True),
        sa.Column("referral_code", sa.String(), nullable=True),
        sa.Column("referred_by_id", _UUID, nullable=True),
        sa.Column("joined_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("merged_into_id", _UUID, nullable=True),
        sa.Column("erased_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_members_brand_id_brands"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("brand_id", "external_id", name=op.f("uq_members_brand_id_external_id")),
        sa.UniqueConstraint("brand_id", "id", name=op.f("uq_members_brand_id_id")),
    )
    op.create_foreign_key(
        op.f("fk_members_referred_by_id_members"), "members", "members", ["referred_by_id"], ["id"], ondelete="SET NULL"
    )
    op.create_foreign_key(
        op.f("fk_members_merged_into_id_members"), "members", "members", ["merged_into_id"], ["id"], ondelete="SET NULL"
    )
    op.create_unique_constraint(op.f("uq_members_brand_id_referral_code"), "members", ["brand_id", "referral_code"])
    op.create_check_constraint("not_self_referred", "members", "referred_by_id IS NULL OR referred_by_id <> id")
    op.create_index("ix_members_brand_joined", "members", ["brand_id", "joined_at", "id"])
    op.create_index("ix_members_brand_referred_by", "members", ["brand_id", "referred_by_id"])
    op.create_index("ix_members_tags", "members", ["tags"], postgresql_using="gin")

    op.create_table(
        "member_social_accounts",
        sa.Column("id", _UUID, server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("brand_id", _UUID, nullable=False),
        sa.Column("member_id", _UUID, nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("uid", sa.String(), nullable=False),
        sa.Column("union_id", sa.String(), nullable=True),
        sa.Column("handle", sa.String(), nullable=True),
        sa.Column("followers", sa.Integer(), nullable=True),
        sa.Column("linked_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"provider IN {PROVIDERS!r}", name="provider"),
        sa.CheckConstraint("followers IS NULL OR followers >= 0", name="followers"),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["members.brand_id", "members.id"],
            name=op.f("fk_member_social_accounts_brand_id_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_social_accounts")),
        sa.UniqueConstraint(
            "brand_id", "provider", "uid", name=op.f("uq_member_social_accounts_brand_id_provider_uid")
        ),
    )
    op.create_index("ix_member_social_accounts_member", "member_social_accounts", ["brand_id", "member_id"])

    op.create_table(
        "member_consent_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("brand_id", _UUID, nullable=False),
        sa.Column("member_id", _UUID, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("at", _TS, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('location', 'marketing')", name="kind"),
        sa.ForeignKeyConstraint(
            ["brand_id", "member_id"],
            ["members.brand_id", "members.id"],
            name=op.f("fk_member_consent_events_brand_id_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_consent_events")),
    )
    op.create_index("ix_member_consent_events_member", "member_consent_events", ["brand_id", "member_id", "at"])
    op.create_table(
        "stores",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("brand_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("location", Geography("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("external_ref", sa.String(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_stores_brand_id_brands"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
        sa.UniqueConstraint("brand_id", "external_ref", name=op.f("uq_stores_brand_id_external_ref")),
        sa.UniqueConstraint("brand_id", "id", name=op.f("uq_stores_brand_id_id")),
    )
    op.create_index("ix_stores_brand_location", "stores", ["brand_id", "location"], postgresql_using="gist")
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
    op.execute(
        """
        CREATE TABLE checkins (
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            member_id uuid NOT NULL,
            recorded_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            location geography(Point, 4326),
            coarse_location geography(Point, 4326),
            accuracy_m double precision NOT NULL,
            mocked boolean NOT NULL DEFAULT false,
            source text,
            flags text[] NOT NULL DEFAULT '{}',
            flagged_store_ids uuid[],
            CONSTRAINT pk_checkins PRIMARY KEY (id, recorded_at),
            CONSTRAINT fk_checkins_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
                REFERENCES members (brand_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_checkins_accuracy_m CHECK (accuracy_m > 0)
        ) PARTITION BY RANGE (recorded_at)
        """
    )
    # Rows outside every monthly partition land here; `solomo maintenance partitions` adds months ahead.
    op.execute("CREATE TABLE checkins_default PARTITION OF checkins DEFAULT")
    op.execute("CREATE INDEX ix_checkins_member_recorded ON checkins (brand_id, member_id, recorded_at DESC)")
    op.execute("CREATE INDEX ix_checkins_member_received ON checkins (brand_id, member_id, received_at DESC)")
    op.execute("CREATE INDEX ix_checkins_unpurged ON checkins (brand_id, recorded_at) WHERE location IS NOT NULL")
    op.execute(
        """
        CREATE TABLE checkin_matches (
            checkin_id uuid NOT NULL,
            recorded_at timestamptz NOT NULL,
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            member_id uuid NOT NULL,
            fence_id uuid NOT NULL,
            store_id uuid NOT NULL,
            event text,
            CONSTRAINT pk_checkin_matches PRIMARY KEY (checkin_id, fence_id),
            CONSTRAINT ck_checkin_matches_event CHECK (event IN ('enter', 'dwell', 'exit'))
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_checkin_matches_visits ON checkin_matches (brand_id, member_id, store_id, recorded_at DESC)"
    )
    op.execute(
        """
        CREATE TABLE fence_states (
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            member_id uuid NOT NULL,
            fence_id uuid NOT NULL REFERENCES geofences (id) ON DELETE CASCADE,
            inside boolean NOT NULL,
            entered_at timestamptz,
            dwell_fired boolean NOT NULL DEFAULT false,
            last_recorded_at timestamptz NOT NULL,
            CONSTRAINT pk_fence_states PRIMARY KEY (member_id, fence_id),
            CONSTRAINT fk_fence_states_brand_id_member_id_members FOREIGN KEY (brand_id, member_id)
                REFERENCES members (brand_id, id) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            caller text NOT NULL,
            route text NOT NULL,
            key text NOT NULL,
            body_hash bytea NOT NULL,
            status_code integer NOT NULL,
            response bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_idempotency_keys PRIMARY KEY (brand_id, caller, route, key)
        )
        """
    )
    op.execute("CREATE INDEX ix_idempotency_keys_created ON idempotency_keys (created_at)")
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
        sa.Column("grants", sa.Text(), server_default=sa.text("'daily'"), nullable=False),
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
        sa.CheckConstraint("grants IN ('daily', 'every_visit')", name="grants"),
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
            grant_day date,
            claimed_at timestamptz,
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
            store_id uuid,
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
    op.execute("CREATE INDEX ix_offers_all_stores ON offers (brand_id, trigger) WHERE active AND target = 'all_stores'")
    op.execute("CREATE INDEX ix_offers_store_ids ON offers USING gin (store_ids) WHERE active AND target = 'stores'")
    op.execute(
        "CREATE INDEX ix_offers_geofence_ids ON offers USING gin (geofence_ids) WHERE active AND target = 'geofences'"
    )
    for statement in _COUPONS + _STATS:
        op.execute(statement)
    for figure in WINDOW_FIGURES:
        op.execute(
            f"CREATE INDEX ix_stats_referrers_window_{figure} ON stats_referrers"
            f" (brand_id, offer_key, period, {figure} DESC, referrer_id) WHERE grain = 'r'"
        )
    op.execute(
        """
        CREATE UNLOGGED TABLE request_budgets (
            brand_id uuid NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
            subject text NOT NULL,
            level double precision NOT NULL,
            at timestamptz NOT NULL,
            CONSTRAINT pk_request_budgets PRIMARY KEY (brand_id, subject)
        )
        """
    )
    for path in FUNCTIONS:
        op.execute(path.read_text())


def downgrade() -> None:
    for name in reversed([path.stem.split("_", 1)[1] for path in FUNCTIONS]):
        op.execute(f"DROP FUNCTION {name}")
    for table in TABLES:
        op.execute(f"DROP TABLE {table}")
    # postgis and btree_gist stay: other objects may use them, and they are harmless.
    op.execute("DROP EXTENSION hll")
