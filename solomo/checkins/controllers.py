from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import ADMIN, MEMBER
from solomo.auth.middleware import principal_of
from solomo.checkins.request import record_checkin
from solomo.checkins.schemas import CheckinIn, CheckinPage, CheckinResult
from solomo.checkins.service import CheckinService
from solomo.coordinates import CrsQuery, answer_in
from solomo.hot.callers import HOT_ROUTE, HotRoutes, member_token
from solomo.idempotency import IdempotencyKeyHeader
from solomo.members.service import MemberService
from solomo.openapi_contract import problems
from solomo.pagination import Cursor, Limit


class CheckinController(Controller):
    path = "/v1"
    tags = ["Check-ins"]

    @post(
        "/checkins",
        before_request=member_token,
        status_code=HTTP_201_CREATED,
        summary="Report the member's location: matched fences, events, offers and fraud flags",
        response_description="The check-in with what it matched and fired.",
        opt=HOT_ROUTE | problems({403: ["member_token_required", "consent_required"], 404: ["member_not_found"]}),
    )
    async def create_checkin(
        self,
        request: Request[Any, Any, Any],
        hot: NamedDependency[HotRoutes],
        data: JSONBody[CheckinIn],
        idempotency_key: IdempotencyKeyHeader = None,
        crs: CrsQuery = "wgs84",
    ) -> Response[CheckinResult]:
        return await record_checkin(request, hot, data, idempotency_key, crs)

    @get("/members/me/checkins", guards=[MEMBER], summary="The member's own check-ins, newest first")
    async def my_checkins(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        cursor: Cursor = None,
        crs: CrsQuery = "wgs84",
    ) -> CheckinPage:
        principal = principal_of(request)
        assert principal.member_id is not None
        page = await CheckinService(db_session, principal).page(principal.member_id, limit=limit, cursor=cursor)
        return answer_in(crs, page)

    @get("/members/{member_id:uuid}/checkins", guards=[ADMIN], summary="A member's check-ins, newest first")
    async def member_checkins(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[uuid.UUID],
        limit: Limit = 50,
        cursor: Cursor = None,
        crs: CrsQuery = "wgs84",
    ) -> CheckinPage:
        principal = principal_of(request)
        await MemberService(db_session, principal).get(member_id)  # 404 for unknown, merged or erased
        return answer_in(crs, await CheckinService(db_session, principal).page(member_id, limit=limit, cursor=cursor))
