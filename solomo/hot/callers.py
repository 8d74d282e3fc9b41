"""Who calls a hot route, decided without a query of its own.

The auth middleware leaves these routes alone (``opt`` :data:`HOT_ROUTE`); their ``before_request`` hooks
authenticate instead, before the body is read, so a bad credential is a 401 whatever the body, and then run the
app's input checks (which a route's own hook replaces). Hooks rather than guards: Litestar copies the route handler
for every guard call, a cost on every request. A member token's signature, expiry, issuer and
audience are checked in Python; its member id and version go into the request function, which answers
``token_revoked`` when the member's token version moved (erasure, merge) or the member is gone.

An API key (the till) is hashed and its brand and id are found in :class:`KeyDirectory`, a per-process map from key
hash to (brand, key id), filled by one look-up the first time a process sees a key. Only those two facts, which
never change, are remembered: the request function checks the key again in its statement (not revoked, its role,
its stores), so a revocation takes effect on the very next request, in every process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException

from solomo.auth.key_routes import KeyRoute, KeyRoutes
from solomo.auth.member_tokens import InvalidMemberTokenError, MemberClaims, MemberTokenCodec
from solomo.auth.principal import Principal, Role
from solomo.auth.secrets import hash_secret, looks_like_api_key
from solomo.console.sessions import SessionCookie, check_state_change, session_cookie
from solomo.db.pool import StatementPool
from solomo.errors import forbidden
from solomo.input_checks import check_input
from solomo.ops.budgets import Budget

#: Route ``opt`` of a hot route: the auth middleware skips it; its guard and its statement authenticate.
HOT_ROUTE: Final = {"exclude_from_auth": True, "solomo_hot_route": True}
#: Where the app keeps its :class:`HotRoutes` (``app.state``) and a guard leaves the caller (scope state).
HOT_STATE: Final = "solomo_hot_routes"
_CALLER: Final = "solomo_hot_caller"

#: A key's brand and id (solomo/auth/key_routes.py): the one look-up that cannot name a brand first.
_KEY_BY_HASH = "SELECT key_id AS id, brand_id FROM api_key_routes WHERE secret_hash = $1"
#: A console session's key (solomo/console/sql/console_session.sql).
_CONSOLE_KEY = "SELECT key_id, key_secret_hash FROM solomo_console_session($1, $2, $3, $4)"


@dataclass(frozen=True, slots=True)
class KeyCaller:
    brand_id: uuid.UUID
    key_id: uuid.UUID
    secret_hash: bytes


class KeyDirectory:
    """Key hash → (brand, key id), remembered per process (:class:`KeyRoutes`), read through the statement pool."""

    def __init__(self, pool: StatementPool, size: int = 10_000) -> None:
        self.pool = pool
        self._routes = KeyRoutes(size)

    async def find(self, secret_hash: bytes) -> tuple[uuid.UUID, uuid.UUID] | None:
        known = self._routes.get(secret_hash)
        if known is not None:
            return known
        row = await self.pool.row(_KEY_BY_HASH, secret_hash)
        if row is None:
            return None  # not remembered: a key made a moment later must work at once
        known = KeyRoute(row["brand_id"], row["id"])
        self._routes.remember(secret_hash, known)
        return known


@dataclass(frozen=True, slots=True)
class HotRoutes:
    """What the hot routes share in a worker process: the statement pool, the token codec, the budgets."""

    pool: StatementPool
    codec: MemberTokenCodec
    member_budget: Budget
    key_budget: Budget
    keys: KeyDirectory
    #: How long a console session survives unused (solomo/console/sessions.py).
    console_idle_seconds: int


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    scheme, _, credential = connection.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise NotAuthorizedException("Send an API key or member token as `Authorization: Bearer …`")
    return credential


def _verified(codec: MemberTokenCodec, credential: str) -> MemberClaims:
    try:
        return codec.verify(credential)
    except InvalidMemberTokenError as exc:
        raise NotAuthorizedException(f"Member token refused: {exc}") from exc


def hot_routes(connection: ASGIConnection[Any, Any, Any, Any]) -> HotRoutes:
    routes: HotRoutes = connection.app.state[HOT_STATE]
    return routes


async def member_token(connection: Request[Any, Any, Any]) -> None:
    """``before_request``: a valid member token (401 otherwise; an API key is a 403, as on every member route),
    then the input checks."""
    credential = _bearer(connection)
    if looks_like_api_key(credential):
        raise forbidden("This route takes a member token, not an API key", code="member_token_required")
    claims = _verified(hot_routes(connection).codec, credential)
    connection.scope["user"] = Principal(brand_id=claims.brand_id, role=Role.MEMBER, member_id=claims.member_id)
    connection.scope["state"][_CALLER] = claims
    await check_input(connection)


async def api_key(connection: Request[Any, Any, Any]) -> None:
    """``before_request``: a known API key (401 otherwise; revocation and role are checked by the request function;
    a valid member token is a 403), or a console session's key, then the input checks."""
    routes = hot_routes(connection)
    cookie = session_cookie(connection) if "authorization" not in connection.headers else None
    if cookie is not None:
        await _console_key(connection, routes, cookie)
        await check_input(connection)
        return
    credential = _bearer(connection)
    if not looks_like_api_key(credential):
        _verified(routes.codec, credential)
        raise forbidden("This route takes a brand API key, not a member token", code="api_key_required")
    digest = hash_secret(credential)
    found = await routes.keys.find(digest)
    if found is None:
        raise NotAuthorizedException("Unknown or revoked API key")
    connection.scope["state"][_CALLER] = KeyCaller(brand_id=found[0], key_id=found[1], secret_hash=digest)
    await check_input(connection)


async def _console_key(connection: Request[Any, Any, Any], routes: HotRoutes, cookie: SessionCookie) -> None:
    """The key a console session acts for: one more statement than a key sent as a bearer (the till in the
    console), since the browser never holds the key and its hash comes from the session's row."""
    row = await routes.pool.row(_CONSOLE_KEY, *cookie.lookup_params(routes.console_idle_seconds).values())
    if row is None:
        raise NotAuthorizedException("The console session ended: sign in again")
    check_state_change(connection, cookie)
    connection.scope["state"][_CALLER] = KeyCaller(
        brand_id=cookie.brand_id, key_id=row["key_id"], secret_hash=row["key_secret_hash"]
    )


def member_of(connection: ASGIConnection[Any, Any, Any, Any]) -> MemberClaims:
    claims: MemberClaims = connection.scope["state"][_CALLER]
    return claims


def key_of(connection: ASGIConnection[Any, Any, Any, Any]) -> KeyCaller:
    caller: KeyCaller = connection.scope["state"][_CALLER]
    return caller
