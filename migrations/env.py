"""Alembic environment: async (asyncpg), GeoAlchemy2-aware, usable from `solomo database …` and plain `alembic`."""

from __future__ import annotations

import asyncio

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import solomo.db.models  # noqa: F401  (registers every table on the metadata)
from solomo.config import get_settings
from solomo.db.base import Base
from solomo.db.engine import resolve_database_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    # Advanced Alchemy's command config carries a db_url; plain alembic may be given sqlalchemy.url.
    url = getattr(config, "db_url", None) or config.get_main_option("sqlalchemy.url")
    return url or resolve_database_url(get_settings())


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
        transaction_per_migration=False,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = getattr(config, "engine", None)
    owned = engine is None
    if owned:
        engine = create_async_engine(_url(), poolclass=pool.NullPool)
    assert isinstance(engine, AsyncEngine)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
        await connection.commit()
    if owned:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
