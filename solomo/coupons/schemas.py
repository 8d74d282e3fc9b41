from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from solomo.schemas import Input

CouponStatus = Literal["active", "redeemed", "expired", "cancelled"]
ShareCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="A share code from a friend.")]
TypedCode = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="As printed (XXXX-XXXX-XXXX), typed in any case with or without hyphens, or the QR payload.",
        examples=["7QK2-9MZD-4HXT"],
    ),
]


class ClaimIn(Input):
    share_code: ShareCode | None = None


class CouponTermsOut(msgspec.Struct):
    """The offer's terms as they were at claim."""

    kind: Literal["percent", "amount", "free_item"]
    percent_off: float | None
    amount_off: float | None
    currency: str | None
    free_item: str | None
    redeemable_at: Literal["any_store", "targeted_stores"]
    redeemable_store_ids: Annotated[
        list[uuid.UUID] | None, msgspec.Meta(description="Null: any of the brand's stores.")
    ]
    requires_visit: bool


class RedemptionSummary(msgspec.Struct):
    id: uuid.UUID
    store_id: uuid.UUID
    redeemed_at: datetime
    order_amount: float | None


class CouponOut(msgspec.Struct):
    id: uuid.UUID
    code: Annotated[str, msgspec.Meta(description="Grouped by four, as shown to the member and typed at the till.")]
    qr_payload: str
    offer_id: uuid.UUID
    title: str
    terms: CouponTermsOut
    status: CouponStatus
    claimed_at: datetime
    expires_at: datetime
    redemption: RedemptionSummary | None
    shared_by: Annotated[uuid.UUID | None, msgspec.Meta(description="The member whose share code was used.")]


class CouponPage(msgspec.Struct):
    items: list[CouponOut]
    next_cursor: str | None


class ShareOut(msgspec.Struct):
    offer_id: uuid.UUID
    code: Annotated[str, msgspec.Meta(description="Pass as `share_code` when claiming this offer.")]
    created_at: datetime


class RedemptionIn(Input):
    code: TypedCode
    store_id: uuid.UUID
    order_amount: Annotated[float, msgspec.Meta(ge=0, le=1_000_000_000, description="The order's total.")] | None = None


class VoidIn(Input):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None


class RedemptionOut(msgspec.Struct):
    id: uuid.UUID
    coupon: CouponOut
    store_id: uuid.UUID
    key_id: uuid.UUID
    redeemed_at: datetime
    order_amount: float | None
    voided_at: datetime | None
    voided_by_key_id: uuid.UUID | None
    void_reason: str | None
