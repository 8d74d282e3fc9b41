"""Member tokens: short-lived JWTs the brand back end mints for its mobile app.

HS256 is pinned (a token naming another algorithm, ``none`` included, is refused); ``kid`` picks the key
so keys can rotate; ``ver`` is compared with the member's token version in the database, so erasure and
merge revoke every token already issued.

A mobile app sends the same token with every request until it expires, so each process remembers the tokens it
has verified (the exact token text, up to ``VERIFIED_TOKENS`` of them): a token seen before costs a dictionary
look-up and the expiry check, not a signature and two JSON documents (PyJWT took about a third of a check-in's
app time). Nothing else about a token can change: its signature, issuer and audience are fixed by its text and
the configured keys, and revocation is the database's (the version).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "brand", "ver"]
#: Seconds of clock skew allowed on ``exp`` (and by PyJWT on the other times).
LEEWAY = 5
#: Verified tokens remembered per process (the oldest go first).
VERIFIED_TOKENS = 50_000


class InvalidMemberTokenError(Exception):
    """The token is not one of ours, is expired, or is malformed; the message says which, for the 401."""


@dataclass(frozen=True, slots=True)
class MemberClaims:
    brand_id: uuid.UUID
    member_id: uuid.UUID
    version: int


class MemberTokenCodec:
    def __init__(self, keys: dict[str, str], active_kid: str, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        if active_kid not in keys:
            msg = f"the active member-token key {active_kid!r} is not among the configured keys"
            raise ValueError(msg)
        self._keys = dict(keys)
        self._active_kid = active_kid
        self.issuer = issuer
        self.audience = audience
        self.ttl = timedelta(seconds=ttl_seconds)
        self._verified: dict[str, tuple[MemberClaims, float]] = {}

    def mint(
        self, brand_id: uuid.UUID, member_id: uuid.UUID, version: int, *, now: datetime | None = None
    ) -> tuple[str, datetime]:
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = issued + self.ttl
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(member_id),
            "brand": str(brand_id),
            "ver": version,
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_urlsafe(12),
        }
        token = jwt.encode(claims, self._keys[self._active_kid], algorithm=ALGORITHM, headers={"kid": self._active_kid})
        return token, expires

    def verify(self, token: str) -> MemberClaims:
        known = self._verified.get(token)
        if known is not None:
            if time.time() > known[1] + LEEWAY:
                raise InvalidMemberTokenError("token expired")
            return known[0]
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]
        return claims

    def _verify(self, token: str) -> MemberClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidMemberTokenError("malformed token") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str) or kid not in self._keys:
            raise InvalidMemberTokenError("token not signed by a known key")
        try:
            claims = jwt.decode(
                token,
                self._keys[kid],
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED},
                leeway=LEEWAY,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidMemberTokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidMemberTokenError("invalid token") from exc
        try:
            verified = MemberClaims(uuid.UUID(claims["brand"]), uuid.UUID(claims["sub"]), int(claims["ver"]))
            expires = float(claims["exp"])
        except (TypeError, ValueError) as exc:
            raise InvalidMemberTokenError("invalid token claims") from exc
        self._verified[token] = (verified, expires)
        return verified
