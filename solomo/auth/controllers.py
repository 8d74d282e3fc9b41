from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import ADMIN
from solomo.auth.middleware import principal_of
from solomo.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPage
from solomo.auth.service import ApiKeyService
from solomo.openapi_contract import problems
from solomo.pagination import Cursor, Limit


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["API keys"]
    guards = [ADMIN]

    @post(summary="Create an API key (the secret is in this answer only)")
    async def create_key(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: JSONBody[ApiKeyCreate]
    ) -> ApiKeyCreated:
        return await ApiKeyService(db_session, principal_of(request).brand_id).create(data)

    @get(summary="List the brand's API keys (never their secrets)")
    async def list_keys(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
        include_revoked: Annotated[bool, Parameter(description="Also list revoked keys.")] = False,
    ) -> ApiKeyPage:
        service = ApiKeyService(db_session, principal_of(request).brand_id)
        return await service.page(limit=limit, cursor=cursor, include_revoked=include_revoked)

    @delete("/{key_id:uuid}", summary="Revoke an API key at once", opt=problems({409: ["last_admin_key"]}))
    async def revoke_key(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], key_id: FromPath[uuid.UUID]
    ) -> None:
        await ApiKeyService(db_session, principal_of(request).brand_id).revoke(key_id)
