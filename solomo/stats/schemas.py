"""Stats answers. Every funnel row has the same figures; only its key (day, hour, store, offer, campaign) differs."""

from __future__ import annotations

import uuid
from datetime import date

import msgspec

#: Figures read from HyperLogLog sketches or histogram buckets rather than counted exactly.
ESTIMATED = ("unique_members", "median_claim_to_redeem_s", "p90_claim_to_redeem_s")


class Funnel(msgspec.Struct, kw_only=True):
    """Place figures (check-ins, new members) are null where an offer or campaign is in scope: they belong
    to places, not offers. Unique members are a HyperLogLog estimate (exact up to about a hundred members);
    claim-to-redemption times are estimated from fixed histogram buckets."""

    checkins: int | None
    checkins_flagged: int | None
    new_members: int | None
    impressions: int
    claims: int
    redemptions: int
    voids: int
    claim_rate: float | None
    redemption_rate: float | None
    unique_members: int
    median_claim_to_redeem_s: float | None
    p90_claim_to_redeem_s: float | None
    referred_claims: int
    referred_redemptions: int
    order_amount: float


FUNNEL_COLUMNS = tuple(Funnel.__struct_fields__)


class DailyRow(Funnel, kw_only=True):
    day: date


class HourlyRow(Funnel, kw_only=True):
    hour: int


class StoreRow(Funnel, kw_only=True):
    store_id: uuid.UUID
    store_name: str


class OfferRow(Funnel, kw_only=True):
    offer_id: uuid.UUID
    offer_title: str
    campaign_id: uuid.UUID


class CampaignRow(Funnel, kw_only=True):
    campaign_id: uuid.UUID
    campaign_name: str


class StatsRange(msgspec.Struct, kw_only=True):
    from_: date = msgspec.field(name="from")
    to: date
    timezone: str
    estimated: list[str]


class DailyStats(StatsRange, kw_only=True):
    items: list[DailyRow]
    #: The whole range in one row, from the same rollups: the counts are the days' sums, while unique members
    #: and the claim-to-redemption times are the range's own (a member seen on two days counts once).
    total: Funnel


class HourlyStats(StatsRange, kw_only=True):
    items: list[HourlyRow]


class StoreStats(StatsRange, kw_only=True):
    items: list[StoreRow]
    next_cursor: str | None = None


class OfferStats(StatsRange, kw_only=True):
    items: list[OfferRow]
    next_cursor: str | None = None


class CampaignStats(StatsRange, kw_only=True):
    items: list[CampaignRow]
    next_cursor: str | None = None


class SocialReach(msgspec.Struct):
    provider: str
    followers: int | None


class ReferrerRow(msgspec.Struct, kw_only=True):
    member_id: uuid.UUID
    shares: int
    claims: int
    redemptions: int
    order_amount: float
    followers: int | None
    accounts: list[SocialReach]


REFERRER_COLUMNS = ("member_id", "shares", "claims", "redemptions", "order_amount", "followers", "providers")


class ReferrerStats(StatsRange, kw_only=True):
    items: list[ReferrerRow]
