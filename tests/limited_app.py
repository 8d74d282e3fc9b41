"""An app of the test's own with its database limits changed (a small pool, short timeouts), over the test database.

Litestar's AsyncTestClient serves one request at a time (each runs to its end on a portal thread), so tests
of concurrency and stalls drive the app with httpx's ASGI transport on the test's own event loop instead:
requests gathered there really overlap, and a request blocked in the database blocks only itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar
from litestar.types import Message
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from solomo.app import create_app
from solomo.config import Settings


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    """Run the app's startup and shutdown on this loop (what a server does around serving)."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def receive() -> dict[str, str]:
        return await inbox.get()

    async def send(message: Message) -> None:
        kind: str = message["type"]
        if kind.startswith("lifespan.startup"):
            assert kind == "lifespan.startup.complete", message
            started.set()
        elif kind.startswith("lifespan.shutdown"):
            stopped.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.wait_for(started.wait(), 30)
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(stopped.wait(), 30)
        await task


@asynccontextmanager
async def limited_client(settings: Settings, database_url: str, **limits: Any) -> AsyncIterator[Any]:
    """An httpx client to a new app whose Settings differ by ``limits`` (``pool_size``, ``db_lock_timeout_ms``…).

    Typed ``Any`` so it can stand in for the AsyncTestClient that BrandContext and the scene helpers expect.
    """
    app = create_app(dataclasses.replace(settings, stats_fold_seconds=0, **limits), database_url=database_url)
    async with (
        _lifespan(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
            base_url="http://testserver.local",
            timeout=30,
        ) as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


async def backend_pids(
    sessions: async_sessionmaker[AsyncSession], query_like: str, *, waiting: bool = False
) -> list[int]:
    """The app's backends (application_name ``solomo``) running a statement like ``query_like``."""
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'solomo'"
        " AND pid <> pg_backend_pid() AND query LIKE :q" + (" AND wait_event_type = 'Lock'" if waiting else "")
    )
    async with sessions() as session:
        return list((await session.scalars(text(sql), {"q": query_like})).all())


async def until_waiting_on_a_lock(sessions: async_sessionmaker[AsyncSession], query_like: str) -> list[int]:
    """Poll until an app backend running ``query_like`` waits on a lock; its pids."""
    for _ in range(500):
        pids = await backend_pids(sessions, query_like, waiting=True)
        if pids:
            return pids
        await asyncio.sleep(0.01)
    raise AssertionError(f"no backend running {query_like!r} waited on a lock")


async def terminate(sessions: async_sessionmaker[AsyncSession], pids: list[int]) -> None:
    async with sessions() as session:
        for pid in pids:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
