from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ForeignKeyConstraint, Identity, Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from solomo.db.base import Base, created_at, updated_at


class WebhookEndpoint(Base):
    """Where a brand wants its events sent, and the secret that signs them (Standard Webhooks 1.0).

    The secret is kept as it is (``whsec_…``): signing needs it, unlike an API key, which is only compared.
    While a rotation overlaps, ``previous_secret`` signs too, until ``previous_secret_until``.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (ForeignKeyConstraint(["brand_id"], ["brands.id"], ondelete="CASCADE"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    url: Mapped[str]
    description: Mapped[str] = mapped_column(server_default=text("''"))
    #: The event types sent to this endpoint; NULL means every type, today's and future ones.
    event_types: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    enabled: Mapped[bool] = mapped_column(server_default=text("true"))
    #: Raw coordinates go out only to an endpoint that asks for them (and only for consenting members).
    include_location: Mapped[bool] = mapped_column(server_default=text("false"))
    secret: Mapped[str]
    previous_secret: Mapped[str | None]
    previous_secret_until: Mapped[datetime | None]
    #: Why the endpoint was disabled: "disabled_by_user", "gone" (it answered 410), "failing" (5 days of failures).
    disabled_reason: Mapped[str | None]
    disabled_at: Mapped[datetime | None]
    #: The first failed attempt since the last delivered one (NULL while deliveries succeed).
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class WebhookOutbox(Base):
    """What happened, written in the transaction that made it happen (one row per change, at most).

    The worker turns each row into one message per event and subscribed endpoint, then deletes it; a rolled-back
    change leaves no row, a committed one always leaves one. Written only while the brand has an enabled endpoint.
    """

    __tablename__ = "webhook_outbox"

    brand_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    #: "checkin", "claim", "redemption", "void", "member.created", "member.merged", "member.erased".
    kind: Mapped[str]
    member_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at()


class WebhookMessage(Base):
    """One event for one endpoint: the exact body sent (so a retry or replay signs the same bytes)."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "endpoint_id"], ["webhook_endpoints.brand_id", "webhook_endpoints.id"], ondelete="CASCADE"
        ),
        Index("ix_webhook_messages_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_messages_endpoint", "brand_id", "endpoint_id", "created_at"),
        Index("ix_webhook_messages_member", "brand_id", "member_id", postgresql_where=text("member_id IS NOT NULL")),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    endpoint_id: Mapped[uuid.UUID]
    event_type: Mapped[str]
    #: The member the event is about, so erasure can find (and delete) what is still queued about them.
    member_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: "pending" (due at next_attempt_at), "delivered", "failed" (the schedule ran out or the endpoint is off).
    status: Mapped[str] = mapped_column(server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))
    #: A worker's lease: while it is in the future, the worker that took the message is sending it.
    claimed_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


class WebhookAttempt(Base):
    """One try at sending a message: what the endpoint answered (or why nothing was), for the operators."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["brand_id", "message_id"], ["webhook_messages.brand_id", "webhook_messages.id"], ondelete="CASCADE"
        ),
        Index("ix_webhook_attempts_endpoint", "brand_id", "endpoint_id", "attempted_at"),
        Index("ix_webhook_attempts_message", "brand_id", "message_id"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    message_id: Mapped[uuid.UUID]
    endpoint_id: Mapped[uuid.UUID]
    attempted_at: Mapped[datetime] = created_at()
    #: The HTTP status, or NULL when no answer came (see ``error``).
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    #: The first bytes of the answer's body, as text (replacement characters for bytes that are not UTF-8).
    response_excerpt: Mapped[str | None]
    #: "timeout", "redirect", "address_refused", "connection_failed", "too_large": no answer worth a status.
    error: Mapped[str | None]
    delivered: Mapped[bool]
