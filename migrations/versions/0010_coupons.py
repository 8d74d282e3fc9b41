"""O2O coupons: claim capacity split across slot rows, per-member claim counters, shares, coupons,
redemptions (one live redemption per coupon), their audit trail, and the throttle on failed code look-ups.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HERE = Path(__file__).parent

# One statement per op.execute: asyncpg prepares each, and a prepared statement holds one command.
# The hot tables (capacity, claim counters, shares, coupons, redemptions) reference the brand only through
# their composite keys (brand_id, member_id) and (brand_id, offer_id): a plain brand_id foreign key would
# add a key-share lock on the one brand row to every claim (a multixact per claim under load, measured).
_UPGRADE = [
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
    # Existing offers get their slots (new ones get them from the offers service).
    """
    INSERT INTO offer_capacity (brand_id, offer_id, slot, cap)
    SELECT o.brand_id, o.id, s.slot,
           o.total_limit / 64 + CASE WHEN s.slot < o.total_limit % 64 THEN 1 ELSE 0 END
    FROM offers o CROSS JOIN generate_series(0, 63) AS s(slot)
    """,
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
    for statement in _UPGRADE:
        op.execute(statement)
    op.execute((HERE / "0010_claim_offer.sql").read_text())
    op.execute((HERE / "0010_redeem_coupon.sql").read_text())


def downgrade() -> None:
    op.execute("DROP FUNCTION solomo_redeem_coupon(uuid, text, uuid, uuid, text, numeric)")
    op.execute("DROP FUNCTION solomo_claim_offer(uuid, uuid, uuid, text, text)")
    for table in (
        "code_failures",
        "coupon_audit",
        "redemptions",
        "coupons",
        "offer_shares",
        "member_offer_claims",
        "offer_capacity",
    ):
        op.execute(f"DROP TABLE {table}")
