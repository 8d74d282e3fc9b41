from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import String

from solomo.db.base import Base, brand_keyed_id, created_at, updated_at

SOCIAL_PROVIDERS = ("wechat", "weibo", "douyin", "qq", "xiaohongshu", "x", "instagram", "facebook", "tiktok")


class Member(Base):
    """A brand's member profile.

    Merged members stay as a row pointing at the survivor (``merged_into_id``) so old ids can say where
    they went; erased members stay as an anonymous tombstone (``erased_at``) so counts in stats hold.
    """

    __tablename__ = "members"
    __table_args__ = (
        # Child tables reference (brand_id, member_id), so a row can never point across brands.
        PrimaryKeyConstraint("brand_id", "id"),
        UniqueConstraint("brand_id", "external_id"),
        # No ON DELETE: members are never deleted one by one (merged and erased ones stay as tombstones), only
        # with their brand, and SET NULL would null brand_id, the distribution column.
        ForeignKeyConstraint(["brand_id", "referred_by_id"], ["members.brand_id", "members.id"]),
        ForeignKeyConstraint(["brand_id", "merged_into_id"], ["members.brand_id", "members.id"]),
        UniqueConstraint("brand_id", "referral_code"),
        CheckConstraint("referred_by_id IS NULL OR referred_by_id <> id", name="not_self_referred"),
        Index("ix_members_brand_joined", "brand_id", "joined_at", "id"),
        Index("ix_members_brand_referred_by", "brand_id", "referred_by_id"),
        Index("ix_members_tags", "tags", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    external_id: Mapped[str | None]
    display_name: Mapped[str | None]
    phone: Mapped[str | None]
    email: Mapped[str | None]
    tier: Mapped[str | None]
    tags: Mapped[list[str]] = mapped_column(ARRAY(String), server_default=text("'{}'"))
    consent_location: Mapped[bool] = mapped_column(server_default=text("false"))
    consent_location_at: Mapped[datetime | None]
    consent_marketing: Mapped[bool] = mapped_column(server_default=text("false"))
    consent_marketing_at: Mapped[datetime | None]
    referral_code: Mapped[str | None]
    referred_by_id: Mapped[uuid.UUID | None]
    joined_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    merged_into_id: Mapped[uuid.UUID | None]
    erased_at: Mapped[datetime | None]
    #: Bumped by erasure and merge; member tokens carry it and are refused once it moves on.
    token_version: Mapped[int] = mapped_column(server_default=text("0"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SocialAccount(Base):
    """A social identity linked to a member; provider + uid belongs to one member of a brand."""

    __tablename__ = "member_social_accounts"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
        UniqueConstraint("brand_id", "provider", "uid"),
        CheckConstraint(f"provider IN {SOCIAL_PROVIDERS!r}", name="provider"),
        CheckConstraint("followers IS NULL OR followers >= 0", name="followers"),
        Index("ix_member_social_accounts_member", "brand_id", "member_id"),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID]
    member_id: Mapped[uuid.UUID]
    provider: Mapped[str]
    uid: Mapped[str]
    union_id: Mapped[str | None]
    handle: Mapped[str | None]
    followers: Mapped[int | None]
    linked_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ConsentEvent(Base):
    """Every grant or withdrawal of a consent, kept as history (and erased with the member)."""

    __tablename__ = "member_consent_events"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
        CheckConstraint("kind IN ('location', 'marketing')", name="kind"),
        Index("ix_member_consent_events_member", "brand_id", "member_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, autoincrement=True)
    brand_id: Mapped[uuid.UUID]
    member_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String)
    granted: Mapped[bool]
    at: Mapped[datetime] = created_at()
