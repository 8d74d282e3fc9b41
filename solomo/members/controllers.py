from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from solomo.auth.guards import ADMIN, MEMBER, STAFF
from solomo.auth.member_tokens import MemberTokenCodec
from solomo.auth.middleware import principal_of
from solomo.members.schemas import MemberOut, MemberToken, MemberUpsert
from solomo.members.service import MemberService


class MemberController(Controller):
    path = "/v1/members"
    tags = ["Members"]

    @post(guards=[ADMIN], summary="Create a member, or update the one with this external id")
    async def upsert_member(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: JSONBody[MemberUpsert]
    ) -> Response[MemberOut]:
        member, created = await MemberService(db_session, principal_of(request).brand_id).upsert(data)
        return Response(member, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/me", guards=[MEMBER], summary="The member the token speaks for")
    async def get_me(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> MemberOut:
        principal = principal_of(request)
        assert principal.member_id is not None
        return await MemberService(db_session, principal.brand_id).get(principal.member_id)

    @get("/{member_id:uuid}", guards=[STAFF], summary="One member")
    async def get_member(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], member_id: FromPath[uuid.UUID]
    ) -> MemberOut:
        return await MemberService(db_session, principal_of(request).brand_id).get(member_id)

    @post("/{member_id:uuid}/tokens", guards=[ADMIN], summary="Mint a short-lived member token for the mobile app")
    async def mint_token(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[uuid.UUID],
        member_token_codec: NamedDependency[MemberTokenCodec],
    ) -> MemberToken:
        service = MemberService(db_session, principal_of(request).brand_id)
        return await service.mint_token(member_id, member_token_codec)
