"""The events a brand's endpoints receive: their types, their payloads, and how an outbox row becomes events.

One outbox row reports one change (solomo/webhooks/sql/webhook_enqueue.sql); a check-in may make several events
(a fence entered, another exited, an offer granted). Every body is the Standard Webhooks envelope
``{"type", "timestamp", "data"}``; ``data`` carries ids, the store and fence, and times: no more personal data
than the brand's own API shows, and raw coordinates only for an endpoint that asks for them
(``include_location``) about a member who consents to location use, decided when the message is made.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

EventType = Literal[
    "geofence.entered",
    "geofence.dwelled",
    "geofence.exited",
    "offer.granted",
    "coupon.claimed",
    "coupon.redeemed",
    "coupon.voided",
    "member.created",
    "member.merged",
    "member.erased",
]
#: A moment, always with its time zone (so the schema says date-time).
Moment = Annotated[datetime, msgspec.Meta(tz=True)]
#: The types an endpoint may subscribe to (an endpoint with none listed gets them all).
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
#: Sent only by the test button, to the endpoint it was pressed for.
TEST_EVENT = "webhook.test"


class Location(msgspec.Struct, kw_only=True):
    """Where the check-in was, WGS-84 (only for endpoints with include_location, about consenting members)."""

    lon: float
    lat: float
    accuracy_m: float


class GeofenceEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``geofence.entered``, ``geofence.dwelled`` (once, after the fence's dwell time inside), ``geofence.exited``."""

    checkin_id: uuid.UUID
    member_id: uuid.UUID
    geofence_id: uuid.UUID
    store_id: uuid.UUID
    recorded_at: Moment
    received_at: Moment
    location: Location | None = None


class OfferGranted(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A check-in made an offer claimable by the member until ``eligible_until``."""

    checkin_id: uuid.UUID
    member_id: uuid.UUID
    offer_id: uuid.UUID
    store_id: uuid.UUID
    recorded_at: Moment
    eligible_until: Moment
    location: Location | None = None


class CouponClaimed(msgspec.Struct, kw_only=True):
    """A member claimed an offer: the coupon (never its code, which is the member's to show at the till)."""

    coupon_id: uuid.UUID
    offer_id: uuid.UUID
    member_id: uuid.UUID
    store_id: uuid.UUID | None
    referrer_id: uuid.UUID | None
    claimed_at: Moment
    expires_at: Moment


class CouponRedeemed(msgspec.Struct, kw_only=True):
    """A till redeemed a coupon at a store."""

    redemption_id: uuid.UUID
    coupon_id: uuid.UUID
    offer_id: uuid.UUID
    member_id: uuid.UUID
    store_id: uuid.UUID
    referrer_id: uuid.UUID | None
    order_amount: Decimal | None
    redeemed_at: Moment


class CouponVoided(msgspec.Struct, kw_only=True):
    """A redemption was voided: the coupon can be redeemed again."""

    redemption_id: uuid.UUID
    coupon_id: uuid.UUID
    offer_id: uuid.UUID
    member_id: uuid.UUID
    store_id: uuid.UUID
    reason: str | None
    redeemed_at: Moment
    voided_at: Moment


class MemberCreated(msgspec.Struct, kw_only=True):
    member_id: uuid.UUID
    external_id: str | None
    created_at: Moment


class MemberMerged(msgspec.Struct, kw_only=True):
    """``merged_member_id`` was folded into ``member_id``; the old id now resolves to the survivor."""

    member_id: uuid.UUID
    merged_member_id: uuid.UUID
    merged_at: Moment


class MemberErased(msgspec.Struct, kw_only=True):
    """The member's personal data was erased; the receiver should erase what it holds about them too."""

    member_id: uuid.UUID
    erased_at: Moment


class TestEvent(msgspec.Struct, kw_only=True):
    """What the test button sends."""

    endpoint_id: uuid.UUID
    message: str


#: Each event type's ``data``, for the OpenAPI ``webhooks`` section.
PAYLOADS: dict[str, type[msgspec.Struct]] = {
    "geofence.entered": GeofenceEvent,
    "geofence.dwelled": GeofenceEvent,
    "geofence.exited": GeofenceEvent,
    "offer.granted": OfferGranted,
    "coupon.claimed": CouponClaimed,
    "coupon.redeemed": CouponRedeemed,
    "coupon.voided": CouponVoided,
    "member.created": MemberCreated,
    "member.merged": MemberMerged,
    "member.erased": MemberErased,
    TEST_EVENT: TestEvent,
}

_FENCE_EVENT: dict[str, str] = {"enter": "geofence.entered", "dwell": "geofence.dwelled"}


class Event(msgspec.Struct, frozen=True):
    """One event made from an outbox row, before it is addressed to endpoints."""

    type: str
    timestamp: Moment
    data: msgspec.Struct
    #: Whether ``data`` may carry the check-in's location (set per endpoint when the message is made).
    locatable: bool = False


def envelope(event_type: str, timestamp: datetime, data: msgspec.Struct) -> bytes:
    """The body sent: the Standard Webhooks envelope."""
    return msgspec.json.encode({"type": event_type, "timestamp": timestamp, "data": data})


def events_of(kind: str, payload: dict[str, Any]) -> Iterator[Event]:
    """The events one outbox row reports, in a stable order (fences by id, then offers)."""
    if kind == "checkin":
        yield from _checkin_events(payload)
    elif kind == "claim":
        coupon = payload["coupon"]
        claimed = msgspec.convert({**coupon, "coupon_id": coupon["id"]}, CouponClaimed, strict=False)
        yield Event("coupon.claimed", claimed.claimed_at, claimed)
    elif kind in ("redemption", "void"):
        yield _redemption_event(kind, payload)
    elif kind == "member.created":
        created = msgspec.convert(payload, MemberCreated, strict=False)
        yield Event(kind, created.created_at, created)
    elif kind == "member.merged":
        merged = msgspec.convert(payload, MemberMerged, strict=False)
        yield Event(kind, merged.merged_at, merged)
    elif kind == "member.erased":
        erased = msgspec.convert(payload, MemberErased, strict=False)
        yield Event(kind, erased.erased_at, erased)
    else:  # a kind this version does not know: written by a newer one; nothing to send from here
        return


def _checkin_events(payload: dict[str, Any]) -> Iterator[Event]:
    common = {
        "checkin_id": payload["id"],
        "member_id": payload["member_id"],
        "recorded_at": payload["recorded_at"],
        "received_at": payload["received_at"],
    }
    for match in payload["matches"]:
        event_type = _FENCE_EVENT.get(match["event"] or "")
        if event_type is not None:
            data = msgspec.convert(
                {**common, "geofence_id": match["fence_id"], "store_id": match["store_id"]}, GeofenceEvent, strict=False
            )
            yield Event(event_type, data.received_at, data, locatable=True)
    for exit_ in payload["exits"]:
        data = msgspec.convert(
            {**common, "geofence_id": exit_["fence_id"], "store_id": exit_["store_id"]}, GeofenceEvent, strict=False
        )
        yield Event("geofence.exited", data.received_at, data, locatable=True)
    for offer in payload["offers"]:
        granted = msgspec.convert(
            {
                "checkin_id": payload["id"],
                "member_id": payload["member_id"],
                "offer_id": offer["offer_id"],
                "store_id": offer["store_id"],
                "recorded_at": payload["recorded_at"],
                "eligible_until": offer["eligible_until"],
            },
            OfferGranted,
            strict=False,
        )
        yield Event("offer.granted", msgspec.convert(payload["received_at"], datetime, strict=False), granted, True)


def _redemption_event(kind: str, payload: dict[str, Any]) -> Event:
    redemption, coupon = payload["redemption"], payload["coupon"]
    common = {
        "redemption_id": redemption["id"],
        "coupon_id": coupon["id"],
        "offer_id": coupon["offer_id"],
        "member_id": coupon["member_id"],
        "store_id": redemption["store_id"],
        "redeemed_at": redemption["redeemed_at"],
    }
    if kind == "redemption":
        redeemed = msgspec.convert(
            {**common, "referrer_id": coupon.get("referrer_id"), "order_amount": redemption.get("order_amount")},
            CouponRedeemed,
            strict=False,
        )
        return Event("coupon.redeemed", redeemed.redeemed_at, redeemed)
    voided = msgspec.convert(
        {**common, "reason": redemption.get("void_reason"), "voided_at": redemption["voided_at"]},
        CouponVoided,
        strict=False,
    )
    return Event("coupon.voided", voided.voided_at, voided)


def with_location(data: msgspec.Struct, location: dict[str, Any]) -> msgspec.Struct:
    """``data`` with the check-in's location, for an endpoint that asked for it."""
    return msgspec.structs.replace(data, location=msgspec.convert(location, Location))
