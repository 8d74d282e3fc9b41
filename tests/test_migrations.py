"""Migrations build the whole schema from empty, go back down to nothing, and match the models."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy.engine import Connection

import solomo.db.models  # noqa: F401
from solomo.db.base import Base
from solomo.db.engine import make_engine
from solomo.db.migrate import downgrade, upgrade
from tests.databases import TestDatabases, fetch

_OWN_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'"


def test_upgrade_from_empty_and_downgrade_back(databases: TestDatabases) -> None:
    url = databases.create("migrations")
    assert {r[0] for r in fetch(url, _OWN_TABLES)} == set()
    upgrade(url)
    tables = {r[0] for r in fetch(url, _OWN_TABLES)}
    assert set(Base.metadata.tables) | {"alembic_version", "checkins_default"} == tables
    downgrade(url, "base")
    assert {r[0] for r in fetch(url, _OWN_TABLES)} == {"alembic_version"}
    assert fetch(url, "SELECT count(*) FROM alembic_version") == [(0,)]
    upgrade(url)  # and up again, so downgrades leave nothing behind that blocks a re-run
    assert {r[0] for r in fetch(url, _OWN_TABLES)} == tables


def test_migrations_match_the_models(database_url: str) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": alembic_helpers.include_object, "compare_type": True},
        )
        return list(compare_metadata(context, Base.metadata))

    async def run() -> list[object]:
        engine = make_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(diff)
        finally:
            await engine.dispose()

    def on_a_partition(diff: object) -> bool:
        # Partitions (and the indexes they inherit) are tables of their own that no model describes.
        if not isinstance(diff, tuple) or diff[0] not in ("remove_table", "remove_index"):
            return False
        table = diff[1] if diff[0] == "remove_table" else diff[1].table
        return str(table.name).startswith("checkins_")

    differences = [d for d in asyncio.run(run()) if not on_a_partition(d)]
    assert differences == []


_HEATMAP_ROWS = (
    "SELECT brand_id::text, rung, grain, period, i, j, checkins, hll_cardinality(members) FROM heatmap_cells"
    " ORDER BY 1, 2, 3, 4, 5, 6"
)


def test_the_heatmap_revision_fills_its_rollup_as_the_rebuild_would(databases: TestDatabases) -> None:
    """0009_heatmap_cells folds the check-ins already stored into heatmap_cells (two brands, one far from UTC;
    flagged check-ins left out, purged ones at their coarse point): the same rows as the rebuild's fold of them."""
    url = databases.create("heatmap_fill")
    upgrade(url, "0008_brand_keys")
    for n, zone in enumerate(("Europe/Paris", "Pacific/Kiritimati")):
        brand = f"00000000-0000-0000-0000-00000000000{n + 1}"
        fetch(url, f"INSERT INTO brands (id, name, timezone) VALUES ('{brand}', 'brand {n}', '{zone}')")
        fetch(
            url,
            f"INSERT INTO members (brand_id, external_id) SELECT '{brand}', 'm' || g FROM generate_series(1, 20) g",
        )
        fetch(
            url,
            f"""
            INSERT INTO checkins (brand_id, member_id, recorded_at, location, coarse_location, accuracy_m, flags)
            SELECT m.brand_id, m.id, now() - random() * interval '100 days',
                   CASE WHEN g % 5 <> 0 THEN p.pt END,
                   CASE WHEN g % 5 = 0 THEN ST_SnapToGrid(p.pt::geometry, 0.01)::geography END,
                   10, CASE WHEN g % 7 = 0 THEN ARRAY['mocked'] ELSE '{{}}'::text[] END
            FROM generate_series(1, 300) g
            CROSS JOIN LATERAL (SELECT * FROM members WHERE brand_id = '{brand}' ORDER BY random() + g LIMIT 1) m
            CROSS JOIN LATERAL (
                SELECT ST_SetSRID(ST_MakePoint(2.35 + random() * 0.1, 48.85 + random() * 0.05), 4326)::geography AS pt
            ) p
            """,
        )
    upgrade(url)
    filled = fetch(url, _HEATMAP_ROWS)
    assert len(filled) > 1000
    assert {r[1] for r in filled} == set(range(21))
    fetch(url, "DELETE FROM heatmap_cells")
    fetch(url, "SELECT solomo_stats_fold_raw(id) FROM brands")
    assert fetch(url, _HEATMAP_ROWS) == filled
