"""Keeping the rollups: folding the event journal in, and rebuilding a brand's rollups from its raw rows.

The hot paths only append to ``stats_pending``; ``solomo_stats_fold`` (``solomo/stats/sql/fold.sql``) moves a brand's
journal into ``stats_rollup``, ``stats_hourly``, ``stats_referrers`` and the heatmap's ``heatmap_cells``. Every
stats read folds its brand first, in the statement that reads the brand's clock (``stats_range(..., fold=True)``),
so answers include every event committed before the read; the app also folds in the background, so a read never
has more than a few seconds of events to fold. A read waits at most ``READ_WAIT_MS`` for a fold already running:
during a rebuild, reads answer from the rollups as they were when it began.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

#: Seconds between background folds.
FOLD_EVERY_S = 5.0
#: How long a read waits for a fold of its brand that is already running (a background fold takes
#: milliseconds; a rebuild holds the brand for minutes, and reads must not wait for it).
READ_WAIT_MS = 200

_FOLD = text("SELECT solomo_stats_fold(:brand_id, :wait_ms)")
_PENDING_BRANDS = text("SELECT DISTINCT brand_id FROM stats_pending")
_LOCK = text("SELECT pg_advisory_lock(20261123, hashtext(CAST(CAST(:brand_id AS uuid) AS text)))")
_UNLOCK = text("SELECT pg_advisory_unlock(20261123, hashtext(CAST(CAST(:brand_id AS uuid) AS text)))")
_REBUILD = [
    text("DELETE FROM stats_rollup WHERE brand_id = :brand_id"),
    text("DELETE FROM stats_hourly WHERE brand_id = :brand_id"),
    text("DELETE FROM stats_referrers WHERE brand_id = :brand_id"),
    text("DELETE FROM heatmap_cells WHERE brand_id = :brand_id"),
    # Journal rows this snapshot sees are also in the raw rows it reads; ones still in flight are not, and
    # stay for the next fold.
    text("DELETE FROM stats_pending WHERE brand_id = :brand_id"),
]
_FOLD_RAW = text("SELECT solomo_stats_fold_raw(:brand_id)")
#: The raw tables the rebuild reads. Fresh statistics first: right after a bulk load (the demo's month of
#: history) the planner knew nothing of them and the rebuild of 12,000 check-ins took 70 s instead of 4.
_RAW_TABLES = text("ANALYZE checkins, checkin_matches, offer_impressions, coupons, redemptions, offer_shares")
#: A rebuild deletes and reinserts every row of a brand: at 10⁷ check-ins that left 4.9 GB of dead rows in
#: stats_hourly until autovacuum came by, no visibility map for index-only scans and no statistics of the new
#: rows. Vacuumed once, after all the brands.
_ROLLUP_TABLES = text("VACUUM (ANALYZE) stats_rollup, stats_hourly, stats_referrers, heatmap_cells, stats_pending")


async def fold_all(engine: AsyncEngine) -> int:
    """One background pass: fold every brand with journal rows, skipping brands another fold holds."""
    total = 0
    async with engine.connect() as conn:
        brands = [r[0] for r in await conn.execute(_PENDING_BRANDS)]
        await conn.commit()
        for brand_id in brands:
            folded = await conn.scalar(_FOLD, {"brand_id": brand_id, "wait_ms": 0})
            await conn.commit()
            total += int(folded or 0)
    return total


async def rebuild_brand(engine: AsyncEngine, brand_id: uuid.UUID, *, analyze: bool = True) -> int:
    """Replace the brand's rollups with ones folded from its raw rows; answers the events folded.

    One REPEATABLE READ transaction, so the raw rows read and the journal rows dropped are the same
    snapshot. The brand's fold lock is taken first, at session level, so no fold commits in between; reads
    meanwhile answer from the rollups as they were (see READ_WAIT_MS), and the journal waits for the next fold.
    """
    async with engine.connect() as conn:
        if analyze:
            # In a transaction of its own, so the rebuild's long one does not hold ANALYZE's lock (which would
            # keep autovacuum and new partitions waiting).
            await conn.execute(_RAW_TABLES)
            await conn.commit()
        await conn.execute(_LOCK, {"brand_id": brand_id})
        await conn.commit()
        try:
            rr = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with rr.begin():
                for statement in _REBUILD:
                    await rr.execute(statement, {"brand_id": brand_id})
                folded = await rr.scalar(_FOLD_RAW, {"brand_id": brand_id})
        finally:
            plain = await conn.execution_options(isolation_level="READ COMMITTED")
            await plain.execute(_UNLOCK, {"brand_id": brand_id})
            await plain.commit()
    return int(folded or 0)


async def rebuild_all(engine: AsyncEngine, brand_id: uuid.UUID | None = None) -> dict[uuid.UUID, int]:
    async with engine.connect() as conn:
        if brand_id is None:
            brands = [r[0] for r in await conn.execute(text("SELECT id FROM brands ORDER BY created_at"))]
        else:
            brands = [brand_id]
        await conn.execute(_RAW_TABLES)  # once for all the brands
        await conn.commit()
    rebuilt = {b: await rebuild_brand(engine, b, analyze=False) for b in brands}
    await vacuum_rollups(engine)
    return rebuilt


async def vacuum_rollups(engine: AsyncEngine) -> None:
    """VACUUM (ANALYZE) the rollup tables: what a rebuild leaves to do (``rebuild_all`` calls it)."""
    async with engine.connect() as conn:
        # VACUUM cannot run in a transaction block.
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(_ROLLUP_TABLES)


@contextlib.asynccontextmanager
async def background_folds(engine: AsyncEngine, every_s: float = FOLD_EVERY_S) -> AsyncIterator[None]:
    """Fold the journal every few seconds while the app serves (each worker; the lock makes one fold a time)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await fold_all(engine)
            except Exception:  # a failed pass must not end the loop; the next one retries
                log.exception("stats fold failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
