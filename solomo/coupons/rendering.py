"""Coupon rows (from the SQL functions' JSON or from ``COUPON_WITH_LIVE_REDEMPTION``) to the API's Structs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from solomo.coupons import codes
from solomo.coupons.schemas import CouponOut, CouponStatus, CouponTermsOut, RedemptionOut, RedemptionSummary


class CouponRow(msgspec.Struct):
    id: uuid.UUID
    offer_id: uuid.UUID
    member_id: uuid.UUID
    code: str
    title: str
    coupon_kind: str
    percent_off: float | None
    amount_off: float | None
    currency: str | None
    free_item: str | None
    redeemable_at: str
    redeemable_store_ids: list[uuid.UUID] | None
    requires_visit: bool
    claimed_at: datetime
    expires_at: datetime
    referrer_id: uuid.UUID | None
    cancelled_at: datetime | None


class RedemptionRow(msgspec.Struct):
    id: uuid.UUID
    coupon_id: uuid.UUID
    store_id: uuid.UUID
    key_id: uuid.UUID
    redeemed_at: datetime
    order_amount: float | None
    voided_at: datetime | None
    voided_by_key_id: uuid.UUID | None
    void_reason: str | None


def coupon_row(values: Mapping[str, Any]) -> CouponRow:
    return msgspec.convert(dict(values), CouponRow, strict=False)


def redemption_row(values: Mapping[str, Any]) -> RedemptionRow:
    return msgspec.convert(dict(values), RedemptionRow, strict=False)


def status_of(coupon: CouponRow, live: RedemptionRow | None, now: datetime) -> CouponStatus:
    if live is not None:
        return "redeemed"
    if coupon.cancelled_at is not None:
        return "cancelled"
    return "expired" if coupon.expires_at <= now else "active"


def coupon_out(coupon: CouponRow, live: RedemptionRow | None, now: datetime) -> CouponOut:
    """``live``: the coupon's redemption that is not voided, if any."""
    return CouponOut(
        id=coupon.id,
        code=codes.display(coupon.code),
        qr_payload=codes.qr_payload(coupon.code),
        offer_id=coupon.offer_id,
        title=coupon.title,
        terms=CouponTermsOut(
            kind=coupon.coupon_kind,  # type: ignore[arg-type]
            percent_off=coupon.percent_off,
            amount_off=coupon.amount_off,
            currency=coupon.currency,
            free_item=coupon.free_item,
            redeemable_at=coupon.redeemable_at,  # type: ignore[arg-type]
            redeemable_store_ids=coupon.redeemable_store_ids,
            requires_visit=coupon.requires_visit,
        ),
        status=status_of(coupon, live, now),
        claimed_at=coupon.claimed_at,
        expires_at=coupon.expires_at,
        redemption=(
            RedemptionSummary(live.id, live.store_id, live.redeemed_at, live.order_amount) if live is not None else None
        ),
        shared_by=coupon.referrer_id,
    )


def redemption_out(redemption: RedemptionRow, coupon: CouponOut) -> RedemptionOut:
    return RedemptionOut(
        id=redemption.id,
        coupon=coupon,
        store_id=redemption.store_id,
        key_id=redemption.key_id,
        redeemed_at=redemption.redeemed_at,
        order_amount=redemption.order_amount,
        voided_at=redemption.voided_at,
        voided_by_key_id=redemption.voided_by_key_id,
        void_reason=redemption.void_reason,
    )


#: A coupon and its live (not voided) redemption, if any, prefixed ``r_``.
COUPON_WITH_LIVE_REDEMPTION = """
    SELECT c.*, r.id AS r_id, r.coupon_id AS r_coupon_id, r.store_id AS r_store_id, r.key_id AS r_key_id,
           r.redeemed_at AS r_redeemed_at, r.order_amount AS r_order_amount, r.voided_at AS r_voided_at,
           r.voided_by_key_id AS r_voided_by_key_id, r.void_reason AS r_void_reason
    FROM coupons c
    LEFT JOIN redemptions r ON r.coupon_id = c.id AND r.voided_at IS NULL
"""


def coupon_with_live(values: dict[str, object], now: datetime) -> CouponOut:
    live = None
    if values["r_id"] is not None:
        live = redemption_row({k[2:]: v for k, v in values.items() if k.startswith("r_")})
    return coupon_out(coupon_row(values), live, now)
