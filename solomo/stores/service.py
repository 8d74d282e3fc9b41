"""Stores: CRUD within a brand (managers limited to their stores) and nearest-first search on the KNN index."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from litestar.status_codes import HTTP_409_CONFLICT
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from solomo.auth.principal import Principal
from solomo.checkins.service import CheckinService
from solomo.coupons.lifecycle import store_has_redemptions
from solomo.db.sql import uuids
from solomo.errors import ApiError, FieldError, forbidden, invalid_geometry, not_found
from solomo.geo.crs import WGS84_CRS, Crs
from solomo.geo.errors import GeometryError
from solomo.geo.geojson import Point
from solomo.geo.validate import validate_point
from solomo.geofences.lifecycle import switch_off_store_fences
from solomo.offers.lifecycle import forget_store
from solomo.pagination import keyset_after, split_page
from solomo.stores.schemas import NearbyStore, NearbyStores, StoreCreate, StoreOut, StorePage, StorePatch
from solomo.timezones import check_timezone

MAX_NEARBY_RADIUS_M = 100_000.0

_COLUMNS = """
    s.id, s.name, s.address, ST_X(s.location::geometry) AS lon, ST_Y(s.location::geometry) AS lat,
    s.timezone, s.tags, s.external_ref, s.archived_at, s.created_at, s.updated_at
"""
_POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography"

_INSERT = text(
    f"""
    INSERT INTO stores AS s (brand_id, name, address, location, timezone, tags, external_ref)
    VALUES (:brand_id, :name, :address, {_POINT}, :timezone, :tags, :external_ref)
    ON CONFLICT (brand_id, external_ref) DO NOTHING
    RETURNING {_COLUMNS}
    """
).bindparams(bindparam("tags", type_=ARRAY(String)))

_GET = text(f"SELECT {_COLUMNS} FROM stores s WHERE s.brand_id = :brand_id AND s.id = :id")

# Nearest first: the ORDER BY on `<->` walks the (brand_id, location) GiST index (KNN), ST_DWithin bounds
# the walk, and the outer query re-sorts the few rows by the exact spheroid distance (`<->` is spherical).
_NEARBY = text(
    f"""
    SELECT * FROM (
        SELECT {_COLUMNS}, ST_Distance(s.location, q.p) AS distance_m
        FROM stores s, (SELECT {_POINT} AS p) q
        WHERE s.brand_id = :brand_id
          AND s.archived_at IS NULL
          AND (CAST(:scope AS uuid[]) IS NULL OR s.id = ANY(CAST(:scope AS uuid[])))
          AND ST_DWithin(s.location, q.p, :radius_m)
        ORDER BY s.location <-> q.p
        LIMIT :limit
    ) nearest
    ORDER BY distance_m, id
    """
).bindparams(uuids("scope"))

_MISSING = text(
    """
    SELECT wanted.id FROM unnest(CAST(:ids AS uuid[])) AS wanted(id)
    WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.brand_id = :brand_id AND s.id = wanted.id)
    """
).bindparams(uuids("ids"))


def store_out(row: Row[Any]) -> StoreOut:
    return StoreOut(
        id=row.id,
        name=row.name,
        address=row.address,
        location=Point(coordinates=[row.lon, row.lat]),
        timezone=row.timezone,
        tags=list(row.tags),
        external_ref=row.external_ref,
        archived_at=row.archived_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _lon_lat(point: Point, field: str, crs: Crs = WGS84_CRS) -> tuple[float, float]:
    """A point given in ``crs``, checked, in WGS-84 (what is stored and searched)."""
    try:
        shape = validate_point(point, crs=crs)
    except GeometryError as exc:
        raise invalid_geometry(field, exc) from exc
    return float(shape.x), float(shape.y)


class StoreService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.brand_id = principal.brand_id

    # -- reads ------------------------------------------------------------------------------
    async def _row(self, store_id: uuid.UUID) -> Row[Any]:
        row = (await self.session.execute(_GET, {"brand_id": self.brand_id, "id": store_id})).first()
        if row is None:
            raise not_found("store")
        if not self.principal.may_use_store(store_id):
            raise forbidden("This key is not scoped to that store", code="store_out_of_scope")
        return row

    async def require(self, store_id: uuid.UUID, *, writable: bool = False) -> None:
        """404 unless the store is the brand's, 403 unless the caller's scope includes it; 409 if archived
        and the caller means to change it."""
        row = await self._row(store_id)
        if writable and row.archived_at is not None:
            raise _archived()

    async def get(self, store_id: uuid.UUID) -> StoreOut:
        return store_out(await self._row(store_id))

    async def page(self, *, limit: int, cursor: str | None, tag: str | None, include_archived: bool) -> StorePage:
        clauses = ["s.brand_id = :brand_id"]
        params: dict[str, Any] = {"brand_id": self.brand_id, "limit": limit + 1}
        if not include_archived:
            clauses.append("s.archived_at IS NULL")
        if self.principal.store_scope is not None:
            clauses.append("s.id = ANY(:scope)")
            params["scope"] = list(self.principal.store_scope)
        if tag:
            clauses.append(":tag = ANY(s.tags)")
            params["tag"] = tag
        clauses += keyset_after(cursor, "s.created_at, s.id", params)
        query = text(
            f"SELECT {_COLUMNS} FROM stores s WHERE {' AND '.join(clauses)} "
            "ORDER BY s.created_at DESC, s.id DESC LIMIT :limit"
        )
        if "scope" in params:
            query = query.bindparams(uuids("scope"))
        rows = (await self.session.execute(query, params)).all()
        page, next_cursor = split_page(rows, limit)
        return StorePage(items=[store_out(r) for r in page], next_cursor=next_cursor)

    async def nearby(self, *, lon: float, lat: float, radius_m: float, limit: int) -> NearbyStores:
        lon, lat = _lon_lat(Point(coordinates=[lon, lat]), "")
        scope = self.principal.store_scope
        rows = (
            await self.session.execute(
                _NEARBY,
                {
                    "brand_id": self.brand_id,
                    "lon": lon,
                    "lat": lat,
                    "radius_m": radius_m,
                    "limit": limit,
                    "scope": list(scope) if scope is not None else None,
                },
            )
        ).all()
        return NearbyStores(items=[NearbyStore(store=store_out(r), distance_m=r.distance_m) for r in rows])

    async def missing_ids(self, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """Which of ``ids`` are not stores of this brand (for key scopes and imports)."""
        if not ids:
            return []
        rows = await self.session.execute(_MISSING, {"brand_id": self.brand_id, "ids": list(ids)})
        return [r.id for r in rows]

    async def archived_ids(self, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        if not ids:
            return set()
        rows = await self.session.execute(
            text(
                "SELECT id FROM stores WHERE brand_id = :brand_id AND id = ANY(:ids) AND archived_at IS NOT NULL"
            ).bindparams(uuids("ids")),
            {"brand_id": self.brand_id, "ids": list(ids)},
        )
        return {r.id for r in rows}

    async def ids_by_external_ref(self, refs: Sequence[str]) -> dict[str, uuid.UUID]:
        if not refs:
            return {}
        rows = await self.session.execute(
            text(
                "SELECT external_ref, id FROM stores WHERE brand_id = :brand_id AND external_ref = ANY(:refs)"
            ).bindparams(bindparam("refs", type_=ARRAY(String))),
            {"brand_id": self.brand_id, "refs": list(refs)},
        )
        return {r.external_ref: r.id for r in rows}

    # -- writes -----------------------------------------------------------------------------
    async def create(self, data: StoreCreate, *, crs: Crs = WGS84_CRS) -> StoreOut:
        lon, lat = _lon_lat(data.location, "location", crs)
        check_timezone(data.timezone)
        row = (
            await self.session.execute(
                _INSERT,
                {
                    "brand_id": self.brand_id,
                    "name": data.name,
                    "address": data.address,
                    "lon": lon,
                    "lat": lat,
                    "timezone": data.timezone,
                    "tags": sorted(set(data.tags)),
                    "external_ref": data.external_ref,
                },
            )
        ).first()
        if row is None:
            raise _ref_taken(data.external_ref)
        return store_out(row)

    async def update(self, store_id: uuid.UUID, patch: StorePatch, *, crs: Crs = WGS84_CRS) -> StoreOut:
        await self.require(store_id, writable=True)
        changes = patch.changes()
        sets: list[str] = []
        params: dict[str, Any] = {"brand_id": self.brand_id, "id": store_id}
        for column in ("name", "address", "timezone", "external_ref"):
            if column in changes:
                sets.append(f"{column} = :{column}")
                params[column] = changes[column]
        if isinstance(patch.timezone, str):
            check_timezone(patch.timezone)
        if isinstance(patch.tags, list):
            sets.append("tags = :tags")
            params["tags"] = sorted(set(patch.tags))
        if isinstance(patch.location, Point):
            params["lon"], params["lat"] = _lon_lat(patch.location, "location", crs)
            sets.append(f"location = {_POINT}")
        if not sets:
            return await self.get(store_id)
        query = text(
            f"UPDATE stores s SET {', '.join(sets)}, updated_at = now() "
            f"WHERE s.brand_id = :brand_id AND s.id = :id RETURNING {_COLUMNS}"
        )
        if "tags" in params:
            query = query.bindparams(bindparam("tags", type_=ARRAY(String)))
        try:
            async with self.session.begin_nested():
                row = (await self.session.execute(query, params)).one()
        except IntegrityError as exc:
            if "uq_stores_brand_id_external_ref" in str(exc.orig):
                raise _ref_taken(params.get("external_ref")) from exc
            raise
        return store_out(row)

    async def delete(self, store_id: uuid.UUID) -> bool:
        """Delete a store and its geofences, or archive it when it has history; True if archived.

        History (check-ins matched at the store, redemptions made there) must keep pointing at a
        store that can still be looked up, so such a store is archived: it leaves lists, nearby search and
        matching (its fences are switched off) but its id still answers.
        """
        row = await self._row(store_id)
        if row.archived_at is not None:
            return True
        params = {"brand_id": self.brand_id, "id": store_id}
        if await CheckinService(self.session, self.principal).store_has_visits(store_id) or await store_has_redemptions(
            self.session, self.brand_id, store_id
        ):
            await self.session.execute(
                text(
                    "UPDATE stores SET archived_at = now(), updated_at = now() WHERE brand_id = :brand_id AND id = :id"
                ),
                params,
            )
            await switch_off_store_fences(self.session, self.brand_id, store_id)
            return True
        await forget_store(self.session, self.brand_id, store_id)
        # Its geofences and their fence state go with it (foreign keys cascade).
        await self.session.execute(text("DELETE FROM stores WHERE brand_id = :brand_id AND id = :id"), params)
        return False


def _archived() -> ApiError:
    return ApiError(HTTP_409_CONFLICT, "store_archived", "The store is archived: its history stays, it cannot change")


def _ref_taken(ref: object) -> ApiError:
    return ApiError(
        HTTP_409_CONFLICT,
        "external_ref_taken",
        f"Another store of this brand has external_ref {ref!r}",
        errors=[FieldError("external_ref", "already used by another store")],
    )
