"""Demo check-ins: a month of visits to the demo's stores, so its place figures and heatmap have something to show.

Set-based in SQL, as the check-in function would have left them: most check-ins a few metres from a store
(matched against the real fences with the hot path's test, each a separate visit that fires ``enter``), some
passing a few hundred metres to 1.8 km away (no match), and a few with ``mocked`` set (flagged, with the
stores whose fences they fell in). Only members with location consent check in. ``member_firsts`` is set
from them. No fence state is left behind: every demo member is outside every fence now. Skipped when the
brand has check-ins.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

DEMO_CHECKINS = 12_000
DAYS = 30
#: Of the check-ins: at a store (within 40 m of it), and flagged as mocked (also at a store); the rest pass by.
AT_A_STORE = 0.85
MOCKED = 0.04

_EXISTS = text("SELECT EXISTS (SELECT 1 FROM checkins WHERE brand_id = :brand_id)")
_SEED = text("SELECT setseed(0.20261201)")
_INSERT = text(
    """
    WITH people AS (
        SELECT array_agg(id ORDER BY external_id) AS ids FROM members
        WHERE brand_id = :brand_id AND consent_location AND merged_into_id IS NULL AND erased_at IS NULL
    ),
    shops AS (
        SELECT array_agg(location ORDER BY external_ref, id) AS places FROM stores
        WHERE brand_id = :brand_id AND archived_at IS NULL
    ),
    drawn AS (
        SELECT gen_random_uuid() AS id,
               p.ids[1 + floor(random() * cardinality(p.ids))::integer] AS member_id,
               s.places[1 + floor(random() * cardinality(s.places))::integer] AS shop,
               now() - interval '5 minutes' - random() * make_interval(days => :days) AS recorded_at,
               random() AS kind, random() AS distance, random() * 2 * pi() AS bearing,
               round(CAST(5 + random() * 35 AS numeric), 1)::float8 AS accuracy_m
        FROM generate_series(1, :count), people p, shops s
        WHERE cardinality(p.ids) > 0 AND cardinality(s.places) > 0
    ),
    placed AS (
        SELECT d.id, d.member_id, d.recorded_at, d.accuracy_m, d.kind < :mocked_share AS mocked,
               ST_Project(d.shop, CASE WHEN d.kind < :at_a_store THEN d.distance * 40
                                       ELSE 300 + d.distance * 1500 END, d.bearing) AS location
        FROM drawn d
    ),
    -- The hot path's match (solomo/geofences/sql/fences_at.sql).
    matched AS (
        SELECT p.id, p.recorded_at, p.member_id, p.mocked, f.fence_id, f.store_id
        FROM placed p
        JOIN brands b ON b.id = :brand_id
        CROSS JOIN LATERAL solomo_fences_at(b.id, p.location, p.accuracy_m, b.tolerance_cap_m) AS f
    ),
    flagged AS (
        SELECT id, array_agg(DISTINCT store_id) AS store_ids FROM matched WHERE mocked GROUP BY id
    ),
    saved AS (
        INSERT INTO checkins (id, brand_id, member_id, recorded_at, received_at, location, accuracy_m, mocked, source,
                              flags, flagged_store_ids)
        SELECT p.id, :brand_id, p.member_id, p.recorded_at, p.recorded_at + interval '2 seconds', p.location,
               p.accuracy_m, p.mocked, 'demo',
               CASE WHEN p.mocked THEN ARRAY['mocked'] ELSE '{}' END,
               f.store_ids
        FROM placed p
        LEFT JOIN flagged f ON f.id = p.id
    )
    INSERT INTO checkin_matches (checkin_id, recorded_at, brand_id, member_id, fence_id, store_id, event)
    SELECT m.id, m.recorded_at, :brand_id, m.member_id, m.fence_id, m.store_id, 'enter'
    FROM matched m
    WHERE NOT m.mocked
    """
)
_FIRSTS = text(
    """
    INSERT INTO member_firsts (brand_id, member_id, store_key, first_at)
    SELECT :brand_id, member_id, '00000000-0000-0000-0000-000000000000', min(recorded_at)
    FROM checkins WHERE brand_id = :brand_id AND flags = '{}' GROUP BY member_id
    UNION ALL
    SELECT :brand_id, member_id, store_id, min(recorded_at)
    FROM checkin_matches WHERE brand_id = :brand_id AND event IS DISTINCT FROM 'exit' GROUP BY member_id, store_id
    """
)


async def load_demo_checkins(session: AsyncSession, brand_id: uuid.UUID, count: int = DEMO_CHECKINS) -> None:
    params = {"brand_id": brand_id}
    if await session.scalar(_EXISTS, params):
        return
    await session.execute(_SEED)
    await session.execute(
        _INSERT, params | {"count": count, "days": DAYS, "at_a_store": AT_A_STORE, "mocked_share": MOCKED}
    )
    await session.execute(_FIRSTS, params)
