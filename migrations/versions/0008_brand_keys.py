"""Keys by brand, so the schema can be distributed by ``brand_id`` (Citus; ``solomo/db/citus/distribute.sql``):
every primary key, unique constraint and foreign key among a brand's tables now starts with ``brand_id``.

* Primary keys ``(id)`` become ``(brand_id, id)``; the ``UNIQUE (brand_id, id)`` that child tables referenced
  goes (the primary key serves them), and the foreign keys are put back on the new keys.
* Foreign keys that named a parent by its id alone now carry the brand too: a fence state's fence, a console
  session's key, a member's referrer and the member it was merged into. The last two lose ``ON DELETE SET NULL``
  (it would have to null ``brand_id``, the distribution column): members are never deleted one by one (merged
  and erased members stay as tombstones), only with their brand, all at once.
* Nothing is unique across brands any more: coupon and share codes are unique per brand (every look-up
  names the brand), and an API key's hash is unique in ``api_key_routes``, a small table (a Citus reference
  table, on every node) that finds a key's brand before anything reads the brand's rows.
* The functions whose ``ON CONFLICT`` targets or filters changed are installed from the copies in
  ``0008_brand_keys/``; the downgrade puts back each one's newest earlier copy (a file read, never an import).

Revision ID: 0008_brand_keys
Revises: 0007_webhooks
Create Date: 2026-12-03
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from alembic import op

revision: str = "0008_brand_keys"
down_revision: str | None = "0007_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONS = Path(__file__).parent
HERE = VERSIONS / "0008_brand_keys"
EARLIER = ("0001_baseline", "0002_fences_at", "0004_request_functions", "0005_generic_plans",
           "0006_console_sessions", "0007_webhooks")  # fmt: skip


class Key(NamedTuple):
    table: str
    old: str  # the primary key's columns before
    new: str  # and after
    #: A UNIQUE (brand_id, id) that the new primary key makes redundant.
    unique: str | None = None


KEYS = [
    Key("api_keys", "id", "brand_id, id"),
    Key("campaigns", "id", "brand_id, id", "uq_campaigns_brand_id_id"),
    Key("checkin_matches", "checkin_id, fence_id", "brand_id, checkin_id, fence_id"),
    Key("checkins", "id, recorded_at", "brand_id, id, recorded_at"),
    Key("coupon_audit", "id", "brand_id, id"),
    Key("coupons", "id", "brand_id, id", "uq_coupons_brand_id_id"),
    Key("fence_states", "member_id, fence_id", "brand_id, member_id, fence_id"),
    Key("geofences", "id", "brand_id, id"),
    Key("member_consent_events", "id", "brand_id, id"),
    Key("member_firsts", "member_id, store_key", "brand_id, member_id, store_key"),
    Key("member_offer_claims", "member_id, offer_id", "brand_id, member_id, offer_id"),
    Key("member_social_accounts", "id", "brand_id, id"),
    Key("members", "id", "brand_id, id", "uq_members_brand_id_id"),
    Key("offer_capacity", "offer_id, slot", "brand_id, offer_id, slot"),
    Key("offer_eligibility", "member_id, offer_id", "brand_id, member_id, offer_id"),
    Key("offer_impressions", "member_id, offer_id, day", "brand_id, member_id, offer_id, day"),
    Key("offer_shares", "id", "brand_id, id", "uq_offer_shares_brand_id_id"),
    Key("offers", "id", "brand_id, id", "uq_offers_brand_id_id"),
    Key("redemptions", "id", "brand_id, id", "uq_redemptions_brand_id_id"),
    Key("stores", "id", "brand_id, id", "uq_stores_brand_id_id"),
]


class Fk(NamedTuple):
    table: str
    name: str
    definition: str


def _fk(table: str, column: str, parent: str, action: str = " ON DELETE CASCADE") -> Fk:
    return Fk(
        table,
        f"fk_{table}_brand_id_{column}_{parent}",
        f"FOREIGN KEY (brand_id, {column}) REFERENCES {parent} (brand_id, id){action}",
    )


#: The foreign keys among the brand's tables, as they are after this revision. Dropped before the keys change
#: (each depends on the index of the key it points at) and made again after.
FKS = [
    _fk("checkins", "member_id", "members"),
    _fk("coupons", "member_id", "members"),
    _fk("coupons", "offer_id", "offers"),
    _fk("coupons", "share_id", "offer_shares", ""),
    _fk("fence_states", "member_id", "members"),
    _fk("fence_states", "fence_id", "geofences"),
    _fk("geofences", "store_id", "stores"),
    _fk("member_consent_events", "member_id", "members"),
    _fk("member_firsts", "member_id", "members"),
    _fk("member_offer_claims", "member_id", "members"),
    _fk("member_offer_claims", "offer_id", "offers"),
    _fk("member_social_accounts", "member_id", "members"),
    _fk("members", "merged_into_id", "members", ""),
    _fk("members", "referred_by_id", "members", ""),
    _fk("offer_capacity", "offer_id", "offers"),
    _fk("offer_eligibility", "member_id", "members"),
    _fk("offer_eligibility", "offer_id", "offers"),
    _fk("offer_impressions", "member_id", "members"),
    _fk("offer_impressions", "offer_id", "offers"),
    _fk("offer_shares", "member_id", "members"),
    _fk("offer_shares", "offer_id", "offers"),
    _fk("offers", "campaign_id", "campaigns"),
    _fk("redemptions", "coupon_id", "coupons"),
    _fk("redemptions", "store_id", "stores", ""),
    _fk("console_sessions", "api_key_id", "api_keys"),
]
#: The foreign keys that named a parent by id alone, as the earlier revisions made them.
OLD_SINGLE_FKS = [
    Fk("fence_states", "fence_states_fence_id_fkey",
       "FOREIGN KEY (fence_id) REFERENCES geofences (id) ON DELETE CASCADE"),
    Fk("members", "fk_members_merged_into_id_members",
       "FOREIGN KEY (merged_into_id) REFERENCES members (id) ON DELETE SET NULL"),
    Fk("members", "fk_members_referred_by_id_members",
       "FOREIGN KEY (referred_by_id) REFERENCES members (id) ON DELETE SET NULL"),
    Fk("console_sessions", "fk_console_sessions_api_key_id_api_keys",
       "FOREIGN KEY (api_key_id) REFERENCES api_keys (id) ON DELETE CASCADE"),
]  # fmt: skip
_NEW_ONLY = {
    "fk_fence_states_brand_id_fence_id_geofences",
    "fk_members_brand_id_merged_into_id_members",
    "fk_members_brand_id_referred_by_id_members",
    "fk_console_sessions_brand_id_api_key_id_api_keys",
}
#: Codes unique per brand rather than across brands; the live redemption of a coupon, per brand.
UNIQUES = [
    ("coupons", "uq_coupons_code", "code", "uq_coupons_brand_id_code", "brand_id, code"),
    ("offer_shares", "uq_offer_shares_code", "code", "uq_offer_shares_brand_id_code", "brand_id, code"),
]


def _function_name(path: Path) -> str:
    return re.sub(r"^\d+_", "", path.stem)


def _earlier_copies() -> list[Path]:
    """For each function this revision installs, its copy in the newest earlier revision that had one."""
    mine = {_function_name(p) for p in HERE.glob("*.sql")}
    newest: dict[str, Path] = {}
    for folder in EARLIER:
        for path in (VERSIONS / folder).glob("*.sql"):
            if _function_name(path) in mine:
                newest[_function_name(path)] = path
    return sorted(newest.values(), key=lambda p: p.name)


def upgrade() -> None:
    old_fks = [fk for fk in FKS if fk.name not in _NEW_ONLY] + OLD_SINGLE_FKS
    for fk in old_fks:
        op.execute(f"ALTER TABLE {fk.table} DROP CONSTRAINT {fk.name}")
    for key in KEYS:
        op.execute(f"ALTER TABLE {key.table} DROP CONSTRAINT pk_{key.table}")
        if key.unique:
            op.execute(f"ALTER TABLE {key.table} DROP CONSTRAINT {key.unique}")
        op.execute(f"ALTER TABLE {key.table} ADD CONSTRAINT pk_{key.table} PRIMARY KEY ({key.new})")
    for fk in FKS:
        op.execute(f"ALTER TABLE {fk.table} ADD CONSTRAINT {fk.name} {fk.definition}")
    for table, old, _, new, columns in UNIQUES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {old}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {new} UNIQUE ({columns})")
    op.execute("DROP INDEX uq_redemptions_live")
    op.execute("CREATE UNIQUE INDEX uq_redemptions_live ON redemptions (brand_id, coupon_id) WHERE voided_at IS NULL")

    op.execute(
        """
        CREATE TABLE api_key_routes (
            secret_hash bytea NOT NULL,
            brand_id uuid NOT NULL,
            key_id uuid NOT NULL,
            CONSTRAINT pk_api_key_routes PRIMARY KEY (secret_hash),
            CONSTRAINT fk_api_key_routes_brand_id_brands FOREIGN KEY (brand_id) REFERENCES brands (id)
                ON DELETE CASCADE
        )
        """
    )
    op.execute(
        "INSERT INTO api_key_routes (secret_hash, brand_id, key_id) SELECT secret_hash, brand_id, id FROM api_keys"
    )
    op.execute("ALTER TABLE api_keys DROP CONSTRAINT uq_api_keys_secret_hash")

    for path in sorted(HERE.glob("*.sql")):
        op.execute(path.read_text())


def downgrade() -> None:
    for path in _earlier_copies():
        op.execute(path.read_text())
    op.execute("ALTER TABLE api_keys ADD CONSTRAINT uq_api_keys_secret_hash UNIQUE (secret_hash)")
    op.execute("DROP TABLE api_key_routes")

    op.execute("DROP INDEX uq_redemptions_live")
    op.execute("CREATE UNIQUE INDEX uq_redemptions_live ON redemptions (coupon_id) WHERE voided_at IS NULL")
    for table, old, old_columns, new, _ in UNIQUES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {new}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {old} UNIQUE ({old_columns})")
    for fk in FKS:
        op.execute(f"ALTER TABLE {fk.table} DROP CONSTRAINT {fk.name}")
    for key in KEYS:
        op.execute(f"ALTER TABLE {key.table} DROP CONSTRAINT pk_{key.table}")
        op.execute(f"ALTER TABLE {key.table} ADD CONSTRAINT pk_{key.table} PRIMARY KEY ({key.old})")
        if key.unique:
            op.execute(f"ALTER TABLE {key.table} ADD CONSTRAINT {key.unique} UNIQUE (brand_id, id)")
    for fk in [fk for fk in FKS if fk.name not in _NEW_ONLY] + OLD_SINGLE_FKS:
        op.execute(f"ALTER TABLE {fk.table} ADD CONSTRAINT {fk.name} {fk.definition}")
