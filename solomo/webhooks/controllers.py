from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import ADMIN
from solomo.auth.middleware import principal_of
from solomo.config import Settings
from solomo.openapi_contract import problems
from solomo.pagination import Cursor, Limit
from solomo.webhooks.events import EventType
from solomo.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    MessageOut,
    MessageStatus,
    ReplayQueued,
    ReplaySince,
    SecretRotate,
    TestDelivered,
    TestEventType,
)
from solomo.webhooks.service import WebhookService

#: The key under which create_app provides the Settings the webhook routes need (URL rules, the test send).
SETTINGS_DEPENDENCY = "webhook_settings"

MessageIdParam = Annotated[
    str,
    Parameter(
        pattern=r"^msg_[0-9a-f]{32}$", description="The message's id (`msg_…`, its `webhook-id` header).", max_length=36
    ),
]
_DISABLED = {409: ["endpoint_disabled"]}


async def provide_webhook_service(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    webhook_settings: NamedDependency[Settings],
) -> WebhookService:
    return WebhookService(db_session, principal_of(request).brand_id, webhook_settings)


class WebhookEndpointController(Controller):
    path = "/v1/webhook-endpoints"
    tags = ["Webhooks"]
    guards = [ADMIN]
    dependencies = {"webhooks": Provide(provide_webhook_service)}

    @post(summary="Create a webhook endpoint (its signing secret is in this answer only)")
    async def create_endpoint(
        self, webhooks: NamedDependency[WebhookService], data: JSONBody[EndpointCreate]
    ) -> EndpointCreated:
        return await webhooks.create(data)

    @get(summary="List the brand's webhook endpoints, newest first (never their secrets)")
    async def list_endpoints(
        self, webhooks: NamedDependency[WebhookService], limit: Limit = 50, cursor: Cursor = None
    ) -> EndpointPage:
        return await webhooks.page(limit=limit, cursor=cursor)

    @get("/{endpoint_id:uuid}", summary="One webhook endpoint, with why it is disabled if it is")
    async def get_endpoint(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[uuid.UUID]
    ) -> EndpointOut:
        return await webhooks.get(endpoint_id)

    @patch("/{endpoint_id:uuid}", summary="Change a webhook endpoint; enable or disable it")
    async def patch_endpoint(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[uuid.UUID], data: JSONBody[EndpointPatch]
    ) -> EndpointOut:
        return await webhooks.update(endpoint_id, data)

    @delete("/{endpoint_id:uuid}", summary="Delete a webhook endpoint and its messages")
    async def delete_endpoint(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[uuid.UUID]
    ) -> None:
        await webhooks.delete(endpoint_id)

    @post(
        "/{endpoint_id:uuid}/secret/rotate",
        status_code=HTTP_200_OK,
        summary="A new signing secret (in this answer only); the old one keeps signing beside it for the overlap",
    )
    async def rotate_secret(
        self,
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromPath[uuid.UUID],
        data: JSONBody[SecretRotate | None] = None,
    ) -> EndpointCreated:
        overlap = (data or SecretRotate()).overlap_hours
        return await webhooks.rotate_secret(endpoint_id, overlap)

    @get("/{endpoint_id:uuid}/deliveries", summary="The messages sent to the endpoint, newest first, with attempts")
    async def list_deliveries(
        self,
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromPath[uuid.UUID],
        limit: Limit = 50,
        cursor: Cursor = None,
        status: Annotated[MessageStatus | None, Parameter(description="Only messages in this status.")] = None,
        event_type: Annotated[
            EventType | TestEventType | None, Parameter(description="Only messages of this event type.")
        ] = None,
    ) -> DeliveryPage:
        return await webhooks.deliveries(endpoint_id, limit=limit, cursor=cursor, status=status, event_type=event_type)

    @get(
        "/{endpoint_id:uuid}/messages/{message_id:str}",
        summary="One message: its body as sent and every attempt",
    )
    async def get_message(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[uuid.UUID], message_id: MessageIdParam
    ) -> MessageOut:
        return await webhooks.message(endpoint_id, message_id)

    @post(
        "/{endpoint_id:uuid}/messages/{message_id:str}/replay",
        status_code=HTTP_202_ACCEPTED,
        summary="Send one message again: due now, its retries started again (earlier attempts kept)",
        opt=problems(_DISABLED),
    )
    async def replay_message(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[uuid.UUID], message_id: MessageIdParam
    ) -> DeliveryOut:
        return await webhooks.replay_one(endpoint_id, message_id)

    @post(
        "/{endpoint_id:uuid}/replay",
        status_code=HTTP_202_ACCEPTED,
        summary="Send again every message created since a time (or only the failed ones)",
        opt=problems(_DISABLED),
    )
    async def replay_since(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[uuid.UUID], data: JSONBody[ReplaySince]
    ) -> ReplayQueued:
        queued = await webhooks.replay_since(endpoint_id, data.since, only_failed=data.only_failed)
        return ReplayQueued(queued=queued)

    @post(
        "/{endpoint_id:uuid}/test",
        status_code=HTTP_200_OK,
        summary="Send a webhook.test event now; 200 when the endpoint answered 2xx",
        description=(
            "Any failure (the address refused, a name that does not resolve, no connection, a timeout, an answer "
            "that is not 2xx) is the same 422 `test_delivery_failed`: the answer never tells which, so the button "
            "cannot probe what the server reaches. The attempt shows in the endpoint's deliveries."
        ),
        opt=problems({422: ["test_delivery_failed"]}),
    )
    async def send_test(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[uuid.UUID]
    ) -> TestDelivered:
        return await webhooks.send_test(endpoint_id)
