"""The statement pool: one asyncpg pool per worker process for the hot routes (check-in, claim, redemption).

Each of those requests is one call to a SQL function that does all of its work (authentication's database half,
the request budget, the Idempotency-Key, the work itself) and is run in autocommit: it commits as it returns, so
the answer goes out after the commit and PostgreSQL sees exactly one statement, with no BEGIN and no COMMIT round
trip. asyncpg prepares each statement once per connection and reuses it, and there is no ORM session to build.

The pool opens on first use (the app reaches the database only when a request needs it), with the same per-session
limits as the engine (statement, lock and idle timeouts); waiting longer than the pool timeout for a connection is
a 503 ``database_busy``. A connection the server dropped is discarded by asyncpg and replaced on the next acquire.
An error the statement raised means nothing of it was kept (one statement is one transaction): a known database
fault is answered by the error handler (solomo/db/faults.py), anything else is a 503 ``commit_failed``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from solomo.db.engine import DbLimits
from solomo.db.faults import BUSY, database_fault, sqlstate_of
from solomo.db.transactions import commit_failed
from solomo.errors import ApiError

logger = logging.getLogger("solomo.db")


def asyncpg_dsn(url: str) -> str:
    """SQLAlchemy's ``postgresql+asyncpg://`` URL as asyncpg takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class StatementPool:
    def __init__(self, url: str, *, size: int, limits: DbLimits) -> None:
        self.dsn = asyncpg_dsn(url)
        self.size = size
        self.limits = limits
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        #: Called with each statement as it is sent (tests hold the hot routes to one statement with it).
        self.observers: list[Callable[[str], None]] = []

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                limits = self.limits
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=0,
                    max_size=self.size,
                    timeout=limits.connect_timeout_ms / 1000,
                    server_settings={
                        "application_name": "solomo",
                        "jit": "off",
                        "statement_timeout": str(limits.statement_timeout_ms),
                        "lock_timeout": str(limits.lock_timeout_ms),
                        "idle_in_transaction_session_timeout": str(limits.idle_in_transaction_timeout_ms),
                    },
                )
            return self._pool

    async def value(self, statement: str, *args: Any) -> Any:
        """The one value of ``statement`` run in autocommit, committed when this returns."""
        return await self._run("fetchval", statement, args)

    async def row(self, statement: str, *args: Any) -> asyncpg.Record | None:
        """The first row of ``statement`` (or None), run in autocommit."""
        return await self._run("fetchrow", statement, args)

    async def _run(self, method: str, statement: str, args: tuple[Any, ...]) -> Any:
        pool = self._pool or await self._open()
        try:
            connection = await pool.acquire(timeout=self.limits.pool_timeout_ms / 1000)
        except TimeoutError as exc:
            headers = {"Retry-After": str(BUSY.retry_after)}
            raise ApiError(HTTP_503_SERVICE_UNAVAILABLE, BUSY.code, BUSY.detail, headers=headers) from exc
        for observe in self.observers:
            observe(statement)
        try:
            return await getattr(connection, method)(statement, *args)
        except asyncpg.PostgresError as exc:
            if database_fault(exc) is not None or (sqlstate_of(exc) or "").startswith("22"):
                raise  # the error handler answers it (a conflict is retried by RetryConflicts, bad data is a 422)
            logger.error("a hot statement failed; nothing of it was kept", exc_info=exc)
            raise commit_failed() from exc
        finally:
            await pool.release(connection)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
