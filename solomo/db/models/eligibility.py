from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, PrimaryKeyConstraint, Text
from sqlalchemy.orm import Mapped, mapped_column

from solomo.db.base import Base


class OfferEligibility(Base):
    """A grant: an offer a member may claim once until ``eligible_until``, made by a check-in that fired its
    trigger (``solomo_record_check_in``), spent by a claim (``solomo_claim_offer``)."""

    __tablename__ = "offer_eligibility"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "member_id", "offer_id"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["brand_id", "offer_id"], ["offers.brand_id", "offers.id"], ondelete="CASCADE"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID]
    offer_id: Mapped[uuid.UUID]
    store_id: Mapped[uuid.UUID]
    checkin_id: Mapped[uuid.UUID]
    granted_at: Mapped[datetime]
    eligible_until: Mapped[datetime]
    #: The brand-local day a daily grant counts for; null when the offer grants on every visit.
    grant_day: Mapped[date | None]
    #: When a claim spent this grant on a coupon; a later grant makes it claimable again.
    claimed_at: Mapped[datetime | None]


class OfferImpression(Base):
    """An offer shown to a member, once per brand-local day, in a check-in or a nearby answer."""

    __tablename__ = "offer_impressions"
    __table_args__ = (
        PrimaryKeyConstraint("brand_id", "member_id", "offer_id", "day"),
        ForeignKeyConstraint(["brand_id", "member_id"], ["members.brand_id", "members.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["brand_id", "offer_id"], ["offers.brand_id", "offers.id"], ondelete="CASCADE"),
        CheckConstraint("source IN ('checkin', 'nearby')", name="source"),
        Index("ix_offer_impressions_brand_day", "brand_id", "day", "offer_id"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID]
    offer_id: Mapped[uuid.UUID]
    day: Mapped[date]
    source: Mapped[str] = mapped_column(Text)
    shown_at: Mapped[datetime]
    #: The store it was shown for (the check-in's, or the nearest in a nearby answer); may be null.
    store_id: Mapped[uuid.UUID | None]
