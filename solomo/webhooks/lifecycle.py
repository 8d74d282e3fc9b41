"""What other domains' changes do to webhooks: the outbox rows of changes made outside the hot functions (a void,
a member created, merged or erased), and erasure of what is still held about a member.

Each call runs in the caller's session, so the outbox row commits or rolls back with the change it reports
(the same SQL function the hot paths call: solomo/webhooks/sql/webhook_enqueue.sql).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.db.sql import sql_with_uuids

#: What an outbox row written from Python reports (the hot functions write "checkin", "claim", "redemption").
OutboxKind = Literal["void", "member.created", "member.merged", "member.erased"]

# The NOTIFY wakes a worker at once (sent at commit, dropped on rollback). These changes are rare enough for
# NOTIFY's commit lock; the hot functions do not notify (solomo/webhooks/sql/webhook_enqueue.sql says why).
_ENQUEUE = text(
    "SELECT CASE WHEN solomo_webhook_enqueue(:brand_id, :kind, :member_id, CAST(:payload AS jsonb))"
    " THEN pg_notify('solomo_webhooks', '') END"
)

_ERASE = [
    sql_with_uuids("DELETE FROM webhook_outbox WHERE brand_id = :brand_id AND member_id = ANY(:ids)", "ids"),
    sql_with_uuids("DELETE FROM webhook_messages WHERE brand_id = :brand_id AND member_id = ANY(:ids)", "ids"),
]


async def enqueue_event(
    session: AsyncSession, brand_id: uuid.UUID, kind: OutboxKind, member_id: uuid.UUID | None, payload: Any
) -> None:
    """Write the change's outbox row (when the brand has an enabled endpoint), in the caller's transaction."""
    await session.execute(
        _ENQUEUE,
        {"brand_id": brand_id, "kind": kind, "member_id": member_id, "payload": msgspec.json.encode(payload).decode()},
    )


async def erase_member_webhooks(session: AsyncSession, brand_id: uuid.UUID, member_ids: Sequence[uuid.UUID]) -> None:
    """Erasure: what is queued or kept about the members (events, bodies, attempts) goes; the erasure event
    itself is written after this, so receivers still hear of it."""
    for statement in _ERASE:
        await session.execute(statement, {"brand_id": brand_id, "ids": list(member_ids)})
