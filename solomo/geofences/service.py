"""Geofences: drawn per store by its managers, listed as map-ready GeoJSON, imported in bulk all-or-nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.principal import Principal
from solomo.brands.service import BrandService
from solomo.db.sql import uuids
from solomo.errors import ApiError, FieldError, forbidden, invalid, invalid_many, not_found
from solomo.geo.bbox import parse_bbox
from solomo.geo.crs import WGS84_CRS, Crs
from solomo.geo.errors import GeometryError
from solomo.geo.geojson import Feature, FeatureCollection, Geometry, Point
from solomo.geofences.fences import PreparedFence, prepare_fence
from solomo.geofences.schemas import (
    GeofenceCollection,
    GeofenceCreate,
    GeofenceFeature,
    GeofencePatch,
    GeofenceProperties,
    ImportProperties,
    ImportResult,
)
from solomo.offers.lifecycle import forget_geofence
from solomo.pagination import keyset_after, split_page
from solomo.stores.service import StoreService

#: Features in one import; larger sets are split by the client (or the CLI) into several files.
MAX_IMPORT_FEATURES = 10_000

_COLUMNS = """
    g.id, g.store_id, g.name, g.kind, g.radius_m, g.dwell_seconds, g.active, g.area_m2, g.vertex_count,
    g.created_at, g.updated_at,
    ST_AsGeoJSON(CASE WHEN g.kind = 'circle' THEN g.center ELSE g.geom END, 9) AS geometry_json
"""
_GET = text(f"SELECT {_COLUMNS} FROM geofences g WHERE g.brand_id = :brand_id AND g.id = :id")
_INSERT = text(
    f"""
    INSERT INTO geofences AS g
        (brand_id, store_id, name, kind, geom, center, radius_m, dwell_seconds, active, area_m2, vertex_count)
    VALUES (:brand_id, :store_id, :name, :kind, ST_GeomFromEWKB(decode(:geom, 'hex'))::geography,
            ST_GeomFromEWKB(decode(:center, 'hex'))::geography, :radius_m, :dwell_seconds, :active,
            :area_m2, :vertex_count)
    RETURNING {_COLUMNS}
    """
)
# One statement per batch of rows, passed as parallel arrays (asyncpg cannot RETURNING from executemany).
_INSERT_MANY = text(
    """
    INSERT INTO geofences
        (brand_id, store_id, name, kind, geom, center, radius_m, dwell_seconds, active, area_m2, vertex_count)
    SELECT :brand_id, u.store_id, u.name, u.kind, ST_GeomFromEWKB(decode(u.geom, 'hex'))::geography,
           ST_GeomFromEWKB(decode(u.center, 'hex'))::geography, u.radius_m, u.dwell_seconds, u.active,
           u.area_m2, u.vertex_count
    FROM unnest(
        CAST(:store_ids AS uuid[]), CAST(:names AS text[]), CAST(:kinds AS text[]), CAST(:geoms AS text[]),
        CAST(:centers AS text[]), CAST(:radii AS float8[]), CAST(:dwells AS int[]), CAST(:actives AS bool[]),
        CAST(:areas AS float8[]), CAST(:vertex_counts AS int[])
    ) WITH ORDINALITY AS u(store_id, name, kind, geom, center, radius_m, dwell_seconds, active, area_m2,
                           vertex_count, ord)
    ORDER BY u.ord
    RETURNING id
    """
)
_IMPORT_COLUMNS = {
    "store_ids": "store_id",
    "names": "name",
    "kinds": "kind",
    "geoms": "geom",
    "centers": "center",
    "radii": "radius_m",
    "dwells": "dwell_seconds",
    "actives": "active",
    "areas": "area_m2",
    "vertex_counts": "vertex_count",
}
_GEOMETRY = msgspec.json.Decoder(Geometry)


def feature_of(row: Row[Any]) -> GeofenceFeature:
    return GeofenceFeature(
        id=row.id,
        geometry=_GEOMETRY.decode(row.geometry_json),
        properties=GeofenceProperties(
            store_id=row.store_id,
            name=row.name,
            kind=row.kind,
            radius_m=row.radius_m,
            dwell_seconds=row.dwell_seconds,
            active=row.active,
            area_m2=row.area_m2,
            vertex_count=row.vertex_count,
            created_at=row.created_at,
            updated_at=row.updated_at,
        ),
    )


def _fence_params(fence: PreparedFence) -> dict[str, Any]:
    return {
        "kind": fence.kind,
        "geom": fence.geom,
        "center": fence.center,
        "radius_m": fence.radius_m,
        "area_m2": fence.area_m2,
        "vertex_count": fence.vertex_count,
    }


class GeofenceService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.brand_id = principal.brand_id
        self.stores = StoreService(session, principal)

    async def _area_cap_km2(self) -> float:
        return (await BrandService(self.session).get(self.brand_id)).fence_area_cap_km2

    async def _row(self, fence_id: uuid.UUID) -> Row[Any]:
        row = (await self.session.execute(_GET, {"brand_id": self.brand_id, "id": fence_id})).first()
        if row is None:
            raise not_found("geofence")
        if not self.principal.may_use_store(row.store_id):
            raise forbidden("This key is not scoped to the geofence's store", code="store_out_of_scope")
        return row

    async def get(self, fence_id: uuid.UUID) -> GeofenceFeature:
        return feature_of(await self._row(fence_id))

    async def create(self, store_id: uuid.UUID, data: GeofenceCreate, *, crs: Crs = WGS84_CRS) -> GeofenceFeature:
        await self.stores.require(store_id, writable=True)
        fence = prepare_fence(data.geometry, data.radius_m, area_cap_km2=await self._area_cap_km2(), crs=crs)
        params = {
            "brand_id": self.brand_id,
            "store_id": store_id,
            "name": data.name,
            "dwell_seconds": data.dwell_seconds,
            "active": data.active,
        } | _fence_params(fence)
        return feature_of((await self.session.execute(_INSERT, params)).one())

    async def update(self, fence_id: uuid.UUID, patch: GeofencePatch, *, crs: Crs = WGS84_CRS) -> GeofenceFeature:
        row = await self._row(fence_id)
        await self.stores.require(row.store_id, writable=True)
        changes = patch.changes()
        params: dict[str, Any] = {"brand_id": self.brand_id, "id": fence_id}
        sets = [f"{c} = :{c}" for c in ("name", "dwell_seconds", "active") if c in changes]
        params |= {c: changes[c] for c in ("name", "dwell_seconds", "active") if c in changes}
        if "geometry" in changes or "radius_m" in changes:
            # The patch's geometry is in the caller's crs; the stored one, kept when only the radius changes, is WGS-84.
            geometry: Geometry
            if not isinstance(patch.geometry, msgspec.UnsetType):
                geometry, geometry_crs = patch.geometry, crs
            else:
                geometry, geometry_crs = _GEOMETRY.decode(row.geometry_json), WGS84_CRS
            radius: float | None
            if not isinstance(patch.radius_m, msgspec.UnsetType):
                radius = patch.radius_m
            else:
                # Keep the radius when a circle moves; drop it when a circle becomes a polygon.
                radius = row.radius_m if isinstance(geometry, Point) else None
            fence = prepare_fence(geometry, radius, area_cap_km2=await self._area_cap_km2(), crs=geometry_crs)
            params |= _fence_params(fence)
            sets += [
                "kind = :kind",
                "geom = ST_GeomFromEWKB(decode(:geom, 'hex'))::geography",
                "center = ST_GeomFromEWKB(decode(:center, 'hex'))::geography",
                "radius_m = :radius_m",
                "area_m2 = :area_m2",
                "vertex_count = :vertex_count",
            ]
        if not sets:
            return feature_of(row)
        query = text(
            f"UPDATE geofences g SET {', '.join(sets)}, updated_at = now() "
            f"WHERE g.brand_id = :brand_id AND g.id = :id RETURNING {_COLUMNS}"
        )
        return feature_of((await self.session.execute(query, params)).one())

    async def delete(self, fence_id: uuid.UUID) -> None:
        await self._row(fence_id)
        await forget_geofence(self.session, self.brand_id, fence_id)
        await self.session.execute(
            text("DELETE FROM geofences WHERE brand_id = :brand_id AND id = :id"),
            {"brand_id": self.brand_id, "id": fence_id},
        )

    async def page(
        self,
        *,
        bbox: str | None,
        store_id: uuid.UUID | None,
        active: bool | None,
        limit: int,
        cursor: str | None,
        crs: Crs = WGS84_CRS,
    ) -> GeofenceCollection:
        """A page of fences, in WGS-84; ``bbox`` is given in ``crs``."""
        clauses = ["g.brand_id = :brand_id"]
        params: dict[str, Any] = {"brand_id": self.brand_id, "limit": limit + 1}
        if bbox is not None:
            try:
                boxes = parse_bbox(bbox, crs=crs)
            except GeometryError as exc:
                raise invalid("bbox", exc.message, source="query") from exc
            # Planar `&&` on lon/lat, matching the (geom::geometry) expression index; a box across the
            # antimeridian arrives as two.
            parts = []
            for n, (x1, y1, x2, y2) in enumerate(boxes):
                parts.append(f"(g.geom::geometry && ST_MakeEnvelope(:x1_{n}, :y1_{n}, :x2_{n}, :y2_{n}, 4326))")
                params |= {f"x1_{n}": x1, f"y1_{n}": y1, f"x2_{n}": x2, f"y2_{n}": y2}
            clauses.append(f"({' OR '.join(parts)})")
        if store_id is not None:
            await self.stores.require(store_id)
            clauses.append("g.store_id = :store_id")
            params["store_id"] = store_id
        scope = self.principal.store_scope
        if scope is not None:
            clauses.append("g.store_id = ANY(:scope)")
            params["scope"] = list(scope)
        if active is not None:
            clauses.append("g.active = :active")
            params["active"] = active
        clauses += keyset_after(cursor, "g.created_at, g.id", params)
        query = text(
            f"SELECT {_COLUMNS} FROM geofences g WHERE {' AND '.join(clauses)} "
            "ORDER BY g.created_at DESC, g.id DESC LIMIT :limit"
        )
        if "scope" in params:
            query = query.bindparams(uuids("scope"))
        rows = (await self.session.execute(query, params)).all()
        page, next_cursor = split_page(rows, limit)
        return GeofenceCollection(features=[feature_of(r) for r in page], next_cursor=next_cursor)

    # -- bulk import ------------------------------------------------------------------------
    async def import_collection(
        self,
        collection: FeatureCollection,
        *,
        crs: Crs = WGS84_CRS,
        progress: Callable[[int], None] | None = None,
        batch_size: int = 500,
    ) -> ImportResult:
        """All or nothing: every feature is checked first; any bad one rejects the whole file, naming each. The
        features' geometries are in ``crs``."""
        features = collection.features
        if not features:
            raise invalid("features", "the collection has no features")
        if len(features) > MAX_IMPORT_FEATURES:
            raise invalid("features", f"at most {MAX_IMPORT_FEATURES} features per import, got {len(features)}")
        cap = await self._area_cap_km2()
        props = [self._properties(i, f) for i, f in enumerate(features)]
        errors: list[FieldError] = [e for p in props if isinstance(p, list) for e in p]
        refs = sorted({p.store_external_ref for p in props if isinstance(p, ImportProperties) and p.store_external_ref})
        by_ref = await self.stores.ids_by_external_ref(refs)
        wanted_ids = sorted({p.store_id for p in props if isinstance(p, ImportProperties) and p.store_id})
        unknown_ids: set[uuid.UUID] = set(await self.stores.missing_ids(wanted_ids))
        archived = await self.stores.archived_ids({*wanted_ids, *by_ref.values()})
        rows: list[dict[str, Any]] = []
        for i, (feature, p) in enumerate(zip(features, props, strict=True)):
            if progress:
                progress(1)
            if isinstance(p, list):
                continue
            where = f"features[{i}]"
            store_id = p.store_id or by_ref.get(p.store_external_ref or "")
            if store_id is None or store_id in unknown_ids:
                field = "store_id" if p.store_id else "store_external_ref"
                errors.append(FieldError(f"{where}.properties.{field}", "no such store in this brand"))
                continue
            if store_id in archived:
                errors.append(FieldError(f"{where}.properties.{field_name(p)}", "the store is archived"))
                continue
            if not self.principal.may_use_store(store_id):
                errors.append(FieldError(f"{where}.properties.{field_name(p)}", "this key is not scoped to that store"))
                continue
            if feature.geometry is None:
                errors.append(FieldError(f"{where}.geometry", "a fence needs a geometry"))
                continue
            try:
                fence = prepare_fence(
                    feature.geometry,
                    p.radius_m,
                    area_cap_km2=cap,
                    crs=crs,
                    geometry_field=f"{where}.geometry",
                    radius_field=f"{where}.properties.radius_m",
                )
            except ApiError as exc:
                errors.extend(exc.errors or [])
                continue
            rows.append(
                {
                    "brand_id": self.brand_id,
                    "store_id": store_id,
                    "name": p.name or (str(feature.id) if feature.id is not None else f"imported fence {i + 1}"),
                    "dwell_seconds": p.dwell_seconds,
                    "active": p.active,
                }
                | _fence_params(fence)
            )
        if errors:
            # Property errors are found in a first pass, the rest in a second: report in feature order.
            errors.sort(key=lambda e: int(e.field[len("features[") : e.field.index("]")]))
            bad = len({e.field.split(".", 1)[0] for e in errors})
            raise invalid_many(errors, f"{bad} of {len(features)} features are invalid; nothing was imported")
        ids: list[uuid.UUID] = []
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            columns = {name: [r[key] for r in batch] for name, key in _IMPORT_COLUMNS.items()}
            result = await self.session.execute(_INSERT_MANY, {"brand_id": self.brand_id} | columns)
            ids += [r.id for r in result]
        return ImportResult(imported=len(ids), ids=ids)

    @staticmethod
    def _properties(index: int, feature: Feature) -> ImportProperties | list[FieldError]:
        where = f"features[{index}].properties"
        try:
            props = msgspec.convert(feature.properties or {}, ImportProperties)
        except msgspec.ValidationError as exc:
            message = str(exc)
            field, _, path = message.rpartition(" - at `$")
            return [FieldError(f"{where}{path.rstrip('`')}" if field else where, field or message)]
        if (props.store_id is None) == (props.store_external_ref is None):
            return [FieldError(where, "give exactly one of store_id or store_external_ref")]
        return props


def field_name(props: ImportProperties) -> str:
    return "store_id" if props.store_id else "store_external_ref"
