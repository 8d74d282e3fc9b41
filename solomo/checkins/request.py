"""POST /v1/checkins: one statement, ``solomo_checkin_request`` (solomo/checkins/sql/checkin_request.sql), which
authenticates the member's token version, charges the budget, keeps the Idempotency-Key and records the check-in
(``solomo_record_check_in``, whose header states the rules: matching, flags, late fixes, fence state, grants).

Python checks only what needs no database: the token (the route's guard), the point and the time window. A point
sent in GCJ-02 or BD-09 (``crs``) is converted to WGS-84 here too, a few microseconds of arithmetic, so the statement
and everything it stores and matches stay WGS-84; a WGS-84 point (the default) costs one comparison.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from litestar import Request, Response
from litestar.status_codes import HTTP_201_CREATED, HTTP_403_FORBIDDEN, HTTP_404_NOT_FOUND, HTTP_429_TOO_MANY_REQUESTS

from solomo.checkins.schemas import AvailableOffer, CheckinIn, CheckinResult, FenceExit, FenceMatch, Flag
from solomo.checkins.service import check_recorded_at
from solomo.errors import ApiError, invalid_geometry
from solomo.geo.crs import WGS84_CRS, Crs, to_wgs84
from solomo.geo.errors import GeometryError
from solomo.geo.validate import check_position
from solomo.hot.callers import HotRoutes, member_of
from solomo.hot.envelope import REPLAYED, Envelope, idempotency_of, settle

_REQUEST = "SELECT solomo_checkin_request($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"


class _Answer(Envelope, kw_only=True):
    status: Literal[
        "recorded",
        "member_not_found",
        "consent_required",
        "rate_limited",
        "token_revoked",
        "budget_exhausted",
        "idempotency_key_in_use",
        "idempotency_key_reused",
        "replayed",
    ]
    retry_after: int = 0
    id: uuid.UUID | None = None
    recorded_at: datetime | None = None
    received_at: datetime | None = None
    flags: list[Flag] = []
    matches: list[FenceMatch] = []
    exits: list[FenceExit] = []
    offers: list[AvailableOffer] = []


_ANSWER = msgspec.json.Decoder(_Answer)


async def record_checkin(
    request: Request[Any, Any, Any], hot: HotRoutes, data: CheckinIn, idempotency_key: str | None, crs: Crs
) -> Response[CheckinResult]:
    claims = member_of(request)
    try:
        lon, lat = check_position(data.location.coordinates, "coordinates")
    except GeometryError as exc:
        raise invalid_geometry("location", exc) from exc
    check_recorded_at(data.recorded_at, datetime.now(UTC))
    # Another crs makes the same body another request, so it is part of what an Idempotency-Key is checked against.
    variant = ""
    if crs != WGS84_CRS:
        lon, lat = to_wgs84(crs, lon, lat)
        variant = crs
    key, fingerprint = await idempotency_of(request, idempotency_key, variant=variant)
    budget = hot.member_budget
    raw = await hot.pool.value(
        _REQUEST,
        claims.brand_id,
        claims.member_id,
        claims.version,
        budget.burst,
        budget.per_second,
        key,
        fingerprint,
        lon,
        lat,
        data.accuracy_m,
        data.recorded_at,
        data.mocked,
        data.source,
    )
    answer = _ANSWER.decode(raw)
    stored = settle(request, answer, budget)
    if stored is not None:
        return Response(_result(_ANSWER.decode(stored)), status_code=HTTP_201_CREATED, headers=REPLAYED)
    return Response(_result(answer), status_code=HTTP_201_CREATED)


def _result(answer: _Answer) -> CheckinResult:
    if answer.status == "consent_required":
        raise ApiError(HTTP_403_FORBIDDEN, "consent_required", "The member has not given location consent")
    if answer.status == "rate_limited":
        raise ApiError(
            HTTP_429_TOO_MANY_REQUESTS,
            "rate_limited",
            f"Too many check-ins: try again in {answer.retry_after} s",
            headers={"Retry-After": str(answer.retry_after)},
        )
    if answer.status != "recorded" or answer.id is None or answer.recorded_at is None or answer.received_at is None:
        raise ApiError(HTTP_404_NOT_FOUND, "member_not_found", "The member no longer exists")
    return CheckinResult(
        id=answer.id,
        recorded_at=answer.recorded_at,
        received_at=answer.received_at,
        flags=answer.flags,
        matches=answer.matches,
        exits=answer.exits,
        offers=answer.offers,
    )
