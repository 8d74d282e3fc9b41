"""Role guards: which callers may reach a route. Store scope is checked in the services, per store."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from solomo.auth.middleware import principal_of
from solomo.auth.principal import Role
from solomo.errors import forbidden


def allow(*roles: Role) -> Guard:
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in allowed))

    # async: Litestar runs a sync guard in a worker thread, a cost paid on every request (seen in the benchmark).
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # Litestar's own answer (204 with Allow) comes before authentication, so there is no caller
        role = principal_of(connection).role
        if role in allowed:
            return
        if role is Role.MEMBER:
            raise forbidden("This route takes a brand API key, not a member token", code="api_key_required")
        if allowed == {Role.MEMBER}:
            raise forbidden("This route takes a member token, not an API key", code="member_token_required")
        raise forbidden(f"This route needs one of the roles: {names}", code="role_not_allowed")

    return guard


ADMIN = allow(Role.ADMIN)
STAFF = allow(Role.ADMIN, Role.MANAGER, Role.MARKETER)
#: Those who may change stores and fences (managers only within their scope, checked per store).
MANAGERS = allow(Role.ADMIN, Role.MANAGER)
MEMBER = allow(Role.MEMBER)
