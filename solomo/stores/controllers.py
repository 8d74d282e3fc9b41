from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import ADMIN, MANAGERS, STAFF
from solomo.auth.middleware import principal_of
from solomo.coordinates import CrsQuery, Lat, Lon, answer_in
from solomo.geo.crs import to_wgs84
from solomo.openapi_contract import problems
from solomo.pagination import Cursor, Limit
from solomo.stores.schemas import NearbyStores, StoreCreate, StoreOut, StorePage, StorePatch
from solomo.stores.service import MAX_NEARBY_RADIUS_M, StoreService


class StoreController(Controller):
    path = "/v1/stores"
    tags = ["Stores"]

    @post(guards=[ADMIN], summary="Create a store", opt=problems({409: ["external_ref_taken"]}))
    async def create_store(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[StoreCreate],
        crs: CrsQuery = "wgs84",
    ) -> StoreOut:
        return answer_in(crs, await StoreService(db_session, principal_of(request)).create(data, crs=crs))

    @get(guards=[STAFF], summary="List stores (a manager sees its own)")
    async def list_stores(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
        tag: Annotated[str | None, Parameter(description="Only stores with this tag.", max_length=50)] = None,
        include_archived: Annotated[bool, Parameter(description="Also list archived stores.")] = False,
        crs: CrsQuery = "wgs84",
    ) -> StorePage:
        service = StoreService(db_session, principal_of(request))
        return answer_in(
            crs, await service.page(limit=limit, cursor=cursor, tag=tag, include_archived=include_archived)
        )

    @get("/nearby", guards=[STAFF], summary="Stores nearest to a point, with their distance in metres")
    async def nearby_stores(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        lon: Lon,
        lat: Lat,
        radius_m: Annotated[float, Parameter(gt=0, le=MAX_NEARBY_RADIUS_M, description="Search radius (m).")] = 5000,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 20,
        crs: CrsQuery = "wgs84",
    ) -> NearbyStores:
        service = StoreService(db_session, principal_of(request))
        lon, lat = to_wgs84(crs, lon, lat)
        return answer_in(crs, await service.nearby(lon=lon, lat=lat, radius_m=radius_m, limit=limit))

    @get("/{store_id:uuid}", guards=[STAFF], summary="One store")
    async def get_store(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        store_id: FromPath[uuid.UUID],
        crs: CrsQuery = "wgs84",
    ) -> StoreOut:
        return answer_in(crs, await StoreService(db_session, principal_of(request)).get(store_id))

    @patch(
        "/{store_id:uuid}",
        guards=[MANAGERS],
        summary="Change a store",
        opt=problems({403: ["store_out_of_scope"], 409: ["external_ref_taken", "store_archived"]}),
    )
    async def patch_store(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        store_id: FromPath[uuid.UUID],
        data: JSONBody[StorePatch],
        crs: CrsQuery = "wgs84",
    ) -> StoreOut:
        return answer_in(crs, await StoreService(db_session, principal_of(request)).update(store_id, data, crs=crs))

    @delete(
        "/{store_id:uuid}",
        guards=[ADMIN],
        summary="Delete a store and its geofences",
        opt=problems({403: ["store_out_of_scope"]}),
    )
    async def delete_store(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], store_id: FromPath[uuid.UUID]
    ) -> None:
        await StoreService(db_session, principal_of(request)).delete(store_id)
