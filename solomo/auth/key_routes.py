"""Finding an API key's brand from its secret: ``api_key_routes``, the one look-up that cannot name a brand first.

Every other statement reads a brand's rows by ``brand_id`` (Citus sends it to that brand's shard); a key's hash is
all a request brings, so its brand comes from this small reference table first, and is remembered per process
(:class:`KeyRoutes`): which brand a key belongs to never changes. Whether the key is still live is not
remembered: the statement that uses the key checks ``revoked_at`` on the key's own row every time.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.db.models import ApiKey, ApiKeyRoute


class KeyRoute(NamedTuple):
    brand_id: uuid.UUID
    key_id: uuid.UUID


class KeyRoutes:
    """Key hash → (brand, key id), at most ``size`` keys per process (the least recently used go first). Only
    keys that exist are remembered, so a key made a moment later works at once."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._known: OrderedDict[bytes, KeyRoute] = OrderedDict()

    def get(self, secret_hash: bytes) -> KeyRoute | None:
        known = self._known.get(secret_hash)
        if known is not None:
            self._known.move_to_end(secret_hash)
        return known

    def remember(self, secret_hash: bytes, route: KeyRoute) -> None:
        self._known[secret_hash] = route
        if len(self._known) > self.size:
            self._known.popitem(last=False)


async def get_route_by_secret_hash(session: AsyncSession, secret_hash: bytes) -> KeyRoute | None:
    row = (
        await session.execute(
            select(ApiKeyRoute.brand_id, ApiKeyRoute.key_id).where(ApiKeyRoute.secret_hash == secret_hash)
        )
    ).first()
    return None if row is None else KeyRoute(row.brand_id, row.key_id)


async def get_live_key_by_secret_hash(session: AsyncSession, secret_hash: bytes) -> ApiKey | None:
    """The unrevoked key with this hash: its brand from the routes, then the key on its brand's rows."""
    route = await get_route_by_secret_hash(session, secret_hash)
    if route is None:
        return None
    key: ApiKey | None = await session.scalar(
        select(ApiKey).where(
            ApiKey.brand_id == route.brand_id,
            ApiKey.id == route.key_id,
            ApiKey.secret_hash == secret_hash,
            ApiKey.revoked_at.is_(None),
        )
    )
    return key


def add_route(session: AsyncSession, key: ApiKey) -> None:
    """The key's route, written in the key's transaction (a reference table: on Citus, to every node)."""
    session.add(ApiKeyRoute(secret_hash=key.secret_hash, brand_id=key.brand_id, key_id=key.id))
