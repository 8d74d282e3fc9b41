"""From the outbox to messages: each outbox row becomes one message per event and subscribed, enabled endpoint.

Runs in the worker (solomo/webhooks/worker.py), off the hot path, in one transaction per batch: the outbox rows
are taken ``FOR UPDATE SKIP LOCKED`` (several workers split the rows, none waits on another) and deleted in
the same transaction that writes their messages, so a row is turned into messages exactly once, and a worker
killed halfway leaves its rows for the next one.

Which endpoints get a message is decided here, by the endpoints enabled and subscribed now. The location goes
only to endpoints with ``include_location``, and only while the member consents to location use.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import asyncpg
import msgspec

from solomo.webhooks.events import envelope, events_of, with_location

logger = logging.getLogger(__name__)

_TAKE_OUTBOX = """
SELECT brand_id, id, kind, member_id, payload::text AS payload
  FROM webhook_outbox
 ORDER BY id
 LIMIT $1
   FOR UPDATE SKIP LOCKED
"""
_ENABLED_ENDPOINTS = """
SELECT brand_id, id, event_types, include_location
  FROM webhook_endpoints
 WHERE brand_id = ANY($1::uuid[]) AND enabled
"""
_LOCATION_CONSENT = """
SELECT id FROM members WHERE brand_id = ANY($1::uuid[]) AND id = ANY($2::uuid[]) AND consent_location
"""
_INSERT_MESSAGES = """
INSERT INTO webhook_messages (brand_id, id, endpoint_id, event_type, member_id, payload)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::jsonb[])
"""
_DELETE_OUTBOX = """
DELETE FROM webhook_outbox o
 USING unnest($1::uuid[], $2::bigint[]) AS t(brand_id, id)
 WHERE o.brand_id = t.brand_id AND o.id = t.id
"""


async def fan_out(conn: asyncpg.Connection, limit: int = 500) -> int:
    """Turn up to ``limit`` outbox rows into messages; the number of outbox rows consumed (0: nothing left)."""
    async with conn.transaction():
        rows = await conn.fetch(_TAKE_OUTBOX, limit)
        if not rows:
            return 0
        brands = sorted({r["brand_id"] for r in rows})
        endpoints: dict[uuid.UUID, list[asyncpg.Record]] = {}
        for endpoint in await conn.fetch(_ENABLED_ENDPOINTS, brands):
            endpoints.setdefault(endpoint["brand_id"], []).append(endpoint)
        wants_location = [r["member_id"] for r in rows if r["kind"] == "checkin" and _any_locating(endpoints, r)]
        consenting: set[uuid.UUID] = set()
        if wants_location:
            consenting = {m["id"] for m in await conn.fetch(_LOCATION_CONSENT, brands, wants_location)}

        columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
        for row in rows:
            payload: dict[str, Any] = json.loads(row["payload"])
            try:
                events = list(events_of(row["kind"], payload))
            except (KeyError, TypeError, msgspec.ValidationError):
                # A row this code cannot read (a bug, or a newer writer) must not stop every row behind it: it is
                # logged whole, as the dead letter, and consumed.
                logger.exception(
                    "webhook outbox row unreadable; dropped",
                    extra={"brand_id": str(row["brand_id"]), "outbox_id": row["id"], "kind": row["kind"],
                           "payload": row["payload"]},
                )  # fmt: skip
                continue
            for event in events:
                for endpoint in endpoints.get(row["brand_id"], ()):
                    if endpoint["event_types"] is not None and event.type not in endpoint["event_types"]:
                        continue
                    data = event.data
                    if event.locatable and endpoint["include_location"] and row["member_id"] in consenting:
                        data = with_location(data, payload["location"])
                    for column, value in zip(
                        columns,
                        (
                            row["brand_id"],
                            uuid.uuid4(),
                            endpoint["id"],
                            event.type,
                            row["member_id"],
                            envelope(event.type, event.timestamp, data).decode(),
                        ),
                        strict=True,
                    ):
                        column.append(value)
        if columns[0]:
            await conn.execute(_INSERT_MESSAGES, *columns)
        await conn.execute(_DELETE_OUTBOX, [r["brand_id"] for r in rows], [r["id"] for r in rows])
        return len(rows)


def _any_locating(endpoints: dict[uuid.UUID, list[asyncpg.Record]], row: asyncpg.Record) -> bool:
    return any(e["include_location"] for e in endpoints.get(row["brand_id"], ()))
