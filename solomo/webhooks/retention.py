"""How long webhook messages are kept: a message that is done (delivered or failed) goes, with its attempts,
after ``KEEP_DAYS``, or sooner when the brand keeps raw check-in coordinates for less (a message to an endpoint
with ``include_location`` holds them). Pending messages stay whatever their age: they still have to go out.

Deleted in small batches with ``SKIP LOCKED`` (solomo maintenance purge runs while the API and workers do).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

#: Days the deliveries list can show a finished message.
KEEP_DAYS = 30

_OLD_MESSAGES = text(
    """
    DELETE FROM webhook_messages m
     USING (SELECT w.brand_id, w.id
              FROM webhook_messages w JOIN brands b ON b.id = w.brand_id
             WHERE w.status <> 'pending'
               AND w.created_at < now() - make_interval(days => least(b.retention_days, :keep_days))
             LIMIT :batch
               FOR UPDATE OF w SKIP LOCKED) old
     WHERE m.brand_id = old.brand_id AND m.id = old.id
    """
)


async def purge_old_messages(engine: AsyncEngine, *, batch: int = 5000) -> int:
    """Delete the finished messages past their keeping time; how many went."""
    deleted = 0
    while True:
        async with engine.begin() as conn:
            done = (await conn.execute(_OLD_MESSAGES, {"batch": batch, "keep_days": KEEP_DAYS})).rowcount
        deleted += done
        if done < batch:
            return deleted
