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


@pytest.fixture(autouse=True)
async def _no_webhooks_left(database_url: str) -> AsyncIterator[None]:
    """No endpoint (with its messages) or outbox row from elsewhere, before and after each test: a worker takes due
    messages of every brand, so another test's pending messages (the API fuzzing included) would be sent by this
    test's worker."""

    async def clear() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await connection.execute("DELETE FROM webhook_endpoints; DELETE FROM webhook_outbox")
        finally:
            await connection.close()

    await clear()
    yield
    await clear()
