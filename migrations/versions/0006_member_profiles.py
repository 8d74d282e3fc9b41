"""Member profiles: personal fields, tags, tier, consent with history, referrals, social accounts, merge and erasure.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROVIDERS = ("wechat", "weibo", "douyin", "qq", "xiaohongshu", "x", "instagram", "facebook", "tiktok")
_UUID = postgresql.UUID(as_uuid=True)
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    for column in (
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
    ):
        op.add_column("members", column)
    # Members that exist already get a code; hex is a subset of the Crockford alphabet new codes use.
    op.execute("UPDATE members SET referral_code = upper(substr(md5(random()::text || id::text), 1, 8))")
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


def downgrade() -> None:
    op.drop_table("member_consent_events")
    op.drop_table("member_social_accounts")
    for index in ("ix_members_tags", "ix_members_brand_referred_by", "ix_members_brand_joined"):
        op.drop_index(index, table_name="members")
    op.drop_constraint("not_self_referred", "members", type_="check")
    op.drop_constraint(op.f("uq_members_brand_id_referral_code"), "members", type_="unique")
    op.drop_constraint(op.f("fk_members_merged_into_id_members"), "members", type_="foreignkey")
    op.drop_constraint(op.f("fk_members_referred_by_id_members"), "members", type_="foreignkey")
    for column in (
        "erased_at", "merged_into_id", "joined_at", "referred_by_id", "referral_code", "consent_marketing_at",
        "consent_marketing", "consent_location_at", "consent_location", "tags", "tier", "email", "phone",
    ):  # fmt: skip
        op.drop_column("members", column)
