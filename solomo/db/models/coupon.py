"""Coupons and what surrounds them: claim capacity and counters, shares, redemptions, their audit, and the
code-guessing throttle. The migrations build these tables; the models mirror them for Alembic and for reads."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from solomo.db.base import Base, brand_keyed_id


class OfferCapacity(Base):
    """One of an offer's 64 capacity slots: sum(used) is the coupons issued, sum(cap) the total allowed.

    The table has fillfactor 50 (set by the migration) so its constant updates stay HOT.
    """

    __tablename__ = "offer_capacity"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "offer_id", "slot"),
        ForeignKeyConstraint(["brand_id", "offer_id"], ["offers.brand_id", "offers.id"], ondelete="CASCADE"),
        CheckConstraint("used >= 0 AND (cap IS NULL OR used <= cap)", name="within_cap"),
    )

    brand_id: Mapped[uuid.UUID]
    offer_id: Mapped[uuid.UUID]
    slot: Mapped[int] = mapped_column(SmallInteger)
    cap: Mapped[int | None]
    used: Mapped[int] = mapped_column(server_default=text("0"))


class MemberOfferClaims(Base):
    """A member's claims of one offer, in all and on the latest brand-local day (the per-member limits)."""

    __tablename__ = "member_offer_claims"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "member_id", "offer_id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["brand_id", "offer_id"], ["offers.brand_id", "offers.id"], ondelete="CASCADE"),
    )

    brand_id: Mapped[uuid.UUID]
    member_id: Mapped[uuid.UUID]
    offer_id: Mapped[uuid.UUID]
    claimed: Mapped[int]
    day: Mapped[date]
    day_claimed: Mapped[int]


class OfferShare(Base):
    """A member's share code for an offer; a claim made with it credits the sharer."""

    __tablename__ = "offer_shares"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        UniqueConstraint("brand_id", "code"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["brand_id", "offer_id"], ["offers.brand_id", "offers.id"], ondelete="CASCADE"),
        Index("ix_offer_shares_member", "brand_id", "member_id", "offer_id"),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID]
    offer_id: Mapped[uuid.UUID]
    member_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    revoked_at: Mapped[datetime | None]


class Coupon(Base):
    """A claimed coupon with a copy of its offer's terms at claim; written by ``solomo_claim_offer``."""

    __tablename__ = "coupons"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        UniqueConstraint("brand_id", "code"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["brand_id", "offer_id"], ["offers.brand_id", "offers.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["brand_id", "share_id"], ["offer_shares.brand_id", "offer_shares.id"]),
        CheckConstraint("coupon_kind IN ('percent', 'amount', 'free_item')", name="coupon_kind"),
        CheckConstraint("redeemable_at IN ('any_store', 'targeted_stores')", name="redeemable_at"),
        CheckConstraint("expires_at > claimed_at", name="expiry"),
        Index("ix_coupons_member", "brand_id", "member_id", text("claimed_at DESC"), text("id DESC")),
        Index("ix_coupons_offer", "brand_id", "offer_id", "claimed_at"),
        Index("ix_coupons_referrer", "brand_id", "referrer_id", postgresql_where=text("referrer_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID]
    offer_id: Mapped[uuid.UUID]
    member_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    coupon_kind: Mapped[str] = mapped_column(Text)
    percent_off: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    amount_off: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str | None] = mapped_column(Text)
    free_item: Mapped[str | None] = mapped_column(Text)
    redeemable_at: Mapped[str] = mapped_column(Text)
    redeemable_store_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(PG_UUID(as_uuid=True)))
    requires_visit: Mapped[bool]
    claimed_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    claim_day: Mapped[date]
    expires_at: Mapped[datetime]
    store_id: Mapped[uuid.UUID | None]
    checkin_id: Mapped[uuid.UUID | None]
    share_id: Mapped[uuid.UUID | None]
    referrer_id: Mapped[uuid.UUID | None]
    cancelled_at: Mapped[datetime | None]


class Redemption(Base):
    """A coupon redeemed at a store's till; voiding keeps the row and frees the coupon."""

    __tablename__ = "redemptions"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        ForeignKeyConstraint(["brand_id", "coupon_id"], ["coupons.brand_id", "coupons.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["brand_id", "store_id"], ["stores.brand_id", "stores.id"]),
        CheckConstraint("order_amount IS NULL OR order_amount >= 0", name="order_amount"),
        CheckConstraint("(voided_at IS NULL) = (voided_by_key_id IS NULL)", name="void"),
        Index("uq_redemptions_live", "brand_id", "coupon_id", unique=True, postgresql_where=text("voided_at IS NULL")),
        Index("ix_redemptions_store", "brand_id", "store_id", "redeemed_at"),
        Index("ix_redemptions_coupon", "coupon_id", "redeemed_at"),
    )

    id: Mapped[uuid.UUID] = brand_keyed_id()
    brand_id: Mapped[uuid.UUID]
    coupon_id: Mapped[uuid.UUID]
    store_id: Mapped[uuid.UUID]
    key_id: Mapped[uuid.UUID]
    redeemed_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    order_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    voided_at: Mapped[datetime | None]
    voided_by_key_id: Mapped[uuid.UUID | None]
    void_reason: Mapped[str | None] = mapped_column(Text)


class CouponAudit(Base):
    """Append-only: every redemption and void, with the key and role that did it, when and where."""

    __tablename__ = "coupon_audit"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "id"),
        CheckConstraint("action IN ('redeem', 'void')", name="action"),
        Index("ix_coupon_audit_coupon", "brand_id", "coupon_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    coupon_id: Mapped[uuid.UUID]
    redemption_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(Text)
    store_id: Mapped[uuid.UUID]
    key_id: Mapped[uuid.UUID]
    role: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class CodeFailures(Base):
    """Failed code look-ups of one caller, as a level that drains with time (the guessing throttle)."""

    __tablename__ = "code_failures"
    __table_args__ = (PrimaryKeyConstraint("brand_id", "caller"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    caller: Mapped[str] = mapped_column(Text)
    level: Mapped[float]
    at: Mapped[datetime]
