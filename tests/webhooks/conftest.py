"""Fixtures shared by the webhook tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from solomo.db.pool import asyncpg_dsn


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection to the test database, in autocommit (the worker and fan_out take one)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        yield connection
    finally:
        await connection.close()
