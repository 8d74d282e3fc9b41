"""The database URL this process uses and the engine built from it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from solomo.config import Settings
from solomo.db import cluster
from solomo.db.faults import loses_connection


@dataclass(frozen=True)
class DbLimits:
    """How long the app's connections may wait on the database. Set on the connection at startup (no round trip
    per request); a route that runs reports raises its own statement timeout for its transaction."""

    statement_timeout_ms: int
    lock_timeout_ms: int
    idle_in_transaction_timeout_ms: int
    pool_timeout_ms: int
    connect_timeout_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DbLimits:
        return cls(
            statement_timeout_ms=settings.db_statement_timeout_ms,
            lock_timeout_ms=settings.db_lock_timeout_ms,
            idle_in_transaction_timeout_ms=settings.db_idle_in_transaction_timeout_ms,
            pool_timeout_ms=settings.db_pool_timeout_ms,
            connect_timeout_ms=settings.db_connect_timeout_ms,
        )

    def with_statement_timeout(self, ms: int) -> DbLimits:
        return DbLimits(
            ms, self.lock_timeout_ms, self.idle_in_transaction_timeout_ms, self.pool_timeout_ms, self.connect_timeout_ms
        )


def resolve_database_url(settings: Settings, *, start_local: bool = True) -> str:
    """The configured URL, or the local cluster's (created and started on first use)."""
    if settings.database_url:
        return settings.database_url
    if start_local:
        return cluster.ensure_dev_cluster(settings.local_dir)
    return cluster.dev_cluster(settings.local_dir).url("solomo")


def _discard_lost_connections(context: ExceptionContext) -> None:
    """A connection the server terminated or refused is dropped instead of going back to the pool.

    SQLAlchemy only recognises a socket that asyncpg already knows is closed; a terminated backend
    (57P01) or a protocol left half-way ("cannot switch to state") would otherwise fail the next request too.
    """
    if loses_connection(context.original_exception):
        context.is_disconnect = True


def make_engine(url: str, *, pool_size: int = 10, limits: DbLimits | None = None) -> AsyncEngine:
    """The engine; without ``limits`` (command-line tools, migrations, benchmarks) statements are not bounded."""
    server_settings = {"application_name": "solomo", "jit": "off"}
    connect_args: dict[str, object] = {"server_settings": server_settings}
    options: dict[str, object] = {}
    if limits is not None:
        server_settings |= {
            "statement_timeout": str(limits.statement_timeout_ms),
            "lock_timeout": str(limits.lock_timeout_ms),
            "idle_in_transaction_session_timeout": str(limits.idle_in_transaction_timeout_ms),
        }
        connect_args["timeout"] = limits.connect_timeout_ms / 1000
        options["pool_timeout"] = limits.pool_timeout_ms / 1000
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_pre_ping=False,
        connect_args=connect_args,
        **options,
    )
    event.listen(engine.sync_engine, "handle_error", _discard_lost_connections)
    return engine
