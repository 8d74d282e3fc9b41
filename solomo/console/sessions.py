"""Console sign-in: a person pastes an API key once and the browser gets a session cookie instead.

The key never reaches the browser's storage: the server keeps a ``console_sessions`` row that acts for the key by
id (so revoking the key ends the session at once), and the browser an HttpOnly, SameSite=Strict cookie,
``<brand id>.<session id>.<secret>``, of which only the secret's SHA-256 is stored. The brand in the cookie keeps
the look-up on the brand's own rows (nothing unique across brands is needed to find it).

Requests the cookie authenticates may change state only with the CSRF token (``X-CSRF-Token``), an HMAC of the
session's secret that the console reads from the sign-in or session answer (never from a cookie), and only when
the browser does not say the request comes from another site (``Sec-Fetch-Site``, ``Origin``). SameSite=Strict
already keeps other sites' requests from carrying the cookie; the token and the origin check hold when that
does not (an old browser, a sibling subdomain).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import msgspec
from litestar.connection import ASGIConnection
from sqlalchemy import delete, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.key_routes import get_live_key_by_secret_hash
from solomo.auth.secrets import hash_secret, looks_like_api_key
from solomo.db.models import Brand, ConsoleSession
from solomo.errors import ApiError, forbidden
from solomo.schemas import Input

COOKIE: Final = "solomo_console"
CSRF_HEADER: Final = "x-csrf-token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_CONTEXT: Final = b"solomo console csrf"

#: The live session the cookie names, as the key it acts for (solomo/console/sql/console_session.sql).
SESSION_LOOKUP: Final = text(
    "SELECT key_id, role, store_ids, key_secret_hash, key_name, key_prefix, expires_at"
    " FROM solomo_console_session(:brand_id, :session_id, :secret_hash, :idle_seconds)"
)

KeyRole = Literal["admin", "manager", "marketer"]


@dataclass(frozen=True, slots=True)
class SessionCookie:
    brand_id: uuid.UUID
    session_id: uuid.UUID
    secret: str

    @classmethod
    def new(cls, brand_id: uuid.UUID) -> SessionCookie:
        return cls(brand_id, uuid.uuid4(), secrets.token_urlsafe(32))

    @classmethod
    def parse(cls, value: str | None) -> SessionCookie | None:
        """The cookie's parts, or None for anything that is not a cookie this app set."""
        if not value or len(value) > 200:
            return None
        brand, _, rest = value.partition(".")
        session, _, secret = rest.partition(".")
        if not secret:
            return None
        try:
            return cls(uuid.UUID(brand), uuid.UUID(session), secret)
        except ValueError:
            return None

    @property
    def value(self) -> str:
        return f"{self.brand_id}.{self.session_id}.{self.secret}"

    @property
    def secret_hash(self) -> bytes:
        return hash_secret(self.secret)

    @property
    def csrf_token(self) -> str:
        digest = hmac.new(self.secret.encode(), _CSRF_CONTEXT, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def lookup_params(self, idle_seconds: int) -> dict[str, Any]:
        return {
            "brand_id": self.brand_id,
            "session_id": self.session_id,
            "secret_hash": self.secret_hash,
            "idle_seconds": idle_seconds,
        }


def session_cookie(connection: ASGIConnection[Any, Any, Any, Any]) -> SessionCookie | None:
    return SessionCookie.parse(connection.cookies.get(COOKIE))


def check_same_site(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """403 for a request the browser says another site made (``Sec-Fetch-Site``, ``Origin``); other clients send
    neither header and pass."""
    if connection.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise forbidden("A console request must come from the console's own pages", code="csrf_failed")
    origin = connection.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != connection.headers.get("host", ""):
        raise forbidden("A console request must come from the console's own pages", code="csrf_failed")


def check_state_change(connection: ASGIConnection[Any, Any, Any, Any], cookie: SessionCookie) -> None:
    """A request the cookie authenticates that may change something: the CSRF token and a same-site origin, or 403."""
    if connection.scope.get("method", "GET") in SAFE_METHODS:
        return
    check_same_site(connection)
    sent = connection.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), cookie.csrf_token.encode()):
        raise forbidden("Send the session's CSRF token in X-CSRF-Token", code="csrf_failed")


class ConsoleSignIn(Input):
    api_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="A brand API key (sk_…).")]


class ConsoleSessionOut(msgspec.Struct):
    brand_id: uuid.UUID
    brand_name: str
    timezone: str
    role: KeyRole
    store_ids: list[uuid.UUID]
    key_id: uuid.UUID
    key_name: str
    key_prefix: str
    expires_at: datetime
    idle_minutes: int
    csrf_token: str


def invalid_key() -> ApiError:
    return ApiError(401, "invalid_api_key", "Unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})


def no_session() -> ApiError:
    return ApiError(401, "unauthorized", "Not signed in to the console, or the session ended")


@dataclass(frozen=True, slots=True)
class ConsoleSessions:
    """Signing in and out. ``hours`` is the session's longest life, ``idle_minutes`` how long it survives unused."""

    db: AsyncSession
    hours: int
    idle_minutes: int

    @property
    def idle_seconds(self) -> int:
        return self.idle_minutes * 60

    async def sign_in(self, api_key: str) -> tuple[SessionCookie, ConsoleSessionOut]:
        if not looks_like_api_key(api_key):
            raise invalid_key()
        key = await get_live_key_by_secret_hash(self.db, hash_secret(api_key))
        if key is None:
            raise invalid_key()
        cookie = SessionCookie.new(key.brand_id)
        # The brand's ended sessions go as a new one starts: no housekeeping job needed for them.
        await self.db.execute(
            delete(ConsoleSession).where(
                ConsoleSession.brand_id == key.brand_id,
                or_(ConsoleSession.expires_at < func.now(), ConsoleSession.idle_until < func.now()),
            )
        )
        await self.db.execute(
            insert(ConsoleSession).values(
                brand_id=key.brand_id,
                id=cookie.session_id,
                api_key_id=key.id,
                secret_hash=cookie.secret_hash,
                expires_at=func.now() + timedelta(hours=self.hours),
                idle_until=func.now() + timedelta(minutes=min(self.idle_minutes, self.hours * 60)),
            )
        )
        found = await self.current(cookie)
        assert found is not None  # made a moment ago in this transaction
        return cookie, found

    async def current(self, cookie: SessionCookie | None) -> ConsoleSessionOut | None:
        if cookie is None:
            return None
        row = (await self.db.execute(SESSION_LOOKUP, cookie.lookup_params(self.idle_seconds))).first()
        if row is None:
            return None
        brand = (await self.db.execute(select(Brand.name, Brand.timezone).where(Brand.id == cookie.brand_id))).one()
        return ConsoleSessionOut(
            brand_id=cookie.brand_id,
            brand_name=brand.name,
            timezone=brand.timezone,
            role=row.role,
            store_ids=sorted(row.store_ids or ()),
            key_id=row.key_id,
            key_name=row.key_name,
            key_prefix=row.key_prefix,
            expires_at=row.expires_at,
            idle_minutes=self.idle_minutes,
            csrf_token=cookie.csrf_token,
        )

    async def sign_out(self, cookie: SessionCookie) -> None:
        await self.db.execute(
            delete(ConsoleSession).where(
                ConsoleSession.brand_id == cookie.brand_id,
                ConsoleSession.id == cookie.session_id,
                ConsoleSession.secret_hash == cookie.secret_hash,
            )
        )
