from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import MANAGERS, STAFF
from solomo.auth.middleware import principal_of
from solomo.coordinates import CrsQuery, answer_in
from solomo.geo.geojson import FeatureCollection
from solomo.geofences.schemas import GeofenceCollection, GeofenceCreate, GeofenceFeature, GeofencePatch, ImportResult
from solomo.geofences.service import GeofenceService
from solomo.openapi_contract import problems
from solomo.pagination import Cursor, Limit

#: Imports carry up to 10,000 fences of up to 10,000 vertices; the general body cap is far smaller.
IMPORT_MAX_BODY_BYTES = 64 * 1024 * 1024


class StoreGeofenceController(Controller):
    path = "/v1/stores/{store_id:uuid}/geofences"
    tags = ["Geofences"]

    @post(
        guards=[MANAGERS],
        summary="Draw a geofence for a store (circle or polygon)",
        opt=problems({403: ["store_out_of_scope"], 409: ["store_archived"]}),
    )
    async def create_geofence(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        store_id: FromPath[uuid.UUID],
        data: JSONBody[GeofenceCreate],
        crs: CrsQuery = "wgs84",
    ) -> GeofenceFeature:
        return answer_in(crs, await GeofenceService(db_session, principal_of(request)).create(store_id, data, crs=crs))


class GeofenceController(Controller):
    path = "/v1/geofences"
    tags = ["Geofences"]

    @get(guards=[STAFF], summary="Geofences as a GeoJSON FeatureCollection, filtered by bbox and store")
    async def list_geofences(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        bbox: Annotated[
            str | None,
            Parameter(
                description=(
                    "minlon,minlat,maxlon,maxlat, in the `crs` (WGS 84 by default); minlon > maxlon crosses the "
                    "antimeridian."
                ),
                max_length=200,
            ),
        ] = None,
        store_id: Annotated[uuid.UUID | None, Parameter(description="Only this store's fences.")] = None,
        active: Annotated[bool | None, Parameter(description="Only active (or inactive) fences.")] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
        crs: CrsQuery = "wgs84",
    ) -> GeofenceCollection:
        service = GeofenceService(db_session, principal_of(request))
        page = await service.page(bbox=bbox, store_id=store_id, active=active, limit=limit, cursor=cursor, crs=crs)
        return answer_in(crs, page)

    @post(
        "/import",
        guards=[MANAGERS],
        request_max_body_size=IMPORT_MAX_BODY_BYTES,
        summary="Import a FeatureCollection of fences, all or nothing",
        description=(
            "Each feature names its store in `properties.store_id` or `properties.store_external_ref`; a circle is "
            "a Point with `properties.radius_m`. Coordinates are in the `crs` (WGS 84 by default). Any bad feature "
            "rejects the whole file with a 422 listing every bad feature as `features[i]…`."
        ),
        opt=problems({403: ["store_out_of_scope"], 409: ["store_archived"]}),
    )
    async def import_geofences(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[FeatureCollection],
        crs: CrsQuery = "wgs84",
    ) -> ImportResult:
        return await GeofenceService(db_session, principal_of(request)).import_collection(data, crs=crs)

    @get("/{geofence_id:uuid}", guards=[STAFF], summary="One geofence as a GeoJSON Feature")
    async def get_geofence(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        geofence_id: FromPath[uuid.UUID],
        crs: CrsQuery = "wgs84",
    ) -> GeofenceFeature:
        return answer_in(crs, await GeofenceService(db_session, principal_of(request)).get(geofence_id))

    @patch(
        "/{geofence_id:uuid}",
        guards=[MANAGERS],
        summary="Change a geofence",
        opt=problems({403: ["store_out_of_scope"], 409: ["store_archived"]}),
    )
    async def patch_geofence(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        geofence_id: FromPath[uuid.UUID],
        data: JSONBody[GeofencePatch],
        crs: CrsQuery = "wgs84",
    ) -> GeofenceFeature:
        service = GeofenceService(db_session, principal_of(request))
        return answer_in(crs, await service.update(geofence_id, data, crs=crs))

    @delete(
        "/{geofence_id:uuid}",
        guards=[MANAGERS],
        summary="Delete a geofence",
        opt=problems({403: ["store_out_of_scope"]}),
    )
    async def delete_geofence(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        geofence_id: FromPath[uuid.UUID],
    ) -> None:
        await GeofenceService(db_session, principal_of(request)).delete(geofence_id)
