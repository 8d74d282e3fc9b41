"""Brands: created from the command line with a first admin key; read and tuned by their admins."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.schemas import ApiKeyCreate, ApiKeyCreated
from solomo.auth.service import ApiKeyService
from solomo.brands.schemas import BrandOut, BrandPatch
from solomo.db.models import Brand
from solomo.errors import not_found
from solomo.timezones import check_timezone


def _out(brand: Brand) -> BrandOut:
    return BrandOut(**{f: getattr(brand, f) for f in BrandOut.__struct_fields__})


class BrandService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self, name: str, *, timezone: str = "UTC", admin_secret: str | None = None
    ) -> tuple[BrandOut, ApiKeyCreated]:
        """A new brand and its first admin key (the only way in for a new brand)."""
        check_timezone(timezone)
        brand = Brand(name=name, timezone=timezone)
        self.session.add(brand)
        await self.session.flush()
        await self.session.refresh(brand)
        key = await ApiKeyService(self.session, brand.id).create(
            ApiKeyCreate(name="first admin key", role="admin"), secret=admin_secret
        )
        return _out(brand), key

    async def get(self, brand_id: uuid.UUID) -> BrandOut:
        brand = await self.session.get(Brand, brand_id)
        if brand is None:
            raise not_found("brand")
        return _out(brand)

    async def find_by_name(self, name: str) -> BrandOut | None:
        brand = await self.session.scalar(select(Brand).where(Brand.name == name).order_by(Brand.created_at).limit(1))
        return _out(brand) if brand else None

    async def update(self, brand_id: uuid.UUID, patch: BrandPatch) -> BrandOut:
        changes = patch.changes()
        if isinstance(patch.timezone, str):
            check_timezone(patch.timezone)
        if changes:
            await self.session.execute(update(Brand).where(Brand.id == brand_id).values(**changes))
            # The UPDATE bypasses the identity map; re-read the row as the database now has it.
            self.session.expire_all()
        return await self.get(brand_id)
