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
