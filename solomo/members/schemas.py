from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from solomo.coupons.schemas import CouponOut, ShareOut
from solomo.geo.geojson import Point
from solomo.schemas import Input, Patch

Provider = Literal["wechat", "weibo", "douyin", "qq", "xiaohongshu", "x", "instagram", "facebook", "tiktok"]
ExternalId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, description="The brand's own id for the member.")
]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +8613800138000.")]
Email = Annotated[
    str, msgspec.Meta(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="An email address.")
]
Tier = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[\w.-]+$")]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[\w:.-]+$")]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=100)]
Referrer = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=64, description="The referrer's member id or referral code."),
]


class SocialAccountIn(Input):
    provider: Provider
    uid: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="The provider's user id (openid…).")]
    union_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    handle: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    followers: Annotated[int, msgspec.Meta(ge=0, le=2_147_483_647)] | None = None


class ConsentIn(Input):
    """Consents given (true) or withdrawn (false) now; a consent left out is unchanged."""

    location: bool | msgspec.UnsetType = msgspec.UNSET
    marketing: bool | msgspec.UnsetType = msgspec.UNSET


class MemberUpsert(Input):
    """Create a member, or update the one found by ``external_id`` or by ``social_account``."""

    external_id: ExternalId | None = None
    social_account: SocialAccountIn | None = None
    display_name: DisplayName | None = None
    phone: Phone | None = None
    email: Email | None = None
    tier: Tier | None = None
    tags: Tags | None = None
    consent: ConsentIn | None = None
    referred_by: Referrer | None = None
    joined_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class MemberPatch(Patch):
    display_name: DisplayName | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    tier: Tier | msgspec.UnsetType | None = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    consent: ConsentIn | msgspec.UnsetType = msgspec.UNSET
    referred_by: Referrer | msgspec.UnsetType = msgspec.UNSET


class MergeIn(Input):
    from_: uuid.UUID = msgspec.field(name="from")


class SocialAccountOut(msgspec.Struct):
    provider: Provider
    uid: str
    union_id: str | None
    handle: str | None
    followers: int | None
    linked_at: datetime


class ConsentState(msgspec.Struct):
    granted: bool
    at: datetime | None


class Consent(msgspec.Struct):
    location: ConsentState
    marketing: ConsentState


class MemberOut(msgspec.Struct, omit_defaults=True):
    """A member. ``phone`` and ``email`` are personal data: left out for marketers."""

    id: uuid.UUID
    external_id: str | None
    display_name: str | None
    tier: str | None
    tags: list[str]
    consent: Consent
    referral_code: str | None
    referred_by: uuid.UUID | None
    joined_at: datetime
    social_accounts: list[SocialAccountOut]
    created_at: datetime
    updated_at: datetime
    phone: str | msgspec.UnsetType | None = msgspec.UNSET
    email: str | msgspec.UnsetType | None = msgspec.UNSET


class MemberPage(msgspec.Struct):
    items: list[MemberOut]
    next_cursor: str | None


class ConsentEventOut(msgspec.Struct):
    kind: Literal["location", "marketing"]
    granted: bool
    at: datetime


class MemberExportHead(msgspec.Struct):
    """The export's profile part, rendered before the histories (``solomo/members/export.py``)."""

    member: MemberOut
    consent_history: list[ConsentEventOut]
    referred_members: list[uuid.UUID]
    merged_from: list[uuid.UUID]
    exported_at: datetime
    coupons: list[CouponOut]
    shares: list[ShareOut]


class CheckinMatchExport(msgspec.Struct):
    fence_id: uuid.UUID
    store_id: uuid.UUID
    event: Literal["enter", "dwell", "exit"] | None


class CheckinExport(msgspec.Struct):
    """A check-in as stored: ``location`` is null once the brand's retention has passed (``coarse_location`` stays)."""

    id: uuid.UUID
    recorded_at: datetime
    received_at: datetime
    location: Point | None
    coarse_location: Point | None
    accuracy_m: float
    mocked: bool
    source: str | None
    flags: list[str]
    flagged_store_ids: list[uuid.UUID] | None
    matches: list[CheckinMatchExport]


class FenceStateExport(msgspec.Struct):
    fence_id: uuid.UUID
    inside: bool
    entered_at: datetime | None
    dwell_fired: bool
    last_recorded_at: datetime


class EligibilityExport(msgspec.Struct):
    offer_id: uuid.UUID
    store_id: uuid.UUID
    checkin_id: uuid.UUID
    granted_at: datetime
    eligible_until: datetime
    grant_day: date | None
    claimed_at: datetime | None


class ImpressionExport(msgspec.Struct):
    offer_id: uuid.UUID
    day: date
    source: Literal["checkin", "nearby"]
    shown_at: datetime
    store_id: uuid.UUID | None


class RedemptionExport(msgspec.Struct):
    id: uuid.UUID
    coupon_id: uuid.UUID
    store_id: uuid.UUID
    redeemed_at: datetime
    order_amount: float | None
    voided_at: datetime | None
    void_reason: str | None


class ClaimCounterExport(msgspec.Struct):
    offer_id: uuid.UUID
    claimed: int
    day: date
    day_claimed: int


class FirstVisitExport(msgspec.Struct):
    store_key: uuid.UUID
    first_at: datetime


class IdempotencyRecordExport(msgspec.Struct):
    """That a request of the member's was kept for replay (for 24 hours); the answer kept with it is not repeated."""

    method: str
    key: str
    status_code: int
    created_at: datetime


class MemberExport(MemberExportHead):
    """Everything held about one member (GDPR/PIPL access request), streamed: histories come in full, oldest first."""

    checkins: list[CheckinExport]
    fence_states: list[FenceStateExport]
    eligibility: list[EligibilityExport]
    impressions: list[ImpressionExport]
    redemptions: list[RedemptionExport]
    claim_counters: list[ClaimCounterExport]
    first_visits: list[FirstVisitExport]
    idempotency_records: list[IdempotencyRecordExport]


class MemberToken(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(description="Send as `Authorization: Bearer …` from the app.")]
    token_type: str
    expires_at: datetime


class MemberSelfPatch(Input):
    """What the member may change itself, from the app."""

    display_name: DisplayName | msgspec.UnsetType | None = msgspec.UNSET
    consent: ConsentIn | msgspec.UnsetType = msgspec.UNSET

    def as_patch(self) -> MemberPatch:
        return MemberPatch(display_name=self.display_name, consent=self.consent)
