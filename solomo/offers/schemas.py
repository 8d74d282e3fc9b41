from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from solomo.members.schemas import Provider, Tag, Tier
from solomo.schemas import Input, Patch

CampaignStatus = Literal["draft", "active", "paused", "ended"]
Channel = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]{0,31}$", examples=["app", "wechat", "sms"])]
Moment = Annotated[datetime, msgspec.Meta(tz=True)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", examples=["07:30"])]


# -- campaigns -----------------------------------------------------------------------------
class CampaignCreate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    channel: Channel
    starts_at: Moment
    ends_at: Moment
    status: CampaignStatus = "draft"


class CampaignPatch(Patch):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    channel: Channel | msgspec.UnsetType = msgspec.UNSET
    starts_at: Moment | msgspec.UnsetType = msgspec.UNSET
    ends_at: Moment | msgspec.UnsetType = msgspec.UNSET
    status: CampaignStatus | msgspec.UnsetType = msgspec.UNSET


class CampaignOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    channel: str
    starts_at: datetime
    ends_at: datetime
    status: CampaignStatus
    serving: Annotated[bool, msgspec.Meta(description="Active and inside its window now: its offers are served.")]
    created_at: datetime
    updated_at: datetime


class CampaignPage(msgspec.Struct):
    items: list[CampaignOut]
    next_cursor: str | None


# -- offers --------------------------------------------------------------------------------
#: Ids an offer may list in each of ``where.store_ids`` and ``where.geofence_ids``: a chain's region, not its whole
#: estate (``all_stores`` is for that), and a bound on the 422 that names every unknown id.
MAX_PLACE_IDS = 1_000
_LISTED = f"At most {MAX_PLACE_IDS:,} %s ids, for that target only; a 422 names each unknown one by its index."


class Where(Input):
    """Where the offer is served: at every store, at some stores, or at some geofences."""

    target: Literal["all_stores", "stores", "geofences"] = "all_stores"
    store_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=MAX_PLACE_IDS, description=_LISTED % "store")] = []
    geofence_ids: Annotated[
        list[uuid.UUID], msgspec.Meta(max_length=MAX_PLACE_IDS, description=_LISTED % "geofence")
    ] = []


class Who(Input):
    """Who is admitted; every rule given must hold. Marketing consent is always required."""

    tags: Annotated[list[Tag], msgspec.Meta(max_length=100, description="Any of these member tags.")] = []
    tiers: Annotated[list[Tier], msgspec.Meta(max_length=50, description="Any of these tiers.")] = []
    provider: Annotated[Provider | None, msgspec.Meta(description="Has a linked account on this provider.")] = None
    min_followers: Annotated[int, msgspec.Meta(ge=0, le=2_147_483_647)] | None = None
    joined_within_days: Annotated[int, msgspec.Meta(ge=1, le=3650, description="New members only.")] | None = None


class WeeklyWindow(Input):
    """Days and hours in each store's own time zone; an end before the start runs past midnight."""

    days: Annotated[list[Weekday], msgspec.Meta(min_length=1, max_length=7)]
    start: ClockTime
    end: ClockTime


class When(Input):
    weekly_hours: Annotated[
        list[WeeklyWindow] | None,
        msgspec.Meta(description="Null: whenever the campaign runs. Days are those on which a window starts."),
    ] = None


class CouponTerms(Input):
    """The coupon a claim issues; copied onto each coupon, so later edits never change issued ones."""

    kind: Literal["percent", "amount", "free_item"]
    validity_minutes: Annotated[int, msgspec.Meta(ge=1, le=525_600, description="How long a claimed coupon lasts.")]
    percent_off: Annotated[float, msgspec.Meta(gt=0, le=100)] | None = None
    amount_off: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] | None = None
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. CNY.")] | None = None
    free_item: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    redeemable_at: Literal["any_store", "targeted_stores"] = "any_store"
    requires_visit: Annotated[
        bool, msgspec.Meta(description="Redeeming needs a verified check-in at that store in the last hour.")
    ] = False


Grants = Literal["daily", "every_visit"]


class Limits(Input):
    """How many coupons, and how often a visit makes the offer claimable.

    A check-in that fires the offer's trigger at one of its places *grants* it to the member for the brand's
    eligibility window, counted from the check-in's ``recorded_at``; each grant allows one claim. ``grants`` says
    how often that happens, and the counts below cap the coupons on top of it (a share code needs no grant, so
    they are what bounds claims made through shares).
    """

    total: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647, description="Coupons in all.")] | None = None
    per_member: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    per_member_per_day: (
        Annotated[int, msgspec.Meta(ge=1, le=1_000_000, description="Per member per brand-local day.")] | None
    ) = None
    grants: Annotated[
        Grants,
        msgspec.Meta(
            description=(
                "`daily`: the first qualifying check-in of each brand-local day grants the offer to the member, and"
                " leaving and coming back that day grants nothing more (no new claim, no longer window), so a"
                " member gets at most one coupon a day from visits. `every_visit`: every later enter (or dwell)"
                " grants it again, one claim each, as for a stamp card; per-member limits still apply."
            )
        ),
    ] = "daily"


class OfferCreate(Input):
    campaign_id: uuid.UUID
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    coupon: CouponTerms
    description: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    image_url: Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^https?://\S+$")] | None = None
    where: Where = msgspec.field(default_factory=Where)
    who: Who = msgspec.field(default_factory=Who)
    when: When = msgspec.field(default_factory=When)
    trigger: Literal["enter", "dwell"] = "enter"
    limits: Limits = msgspec.field(default_factory=Limits)
    shareable: bool = False
    active: bool = True


class OfferPatch(Patch):
    """Sections given replace the offer's section whole; coupons already issued keep their terms."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    description: Annotated[str, msgspec.Meta(max_length=2000)] | msgspec.UnsetType | None = msgspec.UNSET
    image_url: Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^https?://\S+$")] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    where: Where | msgspec.UnsetType = msgspec.UNSET
    who: Who | msgspec.UnsetType = msgspec.UNSET
    when: When | msgspec.UnsetType = msgspec.UNSET
    trigger: Literal["enter", "dwell"] | msgspec.UnsetType = msgspec.UNSET
    coupon: CouponTerms | msgspec.UnsetType = msgspec.UNSET
    limits: Limits | msgspec.UnsetType = msgspec.UNSET
    shareable: bool | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class OfferOut(msgspec.Struct):
    id: uuid.UUID
    campaign_id: uuid.UUID
    title: str
    description: str | None
    image_url: str | None
    active: bool
    where: Where
    who: Who
    when: When
    trigger: Literal["enter", "dwell"]
    coupon: CouponTerms
    limits: Limits
    shareable: bool
    created_at: datetime
    updated_at: datetime


class OfferPage(msgspec.Struct):
    items: list[OfferOut]
    next_cursor: str | None


class NearbyOffer(msgspec.Struct):
    offer_id: uuid.UUID
    title: str
    description: str | None
    coupon: CouponTerms
    store_id: uuid.UUID
    store_name: str
    distance_m: float


class NearbyOffers(msgspec.Struct):
    """Offers to browse near a point: nothing here is claimable without a check-in (or a share code)."""

    items: list[NearbyOffer]
