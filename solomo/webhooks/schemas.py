"""Bodies of the webhook endpoint API: endpoints, their secret, deliveries, replays and the test event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from solomo.schemas import Input, Patch
from solomo.webhooks.events import EventType
from solomo.webhooks.urls import MAX_URL_LENGTH

#: Why an endpoint is off: the brand turned it off, it answered 410 Gone, or it failed for 5 days.
DisabledReason = Literal["disabled_by_user", "gone", "failing"]
MessageStatus = Literal["pending", "delivered", "failed"]
AttemptError = Literal["timeout", "redirect", "address_refused", "connection_failed", "too_large"]
#: The test button's event (events.TEST_EVENT), listed among an endpoint's deliveries.
TestEventType = Literal["webhook.test"]
#: Longest overlap of an old and a new secret after a rotation: a week.
MAX_OVERLAP_HOURS = 168

EndpointUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description=(
            "Where events are POSTed: https, no user name or password, port 443 or 8443 (the deployment may allow "
            "others), a host name or a public IP address. The host is resolved again at every send and a private, "
            "loopback or link-local address is refused."
        ),
        examples=["https://crm.example.com/hooks/solomo"],
    ),
]
EventTypes = Annotated[
    list[EventType],
    msgspec.Meta(
        min_length=1,
        max_length=50,
        description="The event types sent to the endpoint; null (or left out) for every type, including future ones.",
    ),
]
Description = Annotated[str, msgspec.Meta(max_length=500, description="What the endpoint is for.")]
IncludeLocation = Annotated[
    bool,
    msgspec.Meta(
        description=(
            "Send the check-in's raw coordinates in geofence and offer events, and only for members who consent to "
            "location use."
        )
    ),
]
MessageId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^msg_[0-9a-f]{32}$",
        description="The `webhook-id` header: the same on every retry (the receiver's idempotency key).",
    ),
]


class EndpointCreate(Input):
    url: EndpointUrl
    event_types: EventTypes | None = None
    description: Description = ""
    enabled: bool = True
    include_location: IncludeLocation = False


class EndpointPatch(Patch):
    """Fields left out stay as they are. Enabling clears why the endpoint was off; disabling records the brand did."""

    url: EndpointUrl | msgspec.UnsetType = msgspec.UNSET
    event_types: EventTypes | msgspec.UnsetType | None = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    include_location: IncludeLocation | msgspec.UnsetType = msgspec.UNSET


class EndpointOut(msgspec.Struct):
    id: uuid.UUID
    url: str
    description: str
    event_types: Annotated[list[EventType] | None, msgspec.Meta(description="null: every event type.")]
    enabled: bool
    include_location: bool
    disabled_reason: Annotated[
        DisabledReason | None,
        msgspec.Meta(
            description=(
                "Why a disabled endpoint is off: `disabled_by_user`, `gone` (it answered 410), `failing` (every "
                "delivery failed for 5 days). Messages wait while it is off and go out once it is enabled again."
            )
        ),
    ]
    disabled_at: datetime | None
    failing_since: Annotated[
        datetime | None, msgspec.Meta(description="The first failed attempt since the last delivered message.")
    ]
    previous_secret_until: Annotated[
        datetime | None,
        msgspec.Meta(description="Until then the secret before the last rotation signs too (a second signature)."),
    ]
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    secret: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The signing secret (`whsec_` + base64), per Standard Webhooks. Shown in this answer only; "
                "a rotation gives a new one."
            )
        ),
    ]


class EndpointPage(msgspec.Struct):
    items: list[EndpointOut]
    next_cursor: str | None


class SecretRotate(Input):
    overlap_hours: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=MAX_OVERLAP_HOURS,
            description="How long the old secret keeps signing beside the new one (0: it stops now).",
        ),
    ] = 24


class AttemptOut(msgspec.Struct):
    attempted_at: datetime
    status_code: Annotated[int | None, msgspec.Meta(description="The HTTP status; null when no answer came.")]
    latency_ms: int
    response_excerpt: Annotated[str | None, msgspec.Meta(description="The first bytes of the answer's body.")]
    error: Annotated[AttemptError | None, msgspec.Meta(description="Why no answer counted, when none did.")]
    delivered: bool


class DeliveryOut(msgspec.Struct):
    id: MessageId
    event_type: str
    status: Annotated[
        MessageStatus,
        msgspec.Meta(description="`pending` (due at next_attempt_at), `delivered`, `failed` (the retries ran out)."),
    ]
    attempts: Annotated[int, msgspec.Meta(description="Attempts in the current schedule (a replay starts it again).")]
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_history: Annotated[
        list[AttemptOut],
        msgspec.Meta(description="Every attempt, newest first (a replay keeps the earlier ones); at most 20 in lists."),
    ]


class MessageOut(DeliveryOut):
    payload: Annotated[dict[str, Any], msgspec.Meta(description="The body sent: the event's envelope.")]


class DeliveryPage(msgspec.Struct):
    items: list[DeliveryOut]
    next_cursor: str | None


class ReplaySince(Input):
    since: Annotated[datetime, msgspec.Meta(tz=True, description="Resend the messages created at or after this.")]
    only_failed: Annotated[bool, msgspec.Meta(description="Only the messages whose retries ran out.")] = False


class ReplayQueued(msgspec.Struct):
    queued: Annotated[int, msgspec.Meta(description="Messages queued to be sent again now.")]


class TestDelivered(msgspec.Struct):
    delivered: bool
    message_id: MessageId
    status_code: int
    latency_ms: int
