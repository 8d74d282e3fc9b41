"""The console's routes: its page, its assets, and signing in and out (everything else it does goes through /v1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.console.assets import Asset, ConsoleAssets, accepts_gzip
from solomo.console.sessions import (
    COOKIE,
    ConsoleSessionOut,
    ConsoleSessions,
    ConsoleSignIn,
    check_same_site,
    check_state_change,
    no_session,
    session_cookie,
)
from solomo.errors import not_found
from solomo.openapi_contract import problems

_DB_FAULTS = ["database_unavailable", "database_busy", "database_timeout", "database_conflict", "commit_failed"]
_NOT_IN_SCHEMA: dict[str, Any] = {"exclude_from_auth": True}
#: Content-Security-Policy of the page: nothing from elsewhere; MapLibre builds its workers from blobs and
#: draws into WebGL; a deployment's own tiles (SOLOMO_CONSOLE_MAP_STYLE_URL) are the one outside source.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:{tiles}; "
    "connect-src 'self'{tiles}; worker-src 'self' blob:; child-src blob:; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """What the console's routes need from the settings, provided once (``console_config``)."""

    assets: ConsoleAssets
    session_hours: int
    idle_minutes: int
    secure_cookie: str  # "auto" | "always" | "never"
    map_style_url: str | None
    map_attribution: str

    def page(self) -> Asset:
        settings = {"mapStyleUrl": self.map_style_url, "mapAttribution": self.map_attribution}
        # Inside <script type="application/json">: no "<" may close the element early.
        return self.assets.page(msgspec.json.encode(settings).decode().replace("<", "\\u003c"))

    def csp(self) -> str:
        tiles = ""
        if self.map_style_url:
            # A style names its tile, sprite and glyph hosts itself: any https source, and the style's own origin.
            style = urlsplit(self.map_style_url)
            tiles = f" https: {style.scheme}://{style.netloc}"
        return _CSP.format(tiles=tiles)

    def sessions(self, db: AsyncSession) -> ConsoleSessions:
        return ConsoleSessions(db, self.session_hours, self.idle_minutes)

    def cookie(self, request: Request[Any, Any, Any], value: str, *, max_age: int) -> Cookie:
        secure = self.secure_cookie == "always" or (self.secure_cookie == "auto" and request.url.scheme == "https")
        return Cookie(
            key=COOKIE,
            value=value,
            path="/",
            max_age=max_age,
            httponly=True,
            secure=secure,
            samesite="strict",
        )


def _send(request: Request[Any, Any, Any], asset: Asset, cache_control: str, **headers: str) -> Response[bytes]:
    base = {"Cache-Control": cache_control, "ETag": asset.etag, "Vary": "Accept-Encoding", **headers}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=base, media_type=asset.media_type)
    if asset.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding", "")):
        return Response(asset.gzipped, headers=base | {"Content-Encoding": "gzip"}, media_type=asset.media_type)
    return Response(asset.body, headers=base, media_type=asset.media_type)


class ConsolePageController(Controller):
    path = "/console"
    include_in_schema = False
    opt = _NOT_IN_SCHEMA

    @get(["/", "/{rest:path}"], sync_to_thread=False)
    def page(self, request: Request[Any, Any, Any], console_config: NamedDependency[ConsoleConfig]) -> Response[bytes]:
        """The console's single page (its own router takes the rest of the path)."""
        return _send(
            request,
            console_config.page(),
            "no-cache",
            **{
                "Content-Security-Policy": console_config.csp(),
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
            },
        )


class ConsoleAssetController(Controller):
    path = "/console/assets"
    include_in_schema = False
    opt = _NOT_IN_SCHEMA

    @get("/{version:str}/{rest:path}", sync_to_thread=False)
    def asset(
        self,
        request: Request[Any, Any, Any],
        console_config: NamedDependency[ConsoleConfig],
        version: FromPath[str],
        rest: FromPath[str],
    ) -> Response[bytes]:
        asset = console_config.assets.get(version, rest.lstrip("/"))
        if asset is None:
            raise not_found("console asset")
        return _send(request, asset, "public, max-age=31536000, immutable", **{"X-Content-Type-Options": "nosniff"})


class ConsoleSessionController(Controller):
    path = "/console/session"
    tags = ["Console"]
    opt = {"exclude_from_auth": True}

    @post(
        summary="Sign in to the console with an API key (answers with an HttpOnly session cookie)",
        description=(
            "Exchanges a brand API key for a console session: the answer sets the `solomo_console` cookie "
            "(HttpOnly, SameSite=Strict, Secure over https) and carries the CSRF token the console sends as "
            "`X-CSRF-Token` on every request that changes something. The key itself is not kept in the browser."
        ),
        status_code=201,
        opt=problems({401: ["invalid_api_key"], 403: ["csrf_failed"], 503: _DB_FAULTS}, exclude_from_auth=True),
    )
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        console_config: NamedDependency[ConsoleConfig],
        data: JSONBody[ConsoleSignIn],
    ) -> Response[ConsoleSessionOut]:
        check_same_site(request)  # another site must not sign a browser in with a key of its choosing
        cookie, session = await console_config.sessions(db_session).sign_in(data.api_key)
        max_age = console_config.session_hours * 3600
        return Response(
            session, status_code=201, cookies=[console_config.cookie(request, cookie.value, max_age=max_age)]
        )

    @get(
        summary="The console session this browser is signed in with",
        opt=problems({401: ["unauthorized"], 503: _DB_FAULTS}, exclude_from_auth=True),
    )
    async def current_session(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        console_config: NamedDependency[ConsoleConfig],
    ) -> ConsoleSessionOut:
        found = await console_config.sessions(db_session).current(session_cookie(request))
        if found is None:
            raise no_session()
        return found

    @delete(
        summary="Sign out: the session ends on the server and the cookie is cleared",
        opt=problems({403: ["csrf_failed"], 503: _DB_FAULTS}, exclude_from_auth=True),
        # Clearing needs no Secure flag: a secure page may overwrite a Secure cookie with an expired one.
        response_cookies=[Cookie(key=COOKIE, value="", path="/", max_age=0, httponly=True, samesite="strict")],
    )
    async def sign_out(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        console_config: NamedDependency[ConsoleConfig],
    ) -> None:
        cookie = session_cookie(request)
        sessions = console_config.sessions(db_session)
        if cookie is not None and await sessions.current(cookie) is not None:
            check_state_change(request, cookie)
            await sessions.sign_out(cookie)
