"""Where test databases come from: a throwaway cluster of the session's own, or a server named in the environment."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy.engine import make_url

from solomo.config import normalize_database_url
from solomo.db.cluster import LocalCluster, throwaway_cluster


async def _admin(url: str, *statements: str) -> None:
    parsed = make_url(url)
    conn = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.query.get("host") or parsed.host,
        port=parsed.port,
        database=parsed.database,
    )
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@dataclass
class TestDatabases:
    __test__ = False  # not a test class, despite the name

    cluster: LocalCluster | None
    server_url: str | None
    created: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, server_url: str | None) -> TestDatabases:
        if server_url:
            return cls(cluster=None, server_url=normalize_database_url(server_url))
        return cls(cluster=throwaway_cluster(), server_url=None)

    def create(self, prefix: str) -> str:
        """A new empty database with PostGIS; returns its asyncpg URL. Call where no event loop runs."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.created.append(name)
        if self.cluster is not None:
            return self.cluster.ensure_database(name)
        assert self.server_url is not None
        asyncio.run(_admin(self.server_url, f'CREATE DATABASE "{name}"'))
        url = make_url(self.server_url).set(database=name).render_as_string(hide_password=False)
        asyncio.run(_admin(url, "CREATE EXTENSION IF NOT EXISTS postgis"))
        return url

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.destroy()
            return
        assert self.server_url is not None
        for name in self.created:
            asyncio.run(_admin(self.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _fetch(url: str, query: str) -> list[tuple[object, ...]]:
    parsed = make_url(url)
    conn = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.query.get("host") or parsed.host,
        port=parsed.port,
        database=parsed.database,
    )
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


def fetch(url: str, query: str) -> list[tuple[object, ...]]:
    """Run one query synchronously (for sync tests, outside the event loop)."""
    return asyncio.run(_fetch(url, query))
