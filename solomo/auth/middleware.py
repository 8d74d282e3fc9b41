"""Authenticates every /v1 request: ``Authorization: Bearer sk_…`` (API key) or a member token (JWT).

The look-up runs on the request's own database session (the one handlers get), so authentication costs
one indexed query and no extra connection. A refusal is answered here, by the app's exception handler, so
the middleware outside (Prometheus) sees the real status rather than an exception.
"""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.connection import ASGIConnection, Request
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Message, Method, Receive, Scope, Scopes, Send
from sqlalchemy import text

from solomo.auth.member_tokens import InvalidMemberTokenError, MemberTokenCodec
from solomo.auth.principal import Principal, Role
from solomo.auth.secrets import hash_secret, looks_like_api_key
from solomo.errors import handle_exception

_KEY_LOOKUP = text(
    """
    SELECT id, brand_id, role, store_ids
    FROM api_keys
    WHERE secret_hash = :secret_hash AND revoked_at IS NULL
    """
)
_MEMBER_LOOKUP = text(
    """
    SELECT token_version
    FROM members
    WHERE id = :member_id AND brand_id = :brand_id AND merged_into_id IS NULL AND erased_at IS NULL
    """
)


class AuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        db_config: SQLAlchemyAsyncConfig,
        codec: MemberTokenCodec,
        exclude: str | list[str] | None = None,
        exclude_from_auth_key: str = "exclude_from_auth",
        exclude_http_methods: list[Method] | None = None,
        scopes: Scopes | None = None,
    ) -> None:
        super().__init__(app, exclude, exclude_from_auth_key, exclude_http_methods, scopes)
        self.db_config = db_config
        self.codec = codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await super().__call__(scope, receive, watch)
        except Exception as exc:
            if started:  # the answer is on its way: nothing left to say
                raise
            request: Request[Any, Any, Any] = Request(scope, receive)
            response = handle_exception(request, exc)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise NotAuthorizedException("Send an API key or member token as `Authorization: Bearer …`")
        session = self.db_config.provide_session(connection.app.state, connection.scope)
        if looks_like_api_key(credential):
            row = (await session.execute(_KEY_LOOKUP, {"secret_hash": hash_secret(credential)})).first()
            if row is None:
                raise NotAuthorizedException("Unknown or revoked API key")
            principal = Principal(
                brand_id=row.brand_id,
                role=Role(row.role),
                key_id=row.id,
                store_ids=frozenset(row.store_ids or ()),
            )
            return AuthenticationResult(user=principal, auth=credential)
        try:
            claims = self.codec.verify(credential)
        except InvalidMemberTokenError as exc:
            raise NotAuthorizedException(f"Member token refused: {exc}") from exc
        version = (
            await session.execute(_MEMBER_LOOKUP, {"member_id": claims.member_id, "brand_id": claims.brand_id})
        ).scalar_one_or_none()
        if version is None or version != claims.version:
            raise NotAuthorizedException("Member token refused: revoked")
        principal = Principal(brand_id=claims.brand_id, role=Role.MEMBER, member_id=claims.member_id)
        return AuthenticationResult(user=principal, auth=credential)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = connection.user
    if not isinstance(user, Principal):  # pragma: no cover - the middleware always sets one
        raise NotAuthorizedException("not authenticated")
    return user
