"""Liveness and readiness (database reachable, migrations at head); metrics are in ``solomo/ops/metrics.py``."""

from __future__ import annotations

from typing import Any

import msgspec
from alembic.script import ScriptDirectory
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from solomo.config import MIGRATIONS_DIR
from solomo.errors import problem_response


def migration_heads() -> frozenset[str]:
    return frozenset(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


class Live(msgspec.Struct):
    status: str


class Ready(msgspec.Struct):
    status: str
    database: str
    migrations: list[str]


@get("/health/live", exclude_from_auth=True, tags=["Health"], summary="The process is up")
async def live() -> Live:
    return Live(status="live")


@get("/health/ready", exclude_from_auth=True, tags=["Health"], summary="Database reachable and migrated to head")
async def ready(request: Request[Any, Any, Any], db_engine: NamedDependency[AsyncEngine]) -> Response[Any]:
    heads: frozenset[str] = request.app.state.migration_heads
    try:
        async with db_engine.connect() as conn:
            current = frozenset((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    except (SQLAlchemyError, OSError) as exc:
        return problem_response(
            request,
            HTTP_503_SERVICE_UNAVAILABLE,
            "database_unavailable",
            f"database check failed: {type(exc).__name__}",
        )
    if current != heads:
        return problem_response(
            request,
            HTTP_503_SERVICE_UNAVAILABLE,
            "migrations_pending",
            f"database is at {sorted(current) or 'no revision'}, code expects {sorted(heads)}: "
            "run `solomo database upgrade`",
        )
    return Response(Ready(status="ready", database="ok", migrations=sorted(current)), status_code=HTTP_200_OK)
