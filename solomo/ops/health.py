"""Liveness and readiness (database reachable, migrations at head); metrics are in ``solomo/ops/metrics.py``."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from alembic.script import ScriptDirectory
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from solomo.config import MIGRATIONS_DIR
from solomo.db.faults import database_fault
from solomo.errors import problem_response
from solomo.openapi_contract import problems

#: App state key for the readiness check's time budget (from Settings.health_timeout_ms).
HEALTH_TIMEOUT_STATE = "health_timeout_ms"
_LOCAL_STATEMENT_TIMEOUT = text("SELECT set_config('statement_timeout', :ms, true)")
_REVISIONS = text("SELECT version_num FROM alembic_version")


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


@get(
    "/health/ready",
    exclude_from_auth=True,
    tags=["Health"],
    summary="Database reachable and migrated to head",
    opt=problems({503: ["database_unavailable", "database_timeout", "migrations_pending"]}),
)
async def ready(request: Request[Any, Any, Any], db_engine: NamedDependency[AsyncEngine]) -> Response[Any]:
    """Answers within ``health_timeout_ms`` whatever the database does: a stalled server, a held lock or a full
    pool make it 503, never a wait as long as the slowest request's."""
    heads: frozenset[str] = request.app.state.migration_heads
    budget_ms: int = request.app.state.get(HEALTH_TIMEOUT_STATE, 1_000)
    try:
        async with asyncio.timeout(budget_ms / 1000):
            current = await _current_revisions(db_engine, statement_timeout_ms=max(budget_ms // 2, 1))
    except TimeoutError:
        return _not_ready(request, "database_timeout", f"the database did not answer within {budget_ms} ms")
    except Exception as exc:
        fault = database_fault(exc)
        if fault is None:
            raise
        code = "database_unavailable" if fault.code == "database_unavailable" else "database_timeout"
        return _not_ready(request, code, f"database check failed: {type(exc).__name__}")
    if current != heads:
        return problem_response(
            request,
            HTTP_503_SERVICE_UNAVAILABLE,
            "migrations_pending",
            f"database is at {sorted(current) or 'no revision'}, code expects {sorted(heads)}: "
            "run `solomo database upgrade`",
        )
    return Response(Ready(status="ready", database="ok", migrations=sorted(current)), status_code=HTTP_200_OK)


async def _current_revisions(engine: AsyncEngine, *, statement_timeout_ms: int) -> frozenset[str]:
    # The server cancels the query before asyncio would have to (a cancelled asyncpg call can spoil the connection).
    async with engine.connect() as conn:
        await conn.execute(_LOCAL_STATEMENT_TIMEOUT, {"ms": str(statement_timeout_ms)})
        return frozenset((await conn.execute(_REVISIONS)).scalars())


def _not_ready(request: Request[Any, Any, Any], code: str, detail: str) -> Response[Any]:
    return problem_response(request, HTTP_503_SERVICE_UNAVAILABLE, code, detail, headers={"Retry-After": "1"})
