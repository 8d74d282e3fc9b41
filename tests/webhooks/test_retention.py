"""Finished webhook messages are deleted after 30 days, or the brand's shorter coordinate retention; pending ones
stay (solomo/webhooks/retention.py)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from solomo.webhooks.retention import purge_old_messages
from tests.conftest import BrandContext


async def test_finished_messages_go_after_their_keeping_time(brand: BrandContext, engine: AsyncEngine) -> None:
    async with brand.sessions() as session, session.begin():
        endpoint = await session.scalar(
            text(
                "INSERT INTO webhook_endpoints (brand_id, url, secret) VALUES (:b, 'https://h.example.com/', 'whsec_x')"
                " RETURNING id"
            ),
            {"b": brand.id},
        )
        await session.execute(text("UPDATE brands SET retention_days = 7 WHERE id = :b"), {"b": brand.id})
        for status, age_days, event in [
            ("delivered", 8, "old-delivered"),
            ("failed", 8, "old-failed"),
            ("pending", 40, "old-pending"),
            ("delivered", 6, "recent-delivered"),
        ]:
            await session.execute(
                text(
                    "INSERT INTO webhook_messages (brand_id, endpoint_id, event_type, payload, status, created_at)"
                    " VALUES (:b, :e, :t, '{}', :s, now() - make_interval(days => :d))"
                ),
                {"b": brand.id, "e": endpoint, "t": event, "s": status, "d": age_days},
            )
    assert await purge_old_messages(engine, batch=1) >= 2
    async with brand.sessions() as session:
        left = await session.scalars(
            text("SELECT event_type FROM webhook_messages WHERE brand_id = :b ORDER BY event_type"), {"b": brand.id}
        )
        assert list(left) == ["old-pending", "recent-delivered"]
