"""What a store's lifecycle does to its geofences (called by the stores service; deletion cascades by FK)."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_SWITCH_OFF = text(
    "UPDATE geofences SET active = false, updated_at = now() WHERE brand_id = :brand_id AND store_id = :store_id"
)


async def switch_off_store_fences(session: AsyncSession, brand_id: uuid.UUID, store_id: uuid.UUID) -> None:
    """An archived store's fences stop matching, and stay for the history that names them."""
    await session.execute(_SWITCH_OFF, {"brand_id": brand_id, "store_id": store_id})
