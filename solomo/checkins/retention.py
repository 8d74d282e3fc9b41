"""Maintenance of check-in data: coarsen raw coordinates past each brand's retention, keep partitions ahead.

A monthly partition that ended before every brand's retention began is coarsened whole, in one statement that
names no brand (on Citus it runs on every shard of that month at once). The rest is purged brand by brand in
small batches, each its own short transaction with ``SKIP LOCKED``, so it can run while the API serves: it never
holds many locks for long and never waits on a busy row. Rows are never dropped, not even with whole
partitions: the stats rebuild (``solomo maintenance rebuild-stats``) and a member's data export read them;
what retention takes away is where the member was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

#: ~1.1 km of latitude: enough for a heatmap, too coarse to say which building.
COARSE_GRID_DEG = 0.01

_BRANDS = text("SELECT id, retention_days FROM brands ORDER BY id")
_COARSEN = text(
    """
    WITH batch AS (
        SELECT id, recorded_at FROM checkins
        WHERE brand_id = :brand_id AND recorded_at < now() - make_interval(days => :days) AND location IS NOT NULL
        ORDER BY recorded_at
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE checkins c
       SET coarse_location = CASE WHEN :keep_coarse
                                  THEN ST_SnapToGrid(c.location::geometry, :grid)::geography END,
           location = NULL
      FROM batch
     WHERE c.brand_id = :brand_id AND c.id = batch.id AND c.recorded_at = batch.recorded_at
    """
)
#: The monthly partitions of check-ins that ended before the longest retention of any brand began, with raw
#: coordinates left in them (the default partition has no end, so it is never one).
_PAST_EVERY_RETENTION = text(
    """
    SELECT p.relname
    FROM pg_inherits i
    JOIN pg_class p ON p.oid = i.inhrelid
    CROSS JOIN LATERAL (
        SELECT CAST((regexp_match(pg_get_expr(p.relpartbound, p.oid), 'TO \\(''([^'']+)''\\)'))[1]
                    AS timestamptz) AS ends
    ) AS b
    WHERE i.inhparent = CAST('checkins' AS regclass)
      AND b.ends <= now() - make_interval(days => (SELECT coalesce(max(retention_days), 0) FROM brands))
    ORDER BY b.ends
    """
)
#: One whole partition coarsened (its name comes from the catalog, never from input).
_COARSEN_PARTITION = """
    UPDATE {partition}
       SET coarse_location = CASE WHEN :keep_coarse THEN ST_SnapToGrid(location::geometry, :grid)::geography END,
           location = NULL
     WHERE location IS NOT NULL
"""
_EXPIRED_KEYS = text(
    """
    DELETE FROM idempotency_keys k
    USING (SELECT brand_id, caller, method, key FROM idempotency_keys
           WHERE created_at < now() - interval '24 hours' LIMIT :batch FOR UPDATE SKIP LOCKED) old
    WHERE (k.brand_id, k.caller, k.method, k.key) = (old.brand_id, old.caller, old.method, old.key)
    """
)


@dataclass
class PurgeReport:
    coarsened: int = 0
    expired_keys: int = 0
    #: The partitions coarsened whole (their check-ins are counted in ``coarsened`` too).
    whole_partitions: list[str] = field(default_factory=list)


async def purge(
    engine: AsyncEngine, *, batch: int = 5000, keep_coarse: bool = True, progress: Callable[[int], None] | None = None
) -> PurgeReport:
    report = PurgeReport()
    async with engine.connect() as conn:
        brands = (await conn.execute(_BRANDS)).all()
        partitions = list(await conn.scalars(_PAST_EVERY_RETENTION))
    for partition in partitions:
        async with engine.begin() as conn:
            done = (
                await conn.execute(
                    text(_COARSEN_PARTITION.format(partition=partition)),
                    {"keep_coarse": keep_coarse, "grid": COARSE_GRID_DEG},
                )
            ).rowcount
        if done:
            report.whole_partitions.append(partition)
            report.coarsened += done
            if progress:
                progress(done)
    for brand in brands:
        while True:
            async with engine.begin() as conn:
                done = (
                    await conn.execute(
                        _COARSEN,
                        {
                            "brand_id": brand.id,
                            "days": brand.retention_days,
                            "batch": batch,
                            "keep_coarse": keep_coarse,
                            "grid": COARSE_GRID_DEG,
                        },
                    )
                ).rowcount
            report.coarsened += done
            if progress:
                progress(done)
            if done < batch:
                break
    while True:
        async with engine.begin() as conn:
            done = (await conn.execute(_EXPIRED_KEYS, {"batch": batch})).rowcount
        report.expired_keys += done
        if done < batch:
            break
    return report


def _month(day: date, ahead: int) -> date:
    month = day.month - 1 + ahead
    return date(day.year + month // 12, month % 12 + 1, 1)


async def ensure_partitions(engine: AsyncEngine, *, months_ahead: int = 3, today: date | None = None) -> list[str]:
    """Create monthly partitions of ``checkins`` from this month to ``months_ahead`` ahead; say what was done."""
    today = today or datetime.now(UTC).date()
    said: list[str] = []
    for ahead in range(months_ahead + 1):
        start, end = _month(today, ahead), _month(today, ahead + 1)
        name = f"checkins_{start:%Y_%m}"
        async with engine.begin() as conn:
            exists = await conn.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})
            if exists:
                continue
            stranded = await conn.scalar(
                text("SELECT EXISTS (SELECT 1 FROM checkins_default WHERE recorded_at >= :s AND recorded_at < :e)"),
                {"s": start, "e": end},
            )
            if stranded:
                said.append(f"{name}: rows for this month are already in checkins_default; left as is")
                continue
            await conn.execute(
                text(f"CREATE TABLE {name} PARTITION OF checkins FOR VALUES FROM ('{start}') TO ('{end}')")
            )
            said.append(f"{name}: created")
    return said
