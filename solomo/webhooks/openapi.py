"""The OpenAPI 3.1 ``webhooks`` section: one entry per event type, the body it POSTs, typed, so clients can
generate receivers. Litestar builds no ``webhooks`` from routes (these are requests we send, not answer), so the
section is written into the app's document once, after it is built (create_app), from events.py's Structs.

Each body is the Standard Webhooks envelope ``{"type", "timestamp", "data"}`` with ``type`` fixed to the event's
name and ``data`` the event's Struct; the schemas come from ``msgspec.json.schema_components``, so they are the
ones the sender's encoder follows. The components are named ``Webhook…`` (``WebhookCouponClaimedMessage``
the body, ``WebhookCouponClaimed`` its data) so that they cannot collide with the API's own schemas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

import msgspec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)

from solomo.webhooks.events import PAYLOADS

PREFIX = "Webhook"
TAG = "Webhooks"
_SIGNING = (
    "Signed per Standard Webhooks 1.0 with the endpoint's secret (`whsec_…`): verify `webhook-signature` over "
    '`"{webhook-id}.{webhook-timestamp}.{body}"` before trusting the body, and use `webhook-id` as the idempotency '
    "key: a retry or a replay sends the same id and body. Answer 2xx to acknowledge; anything else, a redirect "
    "or no answer in 15 s is retried (410 Gone disables the endpoint). Ordering is not promised."
)
_HEADERS = (
    ("webhook-id", "The message's id (`msg_…`), the same on every retry: the receiver's idempotency key."),
    ("webhook-timestamp", "When this attempt was signed, in unix seconds; refuse one too far from now."),
    (
        "webhook-signature",
        "Space-separated `v1,<base64 HMAC-SHA256>` signatures; two while a rotated secret's overlap lasts.",
    ),
)


def _body_name(event_type: str) -> str:
    """``coupon.claimed`` → ``CouponClaimedMessage`` (``webhook.test`` → ``TestMessage``: the prefix says webhook)."""
    parts = event_type.removeprefix("webhook.").replace("_", ".").split(".")
    return "".join(part.capitalize() for part in parts) + "Message"


def envelopes() -> dict[str, type[msgspec.Struct]]:
    """Each event type's body: the envelope with ``type`` fixed and ``data`` typed by the event's Struct."""
    made: dict[str, type[msgspec.Struct]] = {}
    for event_type, data in PAYLOADS.items():
        made[event_type] = msgspec.defstruct(
            _body_name(event_type),
            [
                ("type", Literal[event_type]),
                ("timestamp", Annotated[datetime, msgspec.Meta(tz=True)]),
                ("data", data),
            ],
            kw_only=True,
        )
    return made


def document_webhooks(openapi: OpenAPI) -> None:
    """Add the ``webhooks`` section, and the schemas it refers to, to ``openapi`` (built once per app)."""
    bodies = envelopes()
    _, components = msgspec.json.schema_components(
        list(bodies.values()), ref_template="#/components/schemas/" + PREFIX + "{name}"
    )
    schemas = openapi.components.schemas
    for name, schema in components.items():
        schema["title"] = PREFIX + name
        schemas[PREFIX + name] = cast("Schema", schema)  # a JSON Schema dict: Litestar writes it out as it is
    openapi.webhooks = {
        event_type: PathItem(post=_operation(event_type, PREFIX + body.__name__)) for event_type, body in bodies.items()
    }


def _operation(event_type: str, schema_name: str) -> Operation:
    data = PAYLOADS[event_type]
    described = (data.__doc__ or "").strip().replace("``", "`")
    return Operation(
        tags=[TAG],
        summary=f"`{event_type}`" + (f": {described.splitlines()[0]}" if described else ""),
        description=_SIGNING,
        operation_id=f"webhook_{event_type.replace('.', '_')}",
        parameters=[
            Parameter(name=name, param_in="header", required=True, description=text, schema=_string())
            for name, text in _HEADERS
        ],
        request_body=RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{schema_name}"))},
        ),
        responses={
            "2XX": OpenAPIResponse(description="Received: the message is delivered and not sent again."),
            "410": OpenAPIResponse(description="Gone: the endpoint is disabled and receives nothing more."),
            "default": OpenAPIResponse(
                description="Any other answer (or none in 15 s) is a failed attempt, retried on the schedule "
                "(`Retry-After` honoured).",
                headers={"Retry-After": OpenAPIHeader(schema=_string(), description="Seconds, or an HTTP date.")},
            ),
        },
        security=[],
    )


def _string() -> Schema:
    return Schema(type=OpenAPIType.STRING)


def webhook_schema(openapi: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The body schema of ``event_type`` in a rendered document (for tests and tools)."""
    body = openapi["webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[-1]
    found: dict[str, Any] = openapi["components"]["schemas"][name]
    return found
