"""Webhook endpoints of a brand: create (secret shown once), list, change, delete, rotate the secret; the messages
sent to an endpoint with their attempts, replays, and the test event.

Sending is the worker's (solomo/webhooks/worker.py); this service only writes what the worker reads: the
endpoint's columns, and a replayed message's state (pending and due now, its schedule started again) followed by
a NOTIFY so a listening worker picks it up at once. The test event is the one message sent from a request.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy import Select, Update, delete, func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.config import Settings
from solomo.db.models.webhook import WebhookAttempt, WebhookEndpoint, WebhookMessage
from solomo.errors import ApiError, conflict, invalid, not_found
from solomo.pagination import decode_time_id, newest_first_page, split_page
from solomo.webhooks.events import TEST_EVENT, TestEvent, envelope
from solomo.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    MessageOut,
    MessageStatus,
    TestDelivered,
)
from solomo.webhooks.sender import EndpointForSending, send_once
from solomo.webhooks.signing import SECRET_PREFIX, wire_id
from solomo.webhooks.urls import UrlRules, url_problem

#: 256 random bits, as long as the HMAC-SHA256 output (Standard Webhooks libraries take 24 to 64 bytes).
SECRET_BYTES = 32
MESSAGE_PREFIX = "msg_"
#: What the test event says, and the one answer to any failed test send (see ``send_test``).
TEST_MESSAGE = "A test event from SoLoMo: your endpoint received it."
TEST_FAILED = "The endpoint did not accept the test event"
#: Attempts shown per message in a list (the message's own page shows them all).
ATTEMPTS_PER_LISTED_MESSAGE = 20
_NOTIFY = text("SELECT pg_notify('solomo_webhooks', '')")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def parse_message_id(wire_id: str) -> uuid.UUID | None:
    if not wire_id.startswith(MESSAGE_PREFIX) or len(wire_id) != len(MESSAGE_PREFIX) + 32:
        return None
    try:
        return uuid.UUID(hex=wire_id[len(MESSAGE_PREFIX) :])
    except ValueError:
        return None


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=endpoint.event_types,  # type: ignore[arg-type]  # written from the EventType literal only
        enabled=endpoint.enabled,
        include_location=endpoint.include_location,
        disabled_reason=endpoint.disabled_reason,  # type: ignore[arg-type]
        disabled_at=endpoint.disabled_at,
        failing_since=endpoint.failing_since,
        previous_secret_until=endpoint.previous_secret_until,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _created(endpoint: WebhookEndpoint) -> EndpointCreated:
    out = endpoint_out(endpoint)
    return EndpointCreated(**{f: getattr(out, f) for f in out.__struct_fields__}, secret=endpoint.secret)


def _attempt_out(attempt: WebhookAttempt) -> AttemptOut:
    return AttemptOut(
        attempted_at=attempt.attempted_at,
        status_code=attempt.status_code,
        latency_ms=attempt.latency_ms,
        response_excerpt=attempt.response_excerpt,
        error=attempt.error,  # type: ignore[arg-type]
        delivered=attempt.delivered,
    )


def _delivery_fields(message: WebhookMessage, attempts: list[WebhookAttempt]) -> dict[str, object]:
    return {
        "id": wire_id(message.id),
        "event_type": message.event_type,
        "status": message.status,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "last_attempt_at": message.last_attempt_at,
        "delivered_at": message.delivered_at,
        "created_at": message.created_at,
        "attempt_history": [_attempt_out(a) for a in attempts],
    }


def _event_types(types: list[str] | None) -> list[str] | None:
    """Each type once, in a stable order (the decoder already refused unknown ones, naming ``event_types[i]``)."""
    return None if types is None else sorted(set(types))


class WebhookService:
    def __init__(self, session: AsyncSession, brand_id: uuid.UUID, settings: Settings) -> None:
        self.session = session
        self.brand_id = brand_id
        self.settings = settings
        self.rules = UrlRules.from_settings(settings)

    # -- endpoints ---------------------------------------------------------------------------------------------

    def _check_url(self, url: str) -> None:
        problem = url_problem(url, self.rules)
        if problem is not None:
            raise invalid("url", problem)

    async def create(self, data: EndpointCreate) -> EndpointCreated:
        self._check_url(data.url)
        endpoint = WebhookEndpoint(
            brand_id=self.brand_id,
            url=data.url,
            description=data.description,
            event_types=_event_types(list(data.event_types) if data.event_types is not None else None),
            enabled=data.enabled,
            include_location=data.include_location,
            secret=new_secret(),
            disabled_reason=None if data.enabled else "disabled_by_user",
            disabled_at=None if data.enabled else func.now(),
        )
        self.session.add(endpoint)
        await self.session.flush()
        await self.session.refresh(endpoint)
        return _created(endpoint)

    async def page(self, *, limit: int, cursor: str | None) -> EndpointPage:
        query = select(WebhookEndpoint).where(WebhookEndpoint.brand_id == self.brand_id)
        rows = (await self.session.scalars(newest_first_page(query, WebhookEndpoint, cursor, limit))).all()
        endpoints, next_cursor = split_page(rows, limit)
        return EndpointPage(items=[endpoint_out(e) for e in endpoints], next_cursor=next_cursor)

    async def endpoint(self, endpoint_id: uuid.UUID, *, for_update: bool = False) -> WebhookEndpoint:
        query = select(WebhookEndpoint).where(
            WebhookEndpoint.brand_id == self.brand_id, WebhookEndpoint.id == endpoint_id
        )
        if for_update:
            query = query.with_for_update()
        endpoint = await self.session.scalar(query)
        if endpoint is None:
            raise not_found("webhook endpoint")
        return endpoint

    async def get(self, endpoint_id: uuid.UUID) -> EndpointOut:
        return endpoint_out(await self.endpoint(endpoint_id))

    async def update(self, endpoint_id: uuid.UUID, data: EndpointPatch) -> EndpointOut:
        changes = data.changes()
        if "url" in changes:
            self._check_url(str(changes["url"]))
        # Locked: the worker may be disabling the endpoint (410, 5 days failing) while the brand changes it.
        endpoint = await self.endpoint(endpoint_id, for_update=True)
        if "url" in changes and changes["url"] != endpoint.url:
            endpoint.url = str(changes["url"])
            endpoint.failing_since = None  # the failures were the old address's
        if "description" in changes:
            endpoint.description = str(changes["description"])
        if "include_location" in changes:
            endpoint.include_location = bool(changes["include_location"])
        if "event_types" in changes:
            types = changes["event_types"]
            endpoint.event_types = _event_types(list(types) if isinstance(types, list) else None)
        enable = changes.get("enabled")
        resumed = False
        if enable is True and not endpoint.enabled:
            # Back on: the reason it was off is history, and its waiting messages go out (the NOTIFY below).
            endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
            endpoint.failing_since = None
            resumed = True
        elif enable is False and endpoint.enabled:
            # Only when it was on: turning off an endpoint the worker disabled keeps the reason it gave.
            endpoint.enabled, endpoint.disabled_reason = False, "disabled_by_user"
            endpoint.disabled_at = func.now()
        endpoint.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(endpoint)
        if resumed:
            await self.session.execute(_NOTIFY)
        return endpoint_out(endpoint)

    async def delete(self, endpoint_id: uuid.UUID) -> None:
        """The endpoint and every message and attempt of it (the foreign keys cascade)."""
        deleted = await self.session.scalar(
            delete(WebhookEndpoint)
            .where(WebhookEndpoint.brand_id == self.brand_id, WebhookEndpoint.id == endpoint_id)
            .returning(WebhookEndpoint.id)
        )
        if deleted is None:
            raise not_found("webhook endpoint")

    async def rotate_secret(self, endpoint_id: uuid.UUID, overlap_hours: int) -> EndpointCreated:
        """A new secret; the current one keeps signing beside it for ``overlap_hours`` (none: it stops now).

        Rotating again during an overlap ends the older overlap: only the secret being replaced keeps signing.
        """
        endpoint = await self.endpoint(endpoint_id, for_update=True)
        if overlap_hours > 0:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_until = func.now() + timedelta(hours=overlap_hours)
        else:
            endpoint.previous_secret, endpoint.previous_secret_until = None, None
        endpoint.secret = new_secret()
        endpoint.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(endpoint)
        return _created(endpoint)

    # -- messages ----------------------------------------------------------------------------------------------

    def _messages(self, endpoint_id: uuid.UUID) -> Select[tuple[WebhookMessage]]:
        return select(WebhookMessage).where(
            WebhookMessage.brand_id == self.brand_id, WebhookMessage.endpoint_id == endpoint_id
        )

    async def _attempts(
        self, message_ids: list[uuid.UUID], *, per_message: int | None
    ) -> dict[uuid.UUID, list[WebhookAttempt]]:
        """The attempts of ``message_ids``, newest first, in one query (at most ``per_message`` each)."""
        if not message_ids:
            return {}
        mine = (WebhookAttempt.brand_id == self.brand_id) & WebhookAttempt.message_id.in_(message_ids)
        newest_first = (WebhookAttempt.attempted_at.desc(), WebhookAttempt.id.desc())
        query = select(WebhookAttempt).where(mine)
        if per_message is not None:
            rank = func.row_number().over(partition_by=WebhookAttempt.message_id, order_by=newest_first)
            ranked = select(WebhookAttempt.id, rank.label("rank")).where(mine).subquery()
            query = query.join(ranked, WebhookAttempt.id == ranked.c.id).where(ranked.c.rank <= per_message)
        found: dict[uuid.UUID, list[WebhookAttempt]] = {m: [] for m in message_ids}
        for attempt in (await self.session.scalars(query.order_by(*newest_first))).all():
            found[attempt.message_id].append(attempt)
        return found

    async def deliveries(
        self,
        endpoint_id: uuid.UUID,
        *,
        limit: int,
        cursor: str | None,
        status: MessageStatus | None,
        event_type: str | None,
    ) -> DeliveryPage:
        await self.endpoint(endpoint_id)
        query = self._messages(endpoint_id)
        if status is not None:
            query = query.where(WebhookMessage.status == status)
        if event_type is not None:
            query = query.where(WebhookMessage.event_type == event_type)
        if cursor:
            at, after = decode_time_id(cursor)
            query = query.where(tuple_(WebhookMessage.created_at, WebhookMessage.id) < (at, after))
        query = query.order_by(WebhookMessage.created_at.desc(), WebhookMessage.id.desc()).limit(limit + 1)
        messages, next_cursor = split_page((await self.session.scalars(query)).all(), limit)
        attempts = await self._attempts([m.id for m in messages], per_message=ATTEMPTS_PER_LISTED_MESSAGE)
        items = [DeliveryOut(**_delivery_fields(m, attempts[m.id])) for m in messages]  # type: ignore[arg-type]
        return DeliveryPage(items=items, next_cursor=next_cursor)

    async def message(self, endpoint_id: uuid.UUID, wire_id: str) -> MessageOut:
        await self.endpoint(endpoint_id)
        message_id = parse_message_id(wire_id)
        message = None
        if message_id is not None:
            message = await self.session.scalar(self._messages(endpoint_id).where(WebhookMessage.id == message_id))
        if message is None:
            raise not_found("message")
        attempts = await self._attempts([message.id], per_message=None)
        return MessageOut(**_delivery_fields(message, attempts[message.id]), payload=message.payload)  # type: ignore[arg-type]

    async def _replayable(self, endpoint_id: uuid.UUID) -> None:
        endpoint = await self.endpoint(endpoint_id)
        if not endpoint.enabled:
            raise conflict(
                "endpoint_disabled",
                "The endpoint is disabled: enable it first (its waiting messages then go out by themselves)",
            )

    def _requeue(self, endpoint_id: uuid.UUID) -> Update:
        """Pending and due now, its retry schedule started again, no longer marked delivered; attempts kept.

        A message a worker is sending right now (its lease running) keeps the lease: no second worker sends it
        at the same time, and whatever the first records is what the message then says.
        """
        return (
            update(WebhookMessage)
            .where(WebhookMessage.brand_id == self.brand_id, WebhookMessage.endpoint_id == endpoint_id)
            .values(status="pending", attempts=0, next_attempt_at=func.now(), delivered_at=None)
        )

    async def replay_one(self, endpoint_id: uuid.UUID, wire_id: str) -> DeliveryOut:
        await self._replayable(endpoint_id)
        message_id = parse_message_id(wire_id)
        replayed = None
        if message_id is not None:
            replayed = await self.session.scalar(
                self._requeue(endpoint_id).where(WebhookMessage.id == message_id).returning(WebhookMessage.id)
            )
        if replayed is None:
            raise not_found("message")
        await self.session.execute(_NOTIFY)
        message = await self.session.scalar(
            self._messages(endpoint_id).where(WebhookMessage.id == replayed).execution_options(populate_existing=True)
        )
        assert message is not None
        attempts = await self._attempts([message.id], per_message=ATTEMPTS_PER_LISTED_MESSAGE)
        return DeliveryOut(**_delivery_fields(message, attempts[message.id]))  # type: ignore[arg-type]

    async def replay_since(self, endpoint_id: uuid.UUID, since: datetime, *, only_failed: bool) -> int:
        await self._replayable(endpoint_id)
        query = self._requeue(endpoint_id).where(WebhookMessage.created_at >= since)
        if only_failed:
            query = query.where(WebhookMessage.status == "failed")
        requeued = query.returning(WebhookMessage.id).cte("requeued")
        queued = await self.session.scalar(select(func.count()).select_from(requeued)) or 0
        if queued:
            await self.session.execute(_NOTIFY)
        return queued

    # -- the test event ----------------------------------------------------------------------------------------

    async def send_test(self, endpoint_id: uuid.UUID) -> TestDelivered:
        """Send a ``webhook.test`` event now and say whether a 2xx came back; stored like any message.

        Any failure is one answer, :func:`failed_test_problem`, whatever happened (an address refused, a name that
        does not resolve, a closed port, a timeout, a 500): told apart, they would make the button a scanner of what
        the server can reach. For the same reason the attempt stored for a test that got no answer says only
        ``connection_failed``. A disabled endpoint can be tested: that is how it is checked before enabling it.

        The request's transaction is committed before sending, so no connection or row lock is held for the up to
        15 s the endpoint may take; the message is leased as a worker leases what it sends, so no worker sends it
        meanwhile (and one sends it, as a retry, if this process dies before recording the result).
        """
        endpoint = await self.endpoint(endpoint_id)
        target = EndpointForSending(
            id=endpoint.id,
            url=endpoint.url,
            secret=endpoint.secret,
            previous_secret=endpoint.previous_secret,
            previous_secret_until=endpoint.previous_secret_until,
        )
        message_id = uuid.uuid4()
        body = envelope(TEST_EVENT, datetime.now(UTC), TestEvent(endpoint_id=endpoint.id, message=TEST_MESSAGE))
        lease = timedelta(seconds=max(self.settings.webhook_lease_seconds, 60))
        self.session.add(
            WebhookMessage(
                brand_id=self.brand_id,
                id=message_id,
                endpoint_id=endpoint.id,
                event_type=TEST_EVENT,
                payload=msgspec.json.decode(body),
                status="pending",
                claimed_until=func.now() + lease,
            )
        )
        await self.session.commit()
        result = await send_once(target, message_id, body, self.settings)
        self.session.add(
            WebhookAttempt(
                brand_id=self.brand_id,
                message_id=message_id,
                endpoint_id=endpoint.id,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                response_excerpt=result.excerpt,
                error="connection_failed" if result.status_code is None else result.error,
                delivered=result.delivered,
            )
        )
        await self.session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.brand_id == self.brand_id, WebhookMessage.id == message_id)
            .values(
                status="delivered" if result.delivered else "failed",
                attempts=WebhookMessage.attempts + 1,
                last_attempt_at=func.now(),
                delivered_at=func.now() if result.delivered else None,
                next_attempt_at=None,
                claimed_until=None,
            )
        )
        if not result.delivered or result.status_code is None:
            await self.session.commit()  # the failed attempt stays on record; the error answer would roll it back
            raise failed_test_problem()
        return TestDelivered(
            delivered=True, message_id=wire_id(message_id), status_code=result.status_code, latency_ms=result.latency_ms
        )


def failed_test_problem() -> ApiError:
    """422, not 502: the API worked and the request was understood; what failed is the endpoint the brand
    configured, which the brand must fix. A 5xx would read as this server failing (alerts, client retries) and a
    502 is also what a proxy in front of the API answers, so it could not be told from ours."""
    return ApiError(HTTP_422_UNPROCESSABLE_ENTITY, "test_delivery_failed", TEST_FAILED)
