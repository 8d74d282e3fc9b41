"""Authenticates every /v1 request: ``Authorization: Bearer sk_…`` (API key) or a member token (JWT), or, with no
Authorization header, the console's session cookie (solomo/console/sessions.py), which acts as its API key.

The look-up runs on the request's own database session (the one handlers get), so authentication costs
one statement and no extra connection. That statement also charges the caller's request budget
(``solomo/ops/budgets.py``). It runs in autocommit on the session's connection before the session's
transaction has begun (SQLAlchemy's asyncpg adapter sends BEGIN only with its first statement), so it commits
by itself: the budget row's lock lasts the statement only, never a COMMIT round trip. Behind one busy key (a
till, a brand's back end) every request charges the same row, and a lock held until the app sent COMMIT queued
them all (redemptions over one key fell from 406/s to 190/s in bench/claims.py, 37 of 64 backends waiting on
that row). A refusal is
answered here, by the app's exception handler, so the middleware outside (Prometheus) sees the real status
rather than an exception.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.connection import ASGIConnection, Request
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Message, Method, Receive, Scope, Scopes, Send
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.key_routes import KeyRoute, KeyRoutes
from solomo.auth.member_tokens import InvalidMemberTokenError, MemberTokenCodec
from solomo.auth.principal import Principal, Role
from solomo.auth.secrets import hash_secret, looks_like_api_key
from solomo.console.sessions import SessionCookie, check_state_change, session_cookie
from solomo.errors import handle_exception
from solomo.ops.budgets import Budget, member_subject

#: The key, found on its brand's rows (its brand and id from api_key_routes: solomo/auth/key_routes.py) and still
#: live, with this hash, charged one request of its budget (solomo_charge_budget, solomo/ops/sql/charge_budget.sql;
#: MATERIALIZED so the charge runs once, and only for a key that exists).
_KEY_LOOKUP_AND_CHARGE = text(
    """
    WITH k AS (
        SELECT id, brand_id, role, store_ids
        FROM api_keys
        WHERE brand_id = :brand_id AND id = :key_id AND secret_hash = :secret_hash AND revoked_at IS NULL
    ), budget AS MATERIALIZED (
        SELECT solomo_charge_budget(k.brand_id, 'key:' || k.id, :burst, :rate, false) AS b FROM k
    )
    SELECT k.id, k.brand_id, k.role, k.store_ids, (budget.b).charged AS charged, (budget.b).level AS level
    FROM k, budget
    """
)
#: The member's token version, and one request charged to its budget when the token's version is current.
_MEMBER_VERSION_AND_CHARGE = text(
    """
    WITH m AS (
        SELECT token_version
        FROM members
        WHERE id = :member_id AND brand_id = :brand_id AND merged_into_id IS NULL AND erased_at IS NULL
    ), budget AS MATERIALIZED (
        SELECT solomo_charge_budget(CAST(:brand_id AS uuid), :subject, :burst, :rate, false) AS b
        FROM m WHERE m.token_version = :version
    )
    SELECT m.token_version, (SELECT (b).charged FROM budget) AS charged, (SELECT (b).level FROM budget) AS level
    FROM m
    """
)
#: The console session the cookie names (solomo/console/sql/console_session.sql), as its key, charged one request
#: of that key's budget: a person in the console spends the budget of the key they signed in with.
_CONSOLE_SESSION_AND_CHARGE = text(
    """
    WITH s AS MATERIALIZED (
        SELECT key_id, role, store_ids
        FROM solomo_console_session(:brand_id, :session_id, :secret_hash, :idle_seconds)
    ), budget AS MATERIALIZED (
        SELECT solomo_charge_budget(CAST(:brand_id AS uuid), 'key:' || s.key_id, :burst, :rate, false) AS b FROM s
    )
    SELECT s.key_id AS id, s.role, s.store_ids, (budget.b).charged AS charged, (budget.b).level AS level
    FROM s, budget
    """
)
#: Where the RateLimit headers for the answer are left in the scope's state (by ``authenticate_request``, or by a
#: hot route, solomo/hot/envelope.py); this middleware adds them to whatever is answered.
RATE_LIMIT_HEADERS = "solomo_rate_limit_headers"


class AuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        db_config: SQLAlchemyAsyncConfig,
        codec: MemberTokenCodec,
        key_budget: Budget,
        member_budget: Budget,
        console_idle_seconds: int,
        exclude: str | list[str] | None = None,
        exclude_from_auth_key: str = "exclude_from_auth",
        exclude_http_methods: list[Method] | None = None,
        scopes: Scopes | None = None,
    ) -> None:
        super().__init__(app, exclude, exclude_from_auth_key, exclude_http_methods, scopes)
        self.db_config = db_config
        self.codec = codec
        self.key_budget = key_budget
        self.member_budget = member_budget
        self.console_idle_seconds = console_idle_seconds
        self.key_routes = KeyRoutes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def answer(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = (scope.get("state") or {}).get(RATE_LIMIT_HEADERS)
                if extra:
                    headers = MutableScopeHeaders.from_message(message)
                    for name, value in extra.items():
                        headers.setdefault(name, value)
            await send(message)

        try:
            await super().__call__(scope, receive, answer)
        except Exception as exc:
            if started:  # the answer is on its way: nothing left to say
                raise
            request: Request[Any, Any, Any] = Request(scope, receive)
            response = handle_exception(request, exc)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        session = self.db_config.provide_session(connection.app.state, connection.scope)
        cookie = session_cookie(connection) if header is None else None
        if cookie is not None:
            return await self._console_session(connection, session, cookie)
        scheme, _, credential = (header or "").partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise NotAuthorizedException("Send an API key or member token as `Authorization: Bearer …`")
        if looks_like_api_key(credential):
            return await self._api_key(connection, session, credential)
        try:
            claims = self.codec.verify(credential)
        except InvalidMemberTokenError as exc:
            raise NotAuthorizedException(f"Member token refused: {exc}") from exc
        row = await _autocommitted(
            session,
            _MEMBER_VERSION_AND_CHARGE,
            {
                "member_id": claims.member_id,
                "brand_id": claims.brand_id,
                "version": claims.version,
                "subject": member_subject(claims.member_id),
            }
            | self.member_budget.params,
        )
        if row is None or row.token_version != claims.version:
            raise NotAuthorizedException("Member token refused: revoked")
        connection.scope["state"][RATE_LIMIT_HEADERS] = self.member_budget.admit(row.charged, row.level)
        principal = Principal(brand_id=claims.brand_id, role=Role.MEMBER, member_id=claims.member_id)
        return AuthenticationResult(user=principal, auth=credential)

    async def _api_key(
        self, connection: ASGIConnection[Any, Any, Any, Any], session: AsyncSession, credential: str
    ) -> AuthenticationResult:
        """A key: its brand remembered per process, or found in api_key_routes by a first statement (the first
        request of each key in a process), then the key read and charged on its brand's rows."""
        secret_hash = hash_secret(credential)
        route = self.key_routes.get(secret_hash)
        if route is None:
            route = await _autocommitted_route(session, secret_hash)
            if route is None:
                raise NotAuthorizedException("Unknown or revoked API key")
            self.key_routes.remember(secret_hash, route)
        row = await _autocommitted(
            session,
            _KEY_LOOKUP_AND_CHARGE,
            {"brand_id": route.brand_id, "key_id": route.key_id, "secret_hash": secret_hash} | self.key_budget.params,
        )
        if row is None:
            raise NotAuthorizedException("Unknown or revoked API key")
        return self._as_key(connection, row, credential)

    async def _console_session(
        self, connection: ASGIConnection[Any, Any, Any, Any], session: AsyncSession, cookie: SessionCookie
    ) -> AuthenticationResult:
        """A person signed in to the console (solomo/console/sessions.py): the key their session acts for, and for
        a request that may change something, the CSRF token and a same-site origin."""
        row = await _autocommitted(
            session,
            _CONSOLE_SESSION_AND_CHARGE,
            cookie.lookup_params(self.console_idle_seconds) | self.key_budget.params,
        )
        if row is None:
            raise NotAuthorizedException("The console session ended: sign in again")
        check_state_change(connection, cookie)
        # Not the cookie itself as the auth value: it holds the session's secret, and nothing should carry that on.
        return self._as_key(connection, row, f"console-session:{cookie.session_id}", brand_id=cookie.brand_id)

    def _as_key(
        self, connection: ASGIConnection[Any, Any, Any, Any], row: Any, auth: str, brand_id: uuid.UUID | None = None
    ) -> AuthenticationResult:
        connection.scope["state"][RATE_LIMIT_HEADERS] = self.key_budget.admit(row.charged, row.level)
        principal = Principal(
            brand_id=brand_id or row.brand_id,
            role=Role(row.role),
            key_id=row.id,
            store_ids=frozenset(row.store_ids or ()),
        )
        return AuthenticationResult(user=principal, auth=auth)


async def _autocommitted(session: AsyncSession, statement: TextClause, params: Mapping[str, Any]) -> Any:
    """One row of ``statement`` (or None), run in autocommit on the session's connection before its transaction
    has begun; the handler's work then begins the session's transaction as usual. Through SQLAlchemy, so a lost
    connection is detected and the pool invalidated as for any statement."""
    connection = await session.connection()
    adapted = (await connection.get_raw_connection()).dbapi_connection
    assert adapted is not None
    adapted.autocommit = True  # the asyncpg adapter then sends no BEGIN before the statement
    try:
        return (await connection.execute(statement, params)).first()
    finally:
        if adapted.autocommit:  # still the same live connection (an invalidated one is closed, not reused)
            adapted.autocommit = False


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = connection.user
    if not isinstance(user, Principal):  # pragma: no cover - the middleware always sets one
        raise NotAuthorizedException("not authenticated")
    return user


_KEY_ROUTE = text("SELECT brand_id, key_id FROM api_key_routes WHERE secret_hash = :secret_hash")


async def _autocommitted_route(session: AsyncSession, secret_hash: bytes) -> KeyRoute | None:
    row = await _autocommitted(session, _KEY_ROUTE, {"secret_hash": secret_hash})
    return None if row is None else KeyRoute(row.brand_id, row.key_id)
