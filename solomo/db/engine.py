"""The database URL this process uses and the engine built from it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from solomo.config import Settings
from solomo.db import cluster


def resolve_database_url(settings: Settings, *, start_local: bool = True) -> str:
    """The configured URL, or the local cluster's (created and started on first use)."""
    if settings.database_url:
        return settings.database_url
    if start_local:
        return cluster.ensure_dev_cluster(settings.local_dir)
    return cluster.dev_cluster(settings.local_dir).url("solomo")


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": "solomo", "jit": "off"}},
    )
