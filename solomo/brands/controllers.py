from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import ADMIN, STAFF
from solomo.auth.middleware import principal_of
from solomo.brands.schemas import BrandOut, BrandPatch
from solomo.brands.service import BrandService


class BrandController(Controller):
    path = "/v1/brand"
    tags = ["Brand"]

    @get(guards=[STAFF], summary="The calling key's brand and its settings")
    async def get_brand(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> BrandOut:
        return await BrandService(db_session).get(principal_of(request).brand_id)

    @patch(guards=[ADMIN], summary="Change the brand's name, time zone or check-in rules")
    async def patch_brand(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: JSONBody[BrandPatch]
    ) -> BrandOut:
        return await BrandService(db_session).update(principal_of(request).brand_id, data)
