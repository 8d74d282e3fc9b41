"""API keys: create (secret shown once), list, revoke; and the brand's first admin key."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.key_routes import add_route
from solomo.auth.principal import Principal, Role
from solomo.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyPage
from solomo.auth.secrets import display_prefix, hash_secret, new_api_key_secret
from solomo.db.models import ApiKey
from solomo.errors import conflict, invalid, not_found
from solomo.pagination import newest_first_page, split_page
from solomo.stores.service import StoreService


def _out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        role=key.role,  # type: ignore[arg-type]
        store_ids=list(key.store_ids),
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


class ApiKeyService:
    def __init__(self, session: AsyncSession, brand_id: uuid.UUID) -> None:
        self.session = session
        self.brand_id = brand_id

    async def create(self, data: ApiKeyCreate, *, secret: str | None = None) -> ApiKeyCreated:
        if data.role == Role.MANAGER.value and not data.store_ids:
            raise invalid("store_ids", "a manager key needs at least one store")
        if data.role != Role.MANAGER.value and data.store_ids:
            raise invalid("store_ids", "only manager keys are scoped to stores")
        missing = await StoreService(self.session, Principal(self.brand_id, Role.ADMIN)).missing_ids(data.store_ids)
        if missing:
            index = data.store_ids.index(missing[0])
            raise invalid(f"store_ids[{index}]", f"no store {missing[0]} in this brand")
        secret = secret or new_api_key_secret()
        key = ApiKey(
            brand_id=self.brand_id,
            name=data.name,
            role=data.role,
            store_ids=sorted(set(data.store_ids)),
            secret_hash=hash_secret(secret),
            prefix=display_prefix(secret),
        )
        self.session.add(key)
        await self.session.flush()
        await self.session.refresh(key)
        add_route(self.session, key)
        await self.session.flush()
        return ApiKeyCreated(**msgspec.structs.asdict(_out(key)), secret=secret)

    async def page(self, *, limit: int, cursor: str | None, include_revoked: bool) -> ApiKeyPage:
        query = select(ApiKey).where(ApiKey.brand_id == self.brand_id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        rows = (await self.session.scalars(newest_first_page(query, ApiKey, cursor, limit))).all()
        keys, next_cursor = split_page(rows, limit)
        return ApiKeyPage(items=[_out(k) for k in keys], next_cursor=next_cursor)

    async def revoke(self, key_id: uuid.UUID) -> datetime:
        """Revoke a key; the last live admin key of a brand stays, so nobody locks the brand out."""
        key = await self.session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.brand_id == self.brand_id))
        if key is None:
            raise not_found("API key")
        if key.revoked_at is not None:
            return key.revoked_at
        if key.role == Role.ADMIN:
            # Lock every live admin key of the brand in id order (one fixed order, so two concurrent
            # revocations queue instead of deadlocking, and cannot both see two admins left).
            admins = (
                await self.session.scalars(
                    select(ApiKey.id)
                    .where(ApiKey.brand_id == self.brand_id, ApiKey.role == Role.ADMIN, ApiKey.revoked_at.is_(None))
                    .order_by(ApiKey.id)
                    .with_for_update()
                )
            ).all()
            if key.id in admins and len(admins) <= 1:
                raise conflict(
                    "last_admin_key", "This is the brand's last admin key; create another before revoking it"
                )
        revoked_at: datetime | None = await self.session.scalar(
            update(ApiKey)
            .where(ApiKey.brand_id == self.brand_id, ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(ApiKey.revoked_at)
        )
        if revoked_at is None:  # revoked concurrently: report when
            revoked_at = await self.session.scalar(
                select(ApiKey.revoked_at).where(ApiKey.brand_id == self.brand_id, ApiKey.id == key.id)
            )
        assert revoked_at is not None
        return revoked_at
